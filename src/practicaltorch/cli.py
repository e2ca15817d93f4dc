"""The ``practicaltorch`` command: run the reference models, check a machine, fetch data.

The CLI only parses arguments and calls recipes or tools; all the work happens
in the library, where it can be tested and reused.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _run(args: argparse.Namespace) -> int:
    from practicaltorch.devices import configure_threads, pick_device
    from practicaltorch.recipes import RECIPES, unknown_recipe
    from practicaltorch.recipes.suite import Options, run_suite

    if args.name != "all" and args.name not in RECIPES:
        raise ValueError(unknown_recipe(args.name))
    names = list(RECIPES) if args.name == "all" else [args.name]
    if args.resume and (args.name == "all" or args.quick or args.epochs or args.seed):
        raise ValueError(
            "--resume continues one recipe's unfinished run with that run's own settings: "
            "give the recipe's name and leave out --seed, --epochs and --quick"
        )
    pick_device(args.device)  # a bad --device is reported before anything runs
    cores = _cpu_count()
    if args.threads is not None and args.threads > cores:
        print(
            f"warning: --threads {args.threads} is more than this machine's {cores} CPU "
            f"core(s); that is usually slower. Try --threads {cores} or fewer.",
            file=sys.stderr,
        )
    threads = configure_threads(args.threads)
    out = Path(args.out).expanduser()
    print(
        f"practicaltorch run {args.name}: {len(names)} recipe(s), {threads} CPU thread(s), "
        f"results in {out}/",
        flush=True,
    )
    suite = run_suite(
        names,
        Options(
            seed=args.seed,
            epochs=args.epochs,
            device=args.device,
            quick=args.quick,
            resume=args.resume,
        ),
        out,
        threads=threads,
        say=lambda line: print(line, flush=True),
        log=print if args.verbose else None,
    )
    lines = suite.summary_lines() if len(names) > 1 else []
    lines += suite.advice_lines()
    if lines:
        print("\n" + "\n".join(lines), flush=True)
    if suite.failed or (args.strict and not suite.all_passed):
        return 1
    return 0


def _cpu_count() -> int:
    """Return the number of CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _folder(text: str) -> str:
    """Check a folder argument is not empty (an empty one would mean the working directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty name")
    return text


def _count(minimum: int, what: str) -> Callable[[str], int]:
    """Return an argparse type for whole numbers of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum} ({what}), got {value}")
        return value

    return parse


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
    from practicaltorch.runs import resolve_run_dir

    run_dir = resolve_run_dir(args.run_dir)  # a recipe folder means its newest finished run
    result = export_run(run_dir, args.format, args.out, log=print)
    if not args.no_verify and not verify(result.out_dir, log=print).passed:
        return 1
    if args.fortran is not None:
        from practicaltorch.export import write_fortran_program

        program = write_fortran_program(result.out_dir, args.fortran)
        print(f"Fortran program {program.source}; build and check it against FTorch with:")
        for command in program.build_commands():
            print(f"  {command}")
    return 0


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


def _command(
    commands: Any,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    summary: str,
    description: str,
) -> argparse.ArgumentParser:
    """Add the command ``name``, run by ``handler``, with its one-line and its long help."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=description
    )
    parser.set_defaults(handler=handler)
    return parser


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

    run = _command(
        commands,
        "run",
        _run,
        "train and evaluate reference models against their quality bars",
        "Train reference models and report each metric beside its quality bar.",
    )
    run.add_argument("name", metavar="NAME", help=f"which recipe: {', '.join(RECIPES)}, or 'all'")
    run.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)"
    )
    run.add_argument(
        "--seed",
        type=_count(0, "seeds are not negative"),
        default=0,
        help="random seed (default: 0)",
    )
    run.add_argument(
        "--epochs",
        type=_count(1, "passes over the training data"),
        default=None,
        help="override the number of epochs (at least 1)",
    )
    run.add_argument(
        "--out", type=_folder, default="runs", help="directory for results (default: runs)"
    )
    run.add_argument("--quick", action="store_true", help="a small seeded run for smoke tests")
    run.add_argument(
        "--threads",
        type=_count(1, "CPU threads"),
        default=None,
        help="CPU threads (default: 1 on machines with 2 cores or fewer)",
    )
    run.add_argument("--verbose", action="store_true", help="print one line per epoch")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the newest unfinished run of NAME from its last checkpoint, "
        "with that run's settings",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 if any model misses its quality bar",
    )

    _command(
        commands,
        "doctor",
        _doctor,
        "check this machine is ready for the course",
        "Report versions, devices and cached data; exit 1 with advice if anything is missing.",
    )

    fetch = _command(
        commands,
        "fetch",
        _fetch,
        "download MNIST (and pretrained weights) for offline use",
        "Download and verify MNIST into the data directory, and optionally "
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

    export = _command(
        commands,
        "export",
        _export,
        "export a trained run for C++, Fortran (FTorch) or ONNX runtimes",
        "Export the model of a `practicaltorch run` directory, with an example "
        "input and its expected output, then verify the file in a fresh process.",
    )
    export.add_argument(
        "run_dir",
        help="a run folder holding model.pt, e.g. runs/mnist/1, or a recipe folder such as "
        "runs/mnist (its newest finished run)",
    )
    export.add_argument(
        "--format", choices=["torchscript", "onnx"], default="torchscript", help="file format"
    )
    export.add_argument(
        "--out", default=None, help="output folder (default: RUN_DIR/export/FORMAT)"
    )
    export.add_argument("--no-verify", action="store_true", help="skip the fresh-process check")
    export.add_argument(
        "--fortran",
        metavar="DIR",
        default=None,
        help="also write a Fortran program and CMakeLists.txt to DIR that run the model "
        "through FTorch and check it against the example (TorchScript only)",
    )

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
        with _sigterm_as_interrupt():
            status: int = args.handler(args)
    except KeyboardInterrupt as interrupt:
        message = str(interrupt) or (
            "interrupted: finished runs are kept; an interrupted run's folder has no metrics.json"
        )
        print(f"\n{message}", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, OSError, ImportError) as error:
        print(f"practicaltorch {args.command}: {_explain(error)}", file=sys.stderr)
        return 2
    return status


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (``kill``, a batch system's time limit) like Ctrl-C while the block runs.

    Python would otherwise stop at once, skipping the clean-up that removes
    temporary files and reports what was kept.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _explain(error: Exception) -> str:
    """Return the message for an error that stopped a command."""
    from practicaltorch.runs import describe_os_error

    if isinstance(error, OSError) and error.errno is not None and error.filename:
        return describe_os_error(error)
    return str(error) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
