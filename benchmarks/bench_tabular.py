"""How fast can batches of the penguin table be served? Three ways, side by side.

1. the naive pattern: a ``Dataset`` that reads each row from a pandas table with
   ``.iloc`` and a ``DataLoader`` that stacks the items;
2. practicaltorch's ``Penguins`` dataset (tensors in memory) with a ``DataLoader``;
3. ``TensorBatches`` slicing the same tensors with a shuffled index.

Each way serves the same number of epochs of batch-32 shuffled batches (no model),
with one CPU thread; the figures are ratios against the naive pattern.

    python benchmarks/bench_tabular.py [--epochs 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from practicaltorch.data import TensorBatches
from practicaltorch.data.penguins import (
    SPECIES_FEATURES,
    Penguins,
    load_penguin_table,
    split_penguins,
)


class IlocPenguins(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The pattern to avoid: per-item pandas indexing in ``__getitem__``."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table.reset_index(drop=True)
        self.columns = [c for c in SPECIES_FEATURES if c != "sex"]
        self.species = {"Adelie": 0, "Chinstrap": 1, "Gentoo": 2}

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.table.iloc[index]
        values = [float(row[c]) for c in self.columns] + [float(row["sex"] == "male")]
        return torch.tensor(values), torch.tensor(self.species[row["species"]])


def seconds(make_batches: Callable[[], Iterable[object]], epochs: int) -> float:
    """Time ``epochs`` full passes over freshly made batches."""
    batches = make_batches()
    start = time.perf_counter()
    count = 0
    for _ in range(epochs):
        for _batch in batches:
            count += 1
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)

    train_table, _ = split_penguins(load_penguin_table())
    penguins = Penguins(train=True)
    x, y = penguins.tensors()
    ways = {
        "pandas .iloc Dataset + DataLoader": lambda: DataLoader(
            IlocPenguins(train_table), batch_size=32, shuffle=True
        ),
        "Penguins (tensors) + DataLoader": lambda: DataLoader(
            penguins, batch_size=32, shuffle=True
        ),
        "TensorBatches": lambda: TensorBatches(x, y, batch_size=32, shuffle=True),
    }
    results = {name: seconds(make, args.epochs) for name, make in ways.items()}
    baseline = results["pandas .iloc Dataset + DataLoader"]
    print(f"{args.epochs} epochs of {len(penguins)} birds, batch 32, 1 thread")
    print(f"{'way':<36} {'seconds':>8} {'speed-up':>9}")
    for name, value in results.items():
        print(f"{name:<36} {value:>8.4f} {baseline / value:>8.1f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"epochs": args.epochs, "seconds": results}, out, indent=2)


if __name__ == "__main__":
    main()
