"""Start-up time of the command line and of ``import practicaltorch``, against ``python -c pass``.

Each command runs in a fresh interpreter several times; the median wall time is
reported, and its ratio to the median of ``python -c pass`` (the floor any Python
command pays). ``import torch`` is shown for scale: it is what the lazy package
avoids. Also checks, in the same fresh interpreters, that torch was not imported.

Run from the checkout::

    OMP_NUM_THREADS=1 python benchmarks/bench_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

PYTHON = sys.executable
NO_TORCH = "import sys; assert 'torch' not in sys.modules, 'torch was imported'"

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [PYTHON, "-c", "pass"],
    "import practicaltorch": [PYTHON, "-c", f"import practicaltorch; {NO_TORCH}"],
    "practicaltorch --help": [
        PYTHON,
        "-c",
        "import sys; from practicaltorch.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n" + NO_TORCH,
    ],
    "practicaltorch --version": [
        PYTHON,
        "-c",
        "import sys; from practicaltorch.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n" + NO_TORCH,
    ],
    "import torch (for scale)": [PYTHON, "-c", "import torch"],
}


def median_seconds(command: list[str], repeat: int) -> float:
    """Return the median wall time of running ``command`` ``repeat`` times."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per command (default 15)")
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file cache once
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    floor = median_seconds(COMMANDS["python -c pass"], args.repeat)
    print(f"{'command':<28} {'median':>9} {'ratio':>7}")
    for name, command in COMMANDS.items():
        seconds = floor if name == "python -c pass" else median_seconds(command, args.repeat)
        print(f"{name:<28} {seconds * 1000:7.0f} ms {seconds / floor:6.1f}x")


if __name__ == "__main__":
    main()
