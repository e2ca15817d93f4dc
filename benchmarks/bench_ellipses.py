"""Benchmark the ellipse lesson: the vectorised generator, and the default recipe.

Two measurements, taken in one process with a fixed number of CPU threads (one
by default), so each ratio compares against a baseline run on the same
machine at the same time:

a. images per second of :func:`~practicaltorch.data.ellipses.ellipse_tensors`
   (vectorised NumPy, chunks of 256) against two per-item baselines: the
   map-style ``Ellipses`` dataset read one item at a time (what a
   ``DataLoader`` does), and PIL ``ImageDraw.ellipse`` in a Python loop (how
   such images are often drawn);
b. the default recipe: training seconds and final validation ``mae_px``, for
   each seed asked for (0-4 by default), with the worst error and the median
   time against the targets (every seed under 1 px, a median of at most 45 s);
c. optionally (``--baseline-seeds``), the recipe's earlier, longer settings
   (stages of 32, 64 and 128 channels, 12 epochs) on the same seeds, in the
   same process.

Wall-clock and CPU (process) seconds are both reported for the recipe: on a
shared machine the CPU time is the steadier of the two.

Usage::

    python benchmarks/bench_ellipses.py --seeds 0 1 2 3 4 --json bench_ellipses.json
    python benchmarks/bench_ellipses.py --seeds 0 --baseline-seeds 0
    python benchmarks/bench_ellipses.py --no-train          # generator only, seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from practicaltorch.data.ellipses import Ellipses, draw_ellipses, ellipse_tensors
from practicaltorch.devices import configure_threads
from practicaltorch.recipes import ellipses as recipe


def timed(work: Callable[[], Any]) -> tuple[float, float, Any]:
    """Run ``work`` and return (wall seconds, CPU seconds, its result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def per_item_dataset(count: int, size: int) -> torch.Tensor:
    """Baseline 1: read ``count`` items one at a time from the Dataset and stack them."""
    data = Ellipses(count, size=size, seed=0)
    return torch.stack([data[i][0] for i in range(count)])


def per_item_pil(count: int, size: int) -> torch.Tensor:
    """Baseline 2: draw each image with PIL in a Python loop (same random parameters)."""
    _, targets = draw_ellipses(np.arange(count), size=size, seed=0)
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(count, 2, 3))
    images = []
    for k in range(count):
        row, col, r_row, r_col = (targets[k] * size).tolist()
        image = Image.new("RGB", (size, size), tuple(int(c) for c in colours[k, 0]))
        box = (col - r_col, row - r_row, col + r_col, row + r_row)
        ImageDraw.Draw(image).ellipse(box, fill=tuple(int(c) for c in colours[k, 1]))
        images.append(torch.from_numpy(np.array(image)).permute(2, 0, 1))
    return torch.stack(images)


def bench_generator(count: int, size: int, repeats: int) -> dict[str, Any]:
    """(a) Images per second: vectorised against per-item generation (best of ``repeats``)."""
    ellipse_tensors(256, size=size)  # warm-up
    rates: dict[str, float] = {}
    methods: dict[str, Callable[[], Any]] = {
        "vectorised": lambda: ellipse_tensors(count, size=size, seed=0),
        "per_item_dataset": lambda: per_item_dataset(count, size),
        "per_item_pil": lambda: per_item_pil(count, size),
    }
    for name, work in methods.items():
        best = min(timed(work)[0] for _ in range(repeats))
        rates[name] = count / best
    return {
        "images": count,
        "size": size,
        "images_per_second": rates,
        "ratio_vs_dataset": rates["vectorised"] / rates["per_item_dataset"],
        "ratio_vs_pil": rates["vectorised"] / rates["per_item_pil"],
    }


TARGET_SECONDS = 45.0
"""Training seconds the default recipe aims to stay within."""

EARLIER = {"channels": (32, 64, 128), "epochs": 12}
"""The recipe's earlier settings, the baseline of (c)."""


def bench_recipe(seed: int, **settings: Any) -> dict[str, Any]:
    """(b, c) Train the recipe on the CPU, with any settings changed; its time and final error."""
    config = replace(recipe.Config(), seed=seed, device="cpu", **settings)
    wall, cpu, report = timed(lambda: recipe.run(config, progress=False))
    return {
        "seed": seed,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "mae_px": report.metrics["mae_px"],
        "rmse_px": report.metrics["rmse_px"],
        "passed": report.passed,
        "epochs": report.epochs,
        "train_seconds": report.seconds,
        "run_wall_seconds": wall,
        "run_cpu_seconds": cpu,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--images", type=int, default=2048, help="images for the generator test")
    parser.add_argument("--size", type=int, default=128, help="image size for the generator test")
    parser.add_argument("--repeats", type=int, default=3, help="generator timings, best kept")
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4], help="recipe seeds to train"
    )
    parser.add_argument(
        "--baseline-seeds", type=int, nargs="*", default=[], help="seeds for the earlier settings"
    )
    parser.add_argument("--no-train", action="store_true", help="skip the recipe runs")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)

    threads = configure_threads(args.threads)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "threads": threads,
            "processor": platform.processor() or platform.machine(),
        },
        "generator": bench_generator(args.images, args.size, args.repeats),
        "recipe": [] if args.no_train else [bench_recipe(s) for s in args.seeds],
        "baseline": []
        if args.no_train
        else [bench_recipe(s, **EARLIER) for s in args.baseline_seeds],
    }

    gen = results["generator"]
    print(f"Ellipse generator, {gen['images']} images of {gen['size']}x{gen['size']}:")
    print(f"  {'method':<22}{'images/s':>12}  vectorised speed-up")
    fastest = gen["images_per_second"]["vectorised"]
    for name, rate in gen["images_per_second"].items():
        print(f"  {name:<22}{rate:>12,.0f}  {fastest / rate:>6.1f}x")
    for key, title in (("recipe", "Default recipe"), ("baseline", "Earlier settings")):
        if results[key]:
            print_runs(results[key], f"{title} (bar: {recipe.BAR.describe()}), {threads} thread(s)")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.json}")
    return results


def print_runs(runs: list[dict[str, Any]], title: str) -> None:
    """Print one line per seed, then the worst error and the median time against the targets."""
    print(f"\n{title}:")
    print(f"  {'seed':>4}{'mae_px':>9}{'rmse_px':>9}{'train s':>9}{'cpu s':>8}  bar")
    for run in runs:
        verdict = "PASS" if run["passed"] else "MISS"
        print(
            f"  {run['seed']:>4}{run['mae_px']:>9.3f}{run['rmse_px']:>9.3f}"
            f"{run['train_seconds']:>9.1f}{run['run_cpu_seconds']:>8.1f}  {verdict}"
        )
    worst = max(run["mae_px"] for run in runs)
    median = statistics.median(run["train_seconds"] for run in runs)
    cpu = statistics.median(run["run_cpu_seconds"] for run in runs)
    every = "every seed" if all(run["passed"] for run in runs) else "NOT every seed"
    print(
        f"  worst {worst:.3f} px ({every} passes); median {median:.1f} s of training "
        f"(target <= {TARGET_SECONDS:.0f} s), median run CPU {cpu:.1f} s"
    )


if __name__ == "__main__":
    main()
