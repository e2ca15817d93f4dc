"""Where does ``practicaltorch run all`` spend its time? Total and per recipe, in CPU seconds.

Two measurements, one after the other:

1. the command itself, ``practicaltorch run all`` in a child process, timed as
   ``/usr/bin/time`` would: the child's user + system CPU seconds, and its wall time;
2. the same suite in this process (``run_suite``, as the command calls it), split
   per recipe: CPU and wall seconds of each, the part spent in training epochs
   (the report's ``seconds``) and the rest (data, truth integration, figures, saving).

CPU seconds are the figure to compare on a shared, busy machine; wall seconds are
what a learner waits on a quiet one. Each recipe's bar is checked too.

    OMP_NUM_THREADS=1 python benchmarks/bench_run_all.py [--only NAME ...] [--skip-cli]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Timing:
    """CPU and wall seconds of one piece of the run."""

    name: str
    cpu: float
    wall: float
    training: float | None = None
    passed: bool | None = None


def time_command(names: list[str], out: Path) -> Timing:
    """Run ``practicaltorch run NAME|all`` in a child process; return its CPU and wall time."""
    target = "all" if names == [] else names[0]
    command = [sys.executable, "-m", "practicaltorch.cli", "run", target, "--out", str(out)]
    if len(names) > 1:
        raise SystemExit("--only with more than one name: use --skip-cli")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(f"practicaltorch run {target}", cpu, wall, passed="FAIL" not in result.stdout)


def time_in_process(names: list[str], out: Path) -> list[Timing]:
    """Run the suite in this process and time each recipe between its progress lines."""
    cpu, wall = time.process_time(), time.perf_counter()
    from practicaltorch.devices import configure_threads
    from practicaltorch.recipes import RECIPES
    from practicaltorch.recipes.suite import Options, run_suite

    threads = configure_threads(None)
    timings = [Timing("imports", time.process_time() - cpu, time.perf_counter() - wall)]
    marks: list[tuple[float, float]] = []

    def say(line: str) -> None:
        marks.append((time.process_time(), time.perf_counter()))

    suite = run_suite(names or list(RECIPES), Options(), out, threads=threads, say=say)
    for i, outcome in enumerate(suite.outcomes):
        (cpu0, wall0), (cpu1, wall1) = marks[2 * i], marks[2 * i + 1]
        report = outcome.report
        timings.append(
            Timing(
                outcome.name,
                cpu1 - cpu0,
                wall1 - wall0,
                None if report is None else report.seconds,
                outcome.passed,
            )
        )
    return timings


def show(timings: list[Timing]) -> None:
    """Print a table of the timings and their total."""
    print(f"{'':<26}{'CPU s':>8}{'wall s':>8}{'training s':>12}{'rest s':>8}  bar")
    for t in timings:
        training = "" if t.training is None else f"{t.training:12.1f}"
        rest = "" if t.training is None else f"{t.wall - t.training:8.1f}"
        bar = {None: "", True: "met", False: "NOT MET"}[t.passed]
        print(f"{t.name:<26}{t.cpu:8.1f}{t.wall:8.1f}{training:>12}{rest:>8}  {bar}")


def main() -> None:
    """Time the command, then the suite per recipe, and print both."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], help="recipes to run instead of all")
    parser.add_argument("--skip-cli", action="store_true", help="only the in-process breakdown")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    results: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_cli:
            command = time_command(args.only, Path(folder) / "cli")
            show([command])
            results["command"] = [vars(command)]
        per_recipe = time_in_process(args.only, Path(folder) / "suite")
    total = Timing(
        "total (in process)",
        sum(t.cpu for t in per_recipe),
        sum(t.wall for t in per_recipe),
        sum(t.training or 0.0 for t in per_recipe),
        all(t.passed for t in per_recipe if t.passed is not None),
    )
    show([*per_recipe, total])
    results["per_recipe"] = [vars(t) for t in [*per_recipe, total]]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
