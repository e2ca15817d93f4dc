"""Wall time of every worked-solution notebook, executed end to end in a fresh kernel.

Each solution is run ``--repeat`` times (alternating notebooks between rounds so a
burst of load on a shared machine does not hit one notebook only) and the median
is reported, with the CPU seconds the kernel used (user + system, read from
the finished kernel process): on a shared machine the wall time includes
waiting for a core, the CPU time does not. The original course's notebooks, on
a machine like CI's, took about 55 s (penguin classification), 10 s (penguin
regression) and 1240 s (MNIST: five epochs of about 250 s); those figures are
printed beside ours for comparison.

    PRACTICALTORCH_DATA=../shared/data python benchmarks/bench_notebooks.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import nbclient
import nbformat

REPO = Path(__file__).resolve().parents[1]
ORIGINAL = {"02": 55.0, "03": 10.0, "04": 1240.0}


def children_cpu() -> float:
    """CPU seconds used so far by this process's finished child processes (the kernels)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(path: Path) -> tuple[float, float]:
    """Execute one notebook in a fresh kernel; return its wall and kernel CPU seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start, cpu = time.perf_counter(), children_cpu()
    client.execute()  # starts, runs and shuts down (reaps) the kernel
    return time.perf_counter() - start, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="lesson numbers, e.g. 02 04")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    paths = sorted((REPO / "course" / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if p.name[:2] in args.only]
    times: dict[str, list[float]] = {p.stem: [] for p in paths}
    cpus: dict[str, list[float]] = {p.stem: [] for p in paths}
    for round_ in range(args.repeat):
        for path in paths if round_ % 2 == 0 else reversed(paths):
            wall, cpu = run_once(path)
            times[path.stem].append(wall)
            cpus[path.stem].append(cpu)
            print(f"round {round_ + 1}: {path.stem} {wall:.1f} s (CPU {cpu:.1f} s)", flush=True)
    print(f"\n{'solution notebook':<28} {'median':>8} {'CPU':>8}  runs (s)  [original course]")
    for name, values in times.items():
        original = ORIGINAL.get(name[:2])
        note = f"  [{original:.0f} s]" if original else ""
        runs = ", ".join(f"{v:.1f}" for v in values)
        cpu = statistics.median(cpus[name])
        print(f"{name:<28} {statistics.median(values):>7.1f}s {cpu:>7.1f}s  {runs}{note}")
    total = sum(statistics.median(v) for v in times.values())
    total_cpu = sum(statistics.median(v) for v in cpus.values())
    print(f"{'total (medians)':<28} {total:>7.1f}s {total_cpu:>7.1f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"wall": times, "cpu": cpus}, indent=2))


if __name__ == "__main__":
    main()
