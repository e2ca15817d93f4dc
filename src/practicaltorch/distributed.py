"""Running the same training code on several processes with ``torchrun``.

Under ``torchrun --nproc-per-node N script.py`` every process runs the whole
script. :func:`init_from_env` joins them into one group;
:class:`~practicaltorch.data.TensorBatches` then gives each process its own
shard of every batch; :func:`wrap_model` averages gradients across processes;
and :func:`~practicaltorch.training.fit` reduces losses and metrics across
processes, calls :func:`set_epoch` for ``DistributedSampler``, and its callbacks
let only the main process print and write checkpoints (with a :func:`barrier`
after each write).

Run without ``torchrun``, every function here is a no-op, so one script serves
a laptop and a cluster alike.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from practicaltorch.devices import pick_device

__all__ = [
    "barrier",
    "cleanup",
    "init_from_env",
    "is_distributed",
    "is_main_process",
    "rank",
    "set_epoch",
    "unwrap",
    "world_size",
    "wrap_model",
]


def is_distributed() -> bool:
    """Return whether this process belongs to an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """Return this process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Return the number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Return whether this is the process that prints and writes files (rank 0)."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process gets here (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def init_from_env(device: str | None = None) -> torch.device:
    """Join the process group ``torchrun`` set up, and choose this process's device.

    Parameters
    ----------
    device
        As for :func:`~practicaltorch.devices.pick_device`. Under ``torchrun``
        with CUDA, each process takes the GPU of its ``LOCAL_RANK``.

    Returns
    -------
    torch.device
        The device this process should train on.

    Notes
    -----
    The backend is NCCL on CUDA and gloo on the CPU. Without ``torchrun``
    (no ``WORLD_SIZE`` in the environment, or a world of one) nothing is
    initialised and the best device is returned.
    """
    chosen = pick_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return chosen
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
        dist.init_process_group("nccl", device_id=chosen)
    else:
        dist.init_process_group("gloo")
    return chosen


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Wrap ``model`` in ``DistributedDataParallel`` when running distributed.

    Parameters
    ----------
    model
        The network, already on ``device``.
    device
        This process's device.

    Returns
    -------
    torch.nn.Module
        The wrapped model, or ``model`` itself when not distributed.
    """
    if not is_distributed():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """Return the network inside a ``DistributedDataParallel`` wrapper (or ``model``)."""
    inner = getattr(model, "module", None)
    if isinstance(model, nn.parallel.DistributedDataParallel) and isinstance(inner, nn.Module):
        return inner
    return model


def set_epoch(batches: object, epoch: int) -> None:
    """Tell a ``DataLoader``'s ``DistributedSampler`` which epoch starts, for a new shuffle.

    Without it every epoch would repeat the first epoch's order. Batches
    without such a sampler (``TensorBatches``, which shuffles with its own
    generator) are left alone.
    """
    sampler_set_epoch = getattr(getattr(batches, "sampler", None), "set_epoch", None)
    if callable(sampler_set_epoch):
        sampler_set_epoch(epoch)


def all_reduce_sum(*values: torch.Tensor) -> list[torch.Tensor]:
    """Sum tensors across processes (returns them unchanged when not distributed)."""
    if not is_distributed():
        return list(values)
    stacked = torch.stack([v.detach().double() for v in values])
    if dist.get_backend() == "nccl":
        stacked = stacked.cuda()
    dist.all_reduce(stacked)
    return [v.to(values[i].device) for i, v in enumerate(stacked)]


def cleanup() -> None:
    """Leave the process group at the end of a distributed run."""
    if is_distributed():
        dist.destroy_process_group()
