"""Train a small CNN on MNIST digits with ``fit``: on one process, or on several under torchrun.

The same file runs both ways::

    python train_ddp.py --out runs/one                                   # one process
    torchrun --standalone --nproc-per-node 2 train_ddp.py --out runs/two  # two processes

From Python (a notebook, for instance), ``main`` takes the arguments as a list::

    runpy.run_path("train_ddp.py")["main"](["--out", "runs/one"])        # one process

Under torchrun every process runs this whole script. Compared with a
single-process script, four lines are new or different, marked ``[DDP n]``:

1. ``init_from_env`` joins the processes into one group and picks each one's device;
2. ``wrap_model`` wraps the network in DistributedDataParallel, which averages
   the gradients of all processes after every backward pass;
3. ``TensorBatches`` gives each process its own shard of every batch (``fit``
   averages the losses over the processes);
4. only the main process (rank 0) prints and writes files (``fit``'s callbacks
   already do so).

The main process writes ``model.pt`` (loadable with ``practicaltorch.models.load_model``)
and ``result.json`` (world size, final validation loss and accuracy, timings) into ``--out``.
Every process imports torch, so the script imports nothing it does not need: its accuracy
is one line of torch rather than a metrics library.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from practicaltorch import TensorBatches, distributed, fit, seed_everything
from practicaltorch.data.mnist import load_mnist_tensors
from practicaltorch.models import DigitCNN
from practicaltorch.training import Checkpoint, PrintLog, save_checkpoint


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line (or ``argv``, if given)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=2048, help="training digits used")
    parser.add_argument("--valid-size", type=int, default=2048, help="validation digits used")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch size")
    parser.add_argument("--lr", type=float, default=1e-2, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda, ...; default: the best")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    parser.add_argument("--amp", action="store_true", help="bfloat16 mixed precision")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    return parser.parse_args(argv)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the fraction of ``images`` that ``model`` labels correctly."""
    model.eval()
    return float((model(images).argmax(dim=1) == labels).float().mean())


def main(argv: Sequence[str] | None = None) -> None:
    """Train, evaluate, and let the main process write the results."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)

    device = distributed.init_from_env(args.device)  # [DDP 1]
    rank, world = distributed.rank(), distributed.world_size()
    print(f"process {rank} of {world} (pid {os.getpid()}) computes on {device}", flush=True)

    # Every process reads the same data and draws the same seeded subset.
    images, labels = load_mnist_tensors(train=True)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))
    train_index = order[: args.train_size]
    valid_index = order[args.train_size : args.train_size + args.valid_size]

    seed_everything(args.seed)  # the same initial weights everywhere (DDP also broadcasts them)
    # channels_last, the faster memory layout for convolutions (lesson 08, section 4)
    layout = torch.channels_last
    network = DigitCNN(batch_norm=False).to(device, memory_format=layout)
    model = distributed.wrap_model(network, device)  # [DDP 2]

    # [DDP 3] each process takes every world-th sample of each global batch.
    train_batches = TensorBatches(
        images[train_index],
        labels[train_index],
        args.batch_size,
        shuffle=True,
        seed=args.seed,
        memory_format=layout,
    )
    valid_batches = TensorBatches(
        images[valid_index], labels[valid_index], 1024, memory_format=layout
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * len(train_batches)
    )
    history = fit(
        model,
        train_batches,
        valid_batches,
        nn.CrossEntropyLoss(),
        optimizer,
        epochs=args.epochs,
        device=device,
        scheduler=scheduler,
        # the callbacks print and write checkpoints on the main process only
        callbacks=[Checkpoint(args.out / "checkpoints", resume=args.resume), PrintLog()],
        amp=args.amp,
    )

    if distributed.is_main_process():  # [DDP 4]
        save_checkpoint(
            args.out / "model.pt",
            model=distributed.unwrap(model).state_dict(),
            architecture="DigitCNN",
            config=dict(network.config),
            metadata={"input_shape": [1, 28, 28], "world_size": world},
        )
        result = {
            "world_size": world,
            "device": str(device),
            "epochs": len(history),
            "seconds": history.last["seconds"],
            "valid_loss": history.last["valid_loss"],
            "valid_accuracy": accuracy(
                network,
                images[valid_index].to(device, memory_format=layout),
                labels[valid_index].to(device),
            ),
            "history": history.to_list(),
        }
        (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out / 'result.json'}", flush=True)
    distributed.cleanup()


if __name__ == "__main__":
    main()
