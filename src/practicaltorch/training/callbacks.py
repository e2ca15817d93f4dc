"""Early stopping and checkpoints: the two things that keep long runs safe."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

__all__ = ["EarlyStopping", "load_checkpoint", "save_checkpoint"]


class EarlyStopping:
    """Stop training when a monitored value has stopped improving.

    Parameters
    ----------
    monitor
        Key in the per-epoch record to watch, for example ``"valid_loss"``.
    mode
        ``"min"`` if smaller is better (losses, errors), ``"max"`` if larger is
        better (accuracy).
    patience
        Epochs without improvement to allow before stopping.
    min_delta
        Smallest change that counts as an improvement.
    restore_best
        When training ends, put back the weights from the best epoch.

    Examples
    --------
    >>> stopper = EarlyStopping(patience=2)
    >>> [stopper.step(v) for v in (1.0, 0.5, 0.6, 0.7)]
    [False, False, False, True]
    """

    def __init__(
        self,
        monitor: str = "valid_loss",
        mode: Literal["min", "max"] = "min",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def improved(self, value: float) -> bool:
        """Return whether ``value`` beats the best seen by more than ``min_delta``."""
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float, model: nn.Module | None = None, epoch: int | None = None) -> bool:
        """Record one epoch's value and say whether to stop.

        Parameters
        ----------
        value
            The monitored value for this epoch.
        model
            If given, its weights are remembered whenever ``value`` improves.
        epoch
            The epoch number, for reporting; defaults to counting calls.

        Returns
        -------
        bool
            ``True`` when ``patience`` epochs have passed without improvement.
        """
        epoch = self.best_epoch + self.wait + 1 if epoch is None else epoch
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if model is not None and self.restore_best:
                self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.wait += 1
        return self.wait >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best weights seen into ``model`` (if they were kept)."""
        if self.restore_best and self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        """Return the progress so far, for checkpoints."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore progress saved by :meth:`state_dict`."""
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.best_state = state["best_state"]


def save_checkpoint(path: str | os.PathLike[str], **contents: Any) -> Path:
    """Write a checkpoint atomically.

    The file is written beside its destination and then renamed, so an
    interruption never leaves a half-written checkpoint where a good one was.

    Parameters
    ----------
    path
        Destination file, conventionally ending in ``.pt``.
    **contents
        What to save: state dicts (``model=model.state_dict()``), numbers,
        strings, lists and dicts of those. Keep to these plain types so the
        file loads with ``weights_only=True``.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(contents, partial)
    os.replace(partial, path)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, safely.

    Loading uses ``weights_only=True``: only tensors and plain Python values
    are unpickled, so a checkpoint from an untrusted source cannot run code.

    Parameters
    ----------
    path
        The checkpoint file.
    map_location
        Where to put the tensors; ``"cpu"`` works everywhere.

    Returns
    -------
    dict
        The saved contents.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        contents = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for bad files
        raise ValueError(
            f"{path} is not a readable practicaltorch checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no details'}). "
            "It may be truncated or from an untrusted source."
        ) from error
    if not isinstance(contents, dict):
        raise ValueError(f"{path} holds a {type(contents).__name__}, not a checkpoint dict")
    return contents
