"""Choosing a device, seeding every random number generator, and CPU threads.

The device is always chosen explicitly and passed around as an argument: nothing
in practicaltorch hides a global device.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["available_devices", "configure_threads", "pick_device", "seed_everything"]


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """List the devices PyTorch can use on this machine.

    Returns
    -------
    list of str
        For example ``["cuda:0", "cuda:1", "cpu"]`` or ``["mps", "cpu"]``.
        ``"cpu"`` is always last.
    """
    found = (
        [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    if _mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """Choose the device to train on.

    Parameters
    ----------
    preferred
        ``None`` picks the best available: CUDA, then Apple MPS, then CPU.
        Otherwise a device such as ``"cuda"``, ``"cuda:1"``, ``"mps"`` or
        ``"cpu"``, which must be available.

    Returns
    -------
    torch.device
        The device to pass to ``model.to`` and to the training loop.

    Raises
    ------
    ValueError
        If ``preferred`` is not a device name PyTorch understands.
    RuntimeError
        If the requested device is not available here; the message lists the
        devices that are.

    Examples
    --------
    >>> pick_device("cpu")
    device(type='cpu')
    """
    if preferred is None or preferred == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")

    try:
        device = torch.device(preferred)
    except RuntimeError as error:
        raise ValueError(
            f"{preferred!r} is not a device name; use one of {available_devices()} "
            "(or 'auto' to pick the best)"
        ) from error

    available = available_devices()
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"CUDA was requested ({preferred!r}) but this PyTorch sees no CUDA GPU. "
                f"Available here: {available}. Check `nvidia-smi`, or install a CUDA "
                "build of PyTorch."
            )
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise RuntimeError(
                f"{preferred!r} was requested but only {torch.cuda.device_count()} CUDA "
                f"device(s) exist. Available here: {available}."
            )
        return device
    if device.type == "mps":
        if not _mps_available():
            raise RuntimeError(
                f"Apple MPS was requested but is not available. Available here: {available}. "
                "MPS needs an Apple-silicon Mac with macOS 12.3 or newer."
            )
        return device
    raise RuntimeError(
        f"practicaltorch does not support device type {device.type!r}. Available here: {available}."
    )


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and PyTorch (CPU, CUDA and MPS) random number generators.

    Parameters
    ----------
    seed
        Any integer; the same seed gives the same initial weights and shuffles.
    deterministic
        Also ask PyTorch for deterministic algorithms (slower on GPUs; warns
        where an operation has no deterministic implementation).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CPU, CUDA and MPS generators
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def configure_threads(threads: int | None = None) -> int:
    """Set the number of CPU threads PyTorch uses, deliberately.

    On small machines PyTorch's default (one thread per core) can be much slower
    than one thread: on a busy 2-core machine two threads were measured 4-10x
    slower than one, because the threads wait for each other whenever another
    process takes a core.

    Parameters
    ----------
    threads
        The number of threads. ``None`` chooses: one thread on machines with two
        or fewer cores, otherwise PyTorch's default is left unchanged.

    Returns
    -------
    int
        The number of threads now in use.
    """
    if threads is None:
        cores = os.cpu_count() or 1
        if cores <= 2:
            threads = 1
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()
