"""Train a small classifier with ``fit``; run directly or under ``torchrun``.

Used by tests/test_distributed.py: the weights and history written by a
two-process run must match a single-process run.

    python tests/scripts/ddp_blobs.py OUT_DIR [--epochs 3] [--resume]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from practicaltorch import distributed
from practicaltorch.data import TensorBatches
from practicaltorch.models import MLP
from practicaltorch.training import Checkpoint, PrintLog, fit, multiclass_metrics


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--stop-after", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    device = distributed.init_from_env("cpu")
    g = torch.Generator().manual_seed(0)
    y = torch.arange(480) % 3
    centres = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    x = centres[y] + 0.8 * torch.randn(480, 2, generator=g)

    torch.manual_seed(1)
    model = distributed.wrap_model(MLP(2, 3, hidden=(16,)).to(device), device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train = TensorBatches(x[:400], y[:400], 32, shuffle=True, seed=2)
    valid = TensorBatches(x[400:], y[400:], 32)
    epochs = args.stop_after or args.epochs
    history = fit(
        model,
        train,
        valid,
        nn.CrossEntropyLoss(),
        optimizer,
        epochs=epochs,
        device=device,
        metrics=multiclass_metrics(3),
        callbacks=[Checkpoint(args.out / "checkpoints", resume=args.resume), PrintLog()],
    )
    if distributed.is_main_process():
        torch.save(distributed.unwrap(model).state_dict(), args.out / "weights.pt")
        (args.out / "history.json").write_text(json.dumps(history.to_list()))
        (args.out / "world.txt").write_text(str(distributed.world_size()))
    distributed.cleanup()


if __name__ == "__main__":
    main()
