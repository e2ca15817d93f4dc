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

``--cells N`` also prints, for each run, the N code cells that took the longest,
with the wall and the kernel's CPU seconds of each (under load, compare cells with
each other rather than with a wall-clock figure):

    python benchmarks/bench_notebooks.py --only 04 --repeat 1 --cells 8

``--against REF`` also runs each notebook as committed at the git revision REF,
alternating with the current one in the same rounds, so that a change is measured
side by side with its baseline under the same load:

    python benchmarks/bench_notebooks.py --only 04 --repeat 3 --against HEAD~1
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbclient
import nbformat
import psutil  # type: ignore[import-untyped]  # installed with ipykernel

REPO = Path(__file__).resolve().parents[1]
ORIGINAL = {"02": 55.0, "03": 10.0, "04": 1240.0}


def children_cpu() -> float:
    """CPU seconds used so far by this process's finished child processes (the kernels)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CellTime:
    """Wall and kernel CPU seconds of one executed code cell."""

    index: int
    wall: float
    cpu: float
    first_line: str


@dataclass
class Entry:
    """One notebook to time: its label, its file, and the folder it runs in."""

    label: str
    path: Path
    folder: Path


def client_for(entry: Entry) -> tuple[nbformat.NotebookNode, nbclient.NotebookClient]:
    """Read a notebook and make a client that executes it in its folder."""
    notebook = nbformat.read(entry.path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(entry.folder)}},
    )
    return notebook, client


def committed(path: Path, ref: str, into: Path) -> Entry:
    """Write the notebook as committed at git ``ref`` into ``into``; it runs in the same folder."""
    relative = path.relative_to(REPO).as_posix()
    result = subprocess.run(
        ["git", "show", f"{ref}:{relative}"], cwd=REPO, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"cannot read {relative} at {ref!r}: {result.stderr.strip()}")
    copy = into / f"{path.stem}@{ref.replace('/', '_')}.ipynb"
    copy.write_text(result.stdout)
    return Entry(f"{path.stem}@{ref}", copy, path.parent)


def run_once(entry: Entry) -> tuple[float, float]:
    """Execute one notebook in a fresh kernel; return its wall and kernel CPU seconds."""
    _, client = client_for(entry)
    start, cpu = time.perf_counter(), children_cpu()
    client.execute()  # starts, runs and shuts down (reaps) the kernel
    return time.perf_counter() - start, children_cpu() - cpu


def kernel_process(client: nbclient.NotebookClient) -> psutil.Process:
    """The process of the client's running kernel (started on this machine)."""
    pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
    if not isinstance(pid, int):
        raise SystemExit("--cells needs a kernel started on this machine")
    return psutil.Process(pid)


def cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds (user + system) used so far by a running process."""
    times = process.cpu_times()
    return float(times.user + times.system)


def run_by_cell(entry: Entry) -> tuple[float, float, list[CellTime]]:
    """Execute one notebook cell by cell; return its wall, kernel CPU and per-cell times.

    The two totals include the kernel's start-up, as in :func:`run_once`; the
    cells' times do not.
    """
    notebook, client = client_for(entry)
    cells: list[CellTime] = []
    start, cpu = time.perf_counter(), children_cpu()
    with client.setup_kernel():
        kernel = kernel_process(client)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            cell_start, cell_cpu = time.perf_counter(), cpu_seconds(kernel)
            client.execute_cell(cell, index)
            wall, used = time.perf_counter() - cell_start, cpu_seconds(kernel) - cell_cpu
            first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
            cells.append(CellTime(index, wall, used, first_line[:60]))
    return time.perf_counter() - start, children_cpu() - cpu, cells


def print_cells(cells: list[CellTime], top: int) -> None:
    """Print the `top` code cells with the most kernel CPU time, and their share of all."""
    total = sum(cell.cpu for cell in cells) or 1.0
    print(f"  {'cell':>4} {'wall':>7} {'CPU':>7} {'share':>6}  first line")
    for cell in sorted(cells, key=lambda c: c.cpu, reverse=True)[:top]:
        times = f"{cell.wall:>6.2f}s {cell.cpu:>6.2f}s {cell.cpu / total:>6.1%}"
        print(f"  {cell.index:>4} {times}  {cell.first_line}")


def run_rounds(
    entries: list[Entry], repeat: int, cells: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Run every entry ``repeat`` times, in alternating order; return wall and CPU seconds."""
    times: dict[str, list[float]] = {entry.label: [] for entry in entries}
    cpus: dict[str, list[float]] = {entry.label: [] for entry in entries}
    for round_ in range(repeat):
        for entry in entries if round_ % 2 == 0 else reversed(entries):
            if cells:
                wall, cpu, by_cell = run_by_cell(entry)
            else:
                wall, cpu = run_once(entry)
            times[entry.label].append(wall)
            cpus[entry.label].append(cpu)
            print(f"round {round_ + 1}: {entry.label} {wall:.1f} s (CPU {cpu:.1f} s)", flush=True)
            if cells:
                print_cells(by_cell, cells)
    return times, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="lesson numbers, e.g. 02 04")
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--cells", type=int, default=0, metavar="N", help="print the N slowest cells of each run"
    )
    parser.add_argument(
        "--against", metavar="REF", help="also run each notebook as committed at this git revision"
    )
    args = parser.parse_args()
    paths = sorted((REPO / "course" / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if p.name[:2] in args.only]
    with tempfile.TemporaryDirectory() as folder:
        entries = []
        for path in paths:
            entries.append(Entry(path.stem, path, path.parent))
            if args.against:
                entries.append(committed(path, args.against, Path(folder)))
        times, cpus = run_rounds(entries, args.repeat, args.cells)
    print(f"\n{'solution notebook':<36} {'median':>8} {'CPU':>8}  runs (s)  [original course]")
    for name, values in times.items():
        original = ORIGINAL.get(name[:2])
        note = f"  [{original:.0f} s]" if original else ""
        runs = ", ".join(f"{v:.1f}" for v in values)
        cpu = statistics.median(cpus[name])
        print(f"{name:<36} {statistics.median(values):>7.1f}s {cpu:>7.1f}s  {runs}{note}")
    for suffix in ["", f"@{args.against}"] if args.against else [""]:
        labels = [label for label in times if label == label.split("@")[0] + suffix]
        total = sum(statistics.median(times[label]) for label in labels)
        total_cpu = sum(statistics.median(cpus[label]) for label in labels)
        print(f"{'total (medians)' + suffix:<36} {total:>7.1f}s {total_cpu:>7.1f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"wall": times, "cpu": cpus}, indent=2))


if __name__ == "__main__":
    main()
