"""The ``practicaltorch`` command: run the reference models, check a machine, fetch data.

The CLI only parses arguments and calls recipes or tools; all the work happens
in the library, where it can be tested and reused.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _run(args: argparse.Namespace) -> int:
    from practicaltorch.devices import configure_threads
    from practicaltorch.recipes import RECIPES, get_recipe

    names = list(RECIPES) if args.name == "all" else [args.name]
    threads = configure_threads(args.threads)
    out_root = Path(args.out)
    reports = []
    started = time.perf_counter()
    print(
        f"practicaltorch run {args.name}: {len(names)} recipe(s), {threads} CPU thread(s), "
        f"results in {out_root}/",
        flush=True,
    )
    for name in names:
        module = get_recipe(name)
        overrides = {"seed": args.seed, "device": args.device, "quick": args.quick}
        if args.epochs is not None:
            overrides["epochs"] = args.epochs
        config = dataclasses.replace(module.Config(), **overrides)
        log = print if args.verbose else None
        print(f"-> {name} ...", flush=True)
        report = module.run(config, out_root / name, log=log)
        reports.append(report)
        print(report.summary(), flush=True)
    total = time.perf_counter() - started

    if len(reports) > 1:
        print("\nSummary against the quality bars:")
        for report in reports:
            print("  " + report.summary())
        passed = sum(r.passed for r in reports)
        print(f"{passed}/{len(reports)} reached their bar; {total:.0f} s in all.")
    summary = {
        "total_seconds": total,
        "threads": threads,
        "quick": args.quick,
        "reports": [r.to_json() for r in reports],
    }
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / "summary.json").write_text(json.dumps(summary, indent=2))
    if args.strict and not all(r.passed for r in reports):
        return 1
    return 0


def _doctor(args: argparse.Namespace) -> int:
    import torch

    from practicaltorch.devices import available_devices, configure_threads
    from practicaltorch.paths import DATA_ENV_VAR, data_dir

    problems: list[str] = []
    print(f"Python       {platform.python_version()} ({sys.executable})")
    for package in (
        "torch",
        "torchvision",
        "torchmetrics",
        "numpy",
        "pandas",
        "sklearn",
        "matplotlib",
        "palmerpenguins",
        "tqdm",
    ):
        try:
            module = importlib.import_module(package)
            print(f"{package:<12} {getattr(module, '__version__', 'installed')}")
        except Exception as error:  # a broken install can raise more than ImportError
            print(f"{package:<12} MISSING ({type(error).__name__}: {error})")
            problems.append(f"{package} does not import: reinstall with `pip install .`")
    print(f"devices      {', '.join(available_devices())}")
    print(
        f"CPU threads  {configure_threads(None)} of {torch.get_num_threads()} "
        f"(cores: {__import__('os').cpu_count()})"
    )
    root = data_dir()
    print(f"data dir     {root}  (set {DATA_ENV_VAR} to change)")
    try:
        from practicaltorch.data.mnist import verify_mnist

        verify_mnist(root)
        print("MNIST        cached and intact (checksums verified)")
    except Exception as error:
        print(f"MNIST        NOT READY: {error}")
        problems.append("MNIST is not cached: run `practicaltorch fetch` (needs internet)")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    cached = sorted(p.name for p in hub.glob("*.pth")) if hub.is_dir() else []
    print(f"weights      {', '.join(cached) if cached else 'none cached'} ({hub})")
    if problems:
        print("\nTo fix:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("\nAll good: this machine is ready for the course.")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from practicaltorch.data.errors import CorruptDataError, DataNotFoundError, DownloadError
    from practicaltorch.data.mnist import download_mnist
    from practicaltorch.paths import resolve_root

    root = resolve_root(args.root)
    try:
        if not args.skip_mnist:
            print(f"MNIST -> {root}", flush=True)
            where = download_mnist(root)
            print(f"MNIST ready in {where}")
        if args.weights:
            from practicaltorch.models.transfer import fetch_weights

            for arch in args.weights:
                print(f"pretrained {arch} ...", flush=True)
                print(f"{arch} weights ready in {fetch_weights(arch)}")
    except (DownloadError, DataNotFoundError, CorruptDataError, ValueError) as error:
        print(f"practicaltorch fetch: {error}", file=sys.stderr)
        return 1
    return 0


def _export(args: argparse.Namespace) -> int:
    import warnings

    from practicaltorch.export import TorchScriptDeprecationWarning, export_run, verify

    # export_run explains the deprecation in its log; no need to warn twice.
    warnings.filterwarnings("ignore", category=TorchScriptDeprecationWarning)
    result = export_run(Path(args.run_dir), args.format, args.out, log=print)
    if args.no_verify:
        return 0
    return 0 if verify(result.out_dir, log=print).passed else 1


AUTHORING_COMMANDS = ("notebooks", "site")
"""Commands run by the authoring tools of a checkout (``python -m authoring``)."""

_NO_CHECKOUT = (
    "`practicaltorch {command}` is an authoring tool for instructors: it runs from a checkout "
    "of the course repository, not from an installed package. Clone the repository, then "
    'run `pip install -e ".[dev,site]"` and `python -m authoring {command} ...` in it.'
)


def _checkout() -> Path | None:
    """Return the repository checkout holding the authoring tools, if there is one."""
    here = Path.cwd().resolve()
    installed = Path(__file__).resolve().parents[2]  # the checkout, for an editable install
    for folder in (here, *here.parents, installed):
        if (folder / "authoring" / "__main__.py").is_file() and (
            folder / "pyproject.toml"
        ).is_file():
            return folder
    return None


def _authoring(argv: Sequence[str]) -> int:
    """Forward ``notebooks`` and ``site`` to the checkout's ``python -m authoring``."""
    command = argv[0]
    checkout = _checkout()
    if checkout is None:
        print(_NO_CHECKOUT.format(command=command), file=sys.stderr)
        return 2
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        from authoring.cli import main as authoring_main

        return authoring_main(argv, prog="practicaltorch")
    except ModuleNotFoundError as error:
        print(
            f"practicaltorch {command}: the authoring tools need {error.name}: "
            f'run `pip install -e ".[dev,site]"` in {checkout}',
            file=sys.stderr,
        )
        return 2


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for documentation and tests)."""
    from practicaltorch import __version__
    from practicaltorch.recipes import RECIPES

    parser = argparse.ArgumentParser(
        prog="practicaltorch",
        description="Practical machine learning with PyTorch: course tools and reference models.",
    )
    parser.add_argument("--version", action="version", version=f"practicaltorch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="train and evaluate reference models against their quality bars",
        description="Train reference models and report each metric beside its quality bar.",
    )
    run.add_argument("name", choices=[*RECIPES, "all"], help="which recipe, or 'all'")
    run.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)"
    )
    run.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    run.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    run.add_argument("--out", default="runs", help="directory for results (default: runs)")
    run.add_argument("--quick", action="store_true", help="a small seeded run for smoke tests")
    run.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default: 1 on machines with 2 cores or fewer)",
    )
    run.add_argument("--verbose", action="store_true", help="print one line per epoch")
    run.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 if any model misses its quality bar",
    )
    run.set_defaults(handler=_run)

    doctor = commands.add_parser(
        "doctor",
        help="check this machine is ready for the course",
        description="Report versions, devices and cached data; "
        "exit 1 with advice if anything is missing.",
    )
    doctor.set_defaults(handler=_doctor)

    fetch = commands.add_parser(
        "fetch",
        help="download MNIST (and pretrained weights) for offline use",
        description="Download and verify MNIST into the data directory, and optionally "
        "the pretrained weights the transfer-learning lesson uses. MNIST comes from "
        "torchvision's mirrors, or from $PRACTICALTORCH_MNIST_MIRROR (a URL holding the four "
        ".gz files) if set; each network call gives up after "
        "$PRACTICALTORCH_DOWNLOAD_TIMEOUT seconds (default 60).",
    )
    fetch.add_argument(
        "--root",
        default=None,
        help="data directory (default: $PRACTICALTORCH_DATA or the user cache)",
    )
    fetch.add_argument(
        "--weights",
        nargs="*",
        default=[],
        metavar="ARCH",
        help="also fetch ImageNet weights for these torchvision models, e.g. resnet18",
    )
    fetch.add_argument("--skip-mnist", action="store_true", help="only fetch weights")
    fetch.set_defaults(handler=_fetch)

    export = commands.add_parser(
        "export",
        help="export a trained run for C++, Fortran (FTorch) or ONNX runtimes",
        description="Export the model of a `practicaltorch run` directory, with an example "
        "input and its expected output, then verify the file in a fresh process.",
    )
    export.add_argument("run_dir", help="a run directory holding model.pt, e.g. runs/mnist")
    export.add_argument(
        "--format", choices=["torchscript", "onnx"], default="torchscript", help="file format"
    )
    export.add_argument(
        "--out", default=None, help="output folder (default: RUN_DIR/export/FORMAT)"
    )
    export.add_argument("--no-verify", action="store_true", help="skip the fresh-process check")
    export.set_defaults(handler=_export)

    for command, what in (
        ("notebooks", "generate the lesson notebooks"),
        ("site", "build the website and slide decks"),
    ):
        commands.add_parser(
            command,
            help=f"{what} (authoring tool: from a checkout; see `practicaltorch {command} --help`)",
            add_help=False,
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in AUTHORING_COMMANDS:
        return _authoring(arguments)
    args = build_parser().parse_args(arguments)
    try:
        status: int = args.handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, FileNotFoundError, ImportError) as error:
        print(f"practicaltorch {args.command}: {error}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
