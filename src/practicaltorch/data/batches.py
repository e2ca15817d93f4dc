"""Batches from tensors already in memory: the fast path beside ``DataLoader``.

A ``DataLoader`` over a map-style ``Dataset`` calls ``__getitem__`` once per
item and then stacks the items. For datasets that fit in memory this bookkeeping
dominates: slicing one big tensor with a shuffled index does the same work in a
single call. :class:`TensorBatches` does exactly that, and can be used wherever
the training loop accepts a ``DataLoader``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from practicaltorch.distributed import rank, world_size

__all__ = ["TensorBatches"]


class TensorBatches:
    """Iterate over ``(inputs, targets)`` batches of in-memory tensors.

    Each pass (epoch) draws a fresh permutation from the object's own
    generator, so a seeded ``TensorBatches`` gives the same sequence of batches
    every time the program runs, independent of any other random numbers drawn.

    Parameters
    ----------
    inputs, targets
        Tensors whose first dimension indexes the samples; same length.
    batch_size
        Samples per batch.
    shuffle
        Draw a new random order every epoch (training) or keep the stored order
        (validation and testing).
    drop_last
        Skip the final, smaller batch (useful with batch norm, which fails on a
        batch of one).
    seed
        Seed for the shuffling generator.
    device
        If given, the whole tensors are moved there once, so batches need no
        further copies.
    memory_format
        For 4-D image inputs, for example ``torch.channels_last``; applied to
        every batch.
    shard
        When running under ``torchrun`` (see :mod:`practicaltorch.distributed`),
        give each process every ``world_size``-th sample of each batch, so the
        processes together see each batch exactly once. Every process draws
        the same permutation, so the shards never overlap.

    Examples
    --------
    >>> x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    >>> [len(yb) for _, yb in TensorBatches(x, y, batch_size=4)]
    [4, 4, 2]
    """

    def __init__(
        self,
        inputs: Tensor,
        targets: Tensor,
        batch_size: int = 256,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        device: torch.device | str | None = None,
        memory_format: torch.memory_format | None = None,
        shard: bool = True,
    ) -> None:
        if len(inputs) != len(targets):
            raise ValueError(
                f"inputs and targets differ in length ({len(inputs)} vs {len(targets)}); "
                "they must describe the same samples"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if device is not None:
            inputs, targets = inputs.to(device), targets.to(device)
        self.inputs = inputs
        self.targets = targets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.memory_format = memory_format
        self.shard = shard
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        """Return the number of batches in one epoch."""
        n = len(self.inputs)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield the batches of one epoch."""
        n = len(self.inputs)
        part, parts = (rank(), world_size()) if self.shard else (0, 1)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.inputs.device)
        else:
            order = None
        for b in range(len(self)):
            start = b * self.batch_size
            stop = min(start + self.batch_size, n)
            if order is None:
                xb, yb = self.inputs[start:stop], self.targets[start:stop]
                if parts > 1:
                    xb, yb = xb[part::parts], yb[part::parts]
            else:
                index = order[start:stop][part::parts]
                xb, yb = self.inputs[index], self.targets[index]
            if self.memory_format is not None:
                xb = xb.contiguous(memory_format=self.memory_format)
            yield xb, yb

    @property
    def dataset_size(self) -> int:
        """Number of samples (the equivalent of ``len(loader.dataset)``)."""
        return len(self.inputs)

    def state_dict(self) -> dict[str, Any]:
        """Return the shuffling state, so a resumed run sees the same batches."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the shuffling state saved by :meth:`state_dict`."""
        self.generator.set_state(state["generator"])
