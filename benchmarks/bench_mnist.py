"""Benchmark the MNIST lesson: time to the bar, the data path, and channels_last.

Three measurements, taken side by side in one process with a fixed number of
CPU threads (one by default), so each ratio compares against a baseline run on
the same machine at the same time rather than making an absolute claim:

a. training time of the default recipe until it first reaches 99.0% test
   accuracy, and its final accuracy;
b. one epoch of batches (no model): torchvision ``MNIST`` + ``ToTensor`` +
   ``Normalize`` + ``DataLoader(batch_size=256)`` against ``TensorBatches`` over
   :func:`~practicaltorch.data.load_mnist_tensors`;
c. a fixed number of training steps of the default ``DigitCNN`` with
   contiguous (NCHW) against ``channels_last`` tensors.

Wall-clock and CPU (process) seconds are both reported: on a shared machine
the CPU time is the steadier of the two.

Usage::

    python benchmarks/bench_mnist.py --root ../shared/data --json bench_mnist.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from practicaltorch.data.batches import TensorBatches
from practicaltorch.data.mnist import MNIST, MNIST_MEAN, MNIST_STD, load_mnist_tensors
from practicaltorch.models.cnn import DigitCNN
from practicaltorch.recipes import mnist as recipe


def timed(work: Callable[[], Any]) -> tuple[float, float, Any]:
    """Run ``work`` and return (wall seconds, CPU seconds, its result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def bench_recipe(root: str | None, seed: int) -> dict[str, Any]:
    """(a) Train the default recipe; seconds until 99% test accuracy, and the final accuracy."""
    wall, cpu, report = timed(
        lambda: recipe.run(recipe.Config(seed=seed, root=root, device="cpu"), progress=False)
    )
    reached = [r for r in report.history if r["valid_accuracy"] >= recipe.BAR.threshold]
    return {
        "seed": seed,
        "final_accuracy": report.metrics["accuracy"],
        "epochs": report.epochs,
        "train_seconds": report.seconds,
        "seconds_to_bar": reached[0]["seconds"] if reached else None,
        "epoch_reaching_bar": int(reached[0]["epoch"]) if reached else None,
        "run_wall_seconds": wall,
        "run_cpu_seconds": cpu,
    }


def one_epoch(batches: Any) -> int:
    """Iterate over every batch once; return the number of samples seen."""
    seen = 0
    for images, _ in batches:
        seen += len(images)
    return seen


def bench_data_path(root: str | None, batch_size: int) -> dict[str, Any]:
    """(b) One epoch of batches from the DataLoader idiom against TensorBatches."""
    normalise = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    )
    generator = torch.Generator().manual_seed(0)
    loader: DataLoader[Any] = DataLoader(
        MNIST(root, train=True, transform=normalise),
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
    )
    loader_wall, loader_cpu, loader_seen = timed(lambda: one_epoch(loader))

    load_wall, _, (images, labels) = timed(lambda: load_mnist_tensors(root, train=True))
    batches = TensorBatches(images, labels, batch_size, shuffle=True, seed=0)
    fast_wall, fast_cpu, fast_seen = timed(lambda: one_epoch(batches))
    assert loader_seen == fast_seen == 60000
    return {
        "batch_size": batch_size,
        "dataloader_wall": loader_wall,
        "dataloader_cpu": loader_cpu,
        "tensorbatches_wall": fast_wall,
        "tensorbatches_cpu": fast_cpu,
        "load_tensors_wall": load_wall,
        "ratio_wall": loader_wall / fast_wall,
        "ratio_cpu": loader_cpu / max(fast_cpu, 1e-9),
    }


def train_steps(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int, batch_size: int
) -> None:
    """Run ``steps`` training steps over consecutive slices of the data."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(steps):
        start = (step * batch_size) % (len(images) - batch_size)
        xb, yb = images[start : start + batch_size], labels[start : start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        optimizer.step()


def bench_channels_last(
    root: str | None, steps: int, batch_size: int, rounds: int
) -> dict[str, Any]:
    """(c) Training steps of the default DigitCNN, contiguous against channels_last."""
    images, labels = load_mnist_tensors(root, train=True)
    formats = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    best: dict[str, tuple[float, float]] = {}
    config = recipe.model_config(recipe.Config())
    for _ in range(rounds):  # alternate the two, keep each one's fastest round
        for name, memory_format in formats.items():
            torch.manual_seed(0)
            model = DigitCNN(**config).to(memory_format=memory_format)
            data = images.contiguous(memory_format=memory_format)
            train_steps(model, data, labels, 3, batch_size)  # warm up
            wall, cpu, _ = timed(partial(train_steps, model, data, labels, steps, batch_size))
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    return {
        "steps": steps,
        "batch_size": batch_size,
        "model": config,
        "contiguous_wall": best["contiguous"][0],
        "contiguous_cpu": best["contiguous"][1],
        "channels_last_wall": best["channels_last"][0],
        "channels_last_cpu": best["channels_last"][1],
        "ratio_wall": best["contiguous"][0] / best["channels_last"][0],
        "ratio_cpu": best["contiguous"][1] / max(best["channels_last"][1], 1e-9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data directory holding MNIST/raw")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="recipe seeds")
    parser.add_argument("--steps", type=int, default=40, help="training steps for (c)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds for (c)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--only",
        choices=["recipe", "data", "channels_last"],
        nargs="+",
        default=None,
        help="run only some of the measurements",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    wanted = set(args.only or ["recipe", "data", "channels_last"])
    results: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
    }
    rows: list[tuple[str, str]] = []
    if "recipe" in wanted:
        results["recipe"] = [bench_recipe(args.root, seed) for seed in args.seeds]
        for r in results["recipe"]:
            to_bar = (
                "not reached" if r["seconds_to_bar"] is None else f"{r['seconds_to_bar']:.1f} s"
            )
            rows.append(
                (
                    f"(a) recipe seed {r['seed']}: seconds to 99.0% / final accuracy",
                    f"{to_bar} (epoch {r['epoch_reaching_bar']}) / "
                    f"{100 * r['final_accuracy']:.2f}%  [{r['epochs']} epochs "
                    f"{r['train_seconds']:.1f} s; run CPU {r['run_cpu_seconds']:.1f} s]",
                )
            )
    if "data" in wanted:
        d = results["data"] = bench_data_path(args.root, args.batch_size)
        rows.append(
            (
                "(b) one epoch: DataLoader vs TensorBatches",
                f"{d['dataloader_wall']:.2f} s vs {d['tensorbatches_wall']:.3f} s = "
                f"{d['ratio_wall']:.0f}x (CPU {d['ratio_cpu']:.0f}x)",
            )
        )
    if "channels_last" in wanted:
        c = results["channels_last"] = bench_channels_last(
            args.root, args.steps, args.batch_size, args.rounds
        )
        rows.append(
            (
                f"(c) {c['steps']} steps: contiguous vs channels_last",
                f"{c['contiguous_wall']:.2f} s vs {c['channels_last_wall']:.2f} s = "
                f"{c['ratio_wall']:.2f}x (CPU {c['ratio_cpu']:.2f}x)",
            )
        )

    width = max(len(name) for name, _ in rows)
    print(f"MNIST benchmark, {results['threads']} thread(s), torch {results['torch']}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
