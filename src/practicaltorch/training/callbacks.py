"""Callbacks: small objects that ``fit`` calls before, after each epoch, and after training.

A callback adds one behaviour to the loop without making the loop longer:
stopping early, showing a progress bar, printing a line per epoch, writing
checkpoints (:class:`~practicaltorch.training.checkpoints.Checkpoint`). Write
your own by subclassing :class:`Callback` and overriding the hooks you need;
each hook receives the :class:`FitState`, which it may read and change.
"""

from __future__ import annotations

import copy
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from practicaltorch.distributed import is_main_process, unwrap
from practicaltorch.runs import is_finished
from practicaltorch.training.history import History

__all__ = [
    "Callback",
    "EarlyStopping",
    "FitState",
    "PrintLog",
    "ProgressBar",
    "describe",
    "standard_callbacks",
]

Scheduler = torch.optim.lr_scheduler.LRScheduler


@dataclass
class FitState:
    """What ``fit`` is working with, as its callbacks see it.

    Attributes
    ----------
    model, optimizer, scheduler, train_batches
        As passed to :func:`~practicaltorch.training.fit`.
    epochs
        The total number of epochs asked for.
    callbacks
        Every callback of this run, sorted into the order they are called
        (by :attr:`Callback.order`).
    history
        The records so far; ``len(history)`` is the number of finished epochs.
    stop
        Set to ``True`` by a callback to end training after this epoch.
    stop_reason
        Why training stopped early, for the logs.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler | None
    train_batches: Iterable[tuple[Tensor, Tensor]]
    epochs: int
    callbacks: Sequence[Callback]
    history: History = field(default_factory=History)
    stop: bool = False
    stop_reason: str = ""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if isinstance(self.callbacks, Callback):
            raise TypeError("callbacks takes a list, for example callbacks=[EarlyStopping()]")
        wrong = [c for c in self.callbacks if not isinstance(c, Callback)]
        if wrong:
            raise TypeError(
                f"callbacks must be Callback objects such as EarlyStopping() or "
                f"Checkpoint(folder), got {wrong[0]!r}; for your own, subclass "
                "practicaltorch.training.Callback"
            )
        self.callbacks = sorted(self.callbacks, key=lambda callback: callback.order)

    @property
    def epoch(self) -> int:
        """The number of the last finished epoch (0 before the first)."""
        return len(self.history)


class Callback:
    """Base class of the callbacks: every hook does nothing until overridden.

    Attributes
    ----------
    order
        ``fit`` calls callbacks in increasing ``order``: early stopping (10)
        decides first, then the rest (50: progress bar, logs, and your own
        callbacks by default), and the checkpoint (90) is written last, so it
        holds the state after everything else this epoch did.
    """

    order: int = 50

    def before_fit(self, state: FitState) -> None:
        """Run once before the first epoch."""

    def after_epoch(self, state: FitState) -> None:
        """Run after each epoch, once its record is in ``state.history``."""

    def after_fit(self, state: FitState) -> None:
        """Run once when training ends (also after an early stop)."""

    def state_dict(self) -> dict[str, Any]:
        """Return what must be saved for a resumed run to continue (nothing by default)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def describe(record: Mapping[str, float]) -> str:
    """Format an epoch record as ``train_loss=0.2103  valid_loss=0.25 ...`` (no epoch, no lr)."""
    return "  ".join(f"{k}={v:.4g}" for k, v in record.items() if k not in ("epoch", "lr"))


class EarlyStopping(Callback):
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

    order = 10

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
        self.best_state: dict[str, Tensor] | None = None

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

    def after_epoch(self, state: FitState) -> None:
        """Watch this epoch's value; ask ``fit`` to stop when patience runs out."""
        record = state.history.last
        if self.monitor not in record:
            raise KeyError(
                f"early stopping watches {self.monitor!r}, but the epoch record has only "
                f"{sorted(record)}"
            )
        if self.step(record[self.monitor], unwrap(state.model), state.epoch):
            state.stop = True
            state.stop_reason = (
                f"early stopping: no improvement in {self.monitor} for {self.patience} "
                f"epochs; best was epoch {self.best_epoch}"
            )

    def after_fit(self, state: FitState) -> None:
        """Put back the best weights."""
        self.restore(unwrap(state.model))

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


class ProgressBar(Callback):
    """A progress bar over the epochs, showing the latest losses and metrics.

    Parameters
    ----------
    show
        ``True``, ``False``, or ``None`` to show it only when the output is a
        terminal. Under ``torchrun`` only the main process shows it.
    """

    def __init__(self, show: bool | None = None) -> None:
        self.show = show
        self.bar: Any = None

    def before_fit(self, state: FitState) -> None:
        """Open the bar, starting after any epochs a resumed run already has."""
        wanted = sys.stderr.isatty() if self.show is None else self.show
        disable = not (wanted and is_main_process())
        self.bar = tqdm(total=state.epochs, initial=state.epoch, unit="epoch", disable=disable)
        self.bar.set_description("training")

    def after_epoch(self, state: FitState) -> None:
        """Advance the bar and show this epoch's numbers."""
        self.bar.set_postfix_str(describe(state.history.last), refresh=False)
        self.bar.update(1)

    def after_fit(self, state: FitState) -> None:
        """Close the bar."""
        self.bar.close()


class PrintLog(Callback):
    """Print one line per epoch (on the main process only).

    Parameters
    ----------
    log
        Called with each line; ``print`` by default.
    """

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.log = log

    def after_epoch(self, state: FitState) -> None:
        """Print ``epoch 3/10  train_loss=...`` and why training stops, if it does."""
        if not is_main_process():
            return
        self.log(f"epoch {state.epoch}/{state.epochs}  {describe(state.history.last)}")
        if state.stop_reason:
            self.log(state.stop_reason)


def standard_callbacks(
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    config: object = None,
) -> list[Callback]:
    """Return what the recipes pass to ``fit``: a progress bar, and optionally logs and checkpoints.

    Parameters
    ----------
    progress
        As ``show`` of :class:`ProgressBar`.
    log
        Called with one line per epoch, for example ``print``; ``None`` for no lines.
    run_dir
        If given, a :class:`~practicaltorch.training.checkpoints.Checkpoint`
        in ``run_dir/checkpoints``. A fresh run folder starts a fresh run; an
        unfinished one (no ``metrics.json``) holding ``checkpoints/last.pt``
        continues the interrupted run, which must have the same ``config``
        (``practicaltorch run NAME --resume``).
    config
        The recipe's settings (a dataclass), saved in every checkpoint as
        ``metadata["config"]`` so that a resumed run can use the same ones.

    Returns
    -------
    list of Callback
        The callbacks.
    """
    from practicaltorch.training.checkpoints import Checkpoint  # it builds on this module

    callbacks: list[Callback] = [ProgressBar(progress)]
    if log is not None:
        callbacks.append(PrintLog(log))
    if run_dir is not None:
        settings = asdict(config) if is_dataclass(config) and not isinstance(config, type) else {}
        folder = Path(run_dir) / "checkpoints"
        resume = not is_finished(run_dir)
        callbacks.append(Checkpoint(folder, resume=resume, metadata={"config": settings}))
    return callbacks
