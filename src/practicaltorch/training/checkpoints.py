"""Checkpoints: save and load them safely, and resume an interrupted run exactly.

:func:`save_checkpoint` writes atomically (a unique temporary file beside the
destination, flushed and synced, then renamed), so an interruption never leaves
a half-written file where a good one was. :func:`load_checkpoint` reads with
``weights_only=True``, so a file from elsewhere cannot run code.
The :class:`Checkpoint` callback writes ``last.pt`` after every epoch with
everything a resumed run needs to continue number for number: weights,
optimiser, scheduler, the shuffling state of the batches, callbacks' progress
(early stopping), the history, and every random-number generator.
"""

from __future__ import annotations

import os
import pickle
import random
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from practicaltorch.devices import _mps_available
from practicaltorch.distributed import barrier, is_main_process, unwrap
from practicaltorch.runs import save_atomic
from practicaltorch.training.callbacks import Callback, EarlyStopping, FitState

__all__ = [
    "Checkpoint",
    "load_checkpoint",
    "random_state",
    "resume_settings",
    "save_checkpoint",
    "set_random_state",
]

TRAINING_KEYS = frozenset(
    {"epoch", "model", "optimizer", "scheduler", "batches", "callbacks", "random", "history"}
)
"""What a ``last.pt`` written by :class:`Checkpoint` holds (besides ``metadata``)."""


def save_checkpoint(path: str | os.PathLike[str], **contents: Any) -> Path:
    """Write a checkpoint atomically, creating its folder if needed.

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

    Examples
    --------
    >>> import tempfile
    >>> from torch import nn
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = save_checkpoint(folder / "c.pt", model=nn.Linear(2, 1).state_dict(), epoch=3)
    >>> sorted(load_checkpoint(path))  # no temporary file is left beside it
    ['epoch', 'model']
    >>> [p.name for p in folder.iterdir()]
    ['c.pt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(contents, path)
    return path


def _unreadable(path: Path, error: Exception) -> ValueError:
    """Return the error for a file that is damaged or not a PyTorch file at all."""
    first = str(error).splitlines()[0] if str(error) else "no details"
    return ValueError(
        f"{path} is not a readable practicaltorch checkpoint ({type(error).__name__}: "
        f"{first}). It may be truncated, damaged, or not a PyTorch file at all."
    )


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
        If the file is empty, truncated, not a PyTorch file, holds Python
        objects other than tensors and plain values, or is not a dict.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the checkpoint file inside it, such as last.pt")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty: it was probably cut off while being written or copied")
    try:
        contents = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        lines = str(error).splitlines()
        found = next((line for line in lines if "Unsupported global" in line), "")
        found = found.split(" was not")[0].split("error: ")[-1].strip()
        if not found:  # not a pickle at all, or a damaged one
            raise _unreadable(path, error) from error
        raise ValueError(
            f"{path} holds Python objects other than tensors and plain values ({found}), "
            "so it is not loaded: unpickling them could run "
            "code. If you made it yourself, save state_dict()s and plain values instead."
        ) from error
    except Exception as error:  # torch raises several types for damaged files
        raise _unreadable(path, error) from error
    if not isinstance(contents, dict):
        raise ValueError(f"{path} holds a {type(contents).__name__}, not a checkpoint dict")
    return contents


def random_state() -> dict[str, Any]:
    """Return the state of every random-number generator a training run draws from.

    Returns
    -------
    dict
        PyTorch's CPU generator, every CUDA device's generator (when CUDA is
        available), the Apple-GPU generator (when MPS is available), NumPy's
        global generator and Python's :mod:`random`, as tensors and plain
        values (loadable with ``weights_only=True``).
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    assert not isinstance(keys, str)  # the legacy state is a tuple, its keys an array
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "mps": torch.mps.get_rng_state() if _mps_available() else None,
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": [version, list(internal), gauss_next],
    }


def set_random_state(state: Mapping[str, Any]) -> None:
    """Restore the generators saved by :func:`random_state`.

    Parameters
    ----------
    state
        As returned by :func:`random_state`. CUDA states are restored when
        CUDA is available; a CUDA state with no GPU to receive it gives a
        warning, since the resumed run then cannot repeat the original exactly.
    """
    torch.set_rng_state(state["torch"])
    cuda: list[Tensor] = list(state["cuda"])
    if cuda and torch.cuda.is_available():
        for device, generator in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(generator, device)
    elif cuda:
        warnings.warn(
            "this checkpoint holds CUDA random states but no GPU is available; the resumed "
            "run continues, but will not repeat the original exactly",
            stacklevel=2,
        )
    if state.get("mps") is not None and _mps_available():
        torch.mps.set_rng_state(state["mps"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _batches_state(batches: Iterable[Any]) -> dict[str, Any] | None:
    """Return the shuffling state of ``TensorBatches`` or of a ``DataLoader``'s generator."""
    if hasattr(batches, "state_dict"):
        state: dict[str, Any] = batches.state_dict()
        return state
    generator = getattr(batches, "generator", None)
    if isinstance(generator, torch.Generator):
        return {"generator": generator.get_state()}
    return None  # a DataLoader without its own generator shuffles from torch's global one


def _load_batches_state(batches: Iterable[Any], state: dict[str, Any] | None) -> None:
    """Restore what :func:`_batches_state` returned."""
    if state is None:
        return
    if hasattr(batches, "load_state_dict"):
        batches.load_state_dict(state)
    elif isinstance(generator := getattr(batches, "generator", None), torch.Generator):
        generator.set_state(state["generator"])


def training_state(state: FitState) -> dict[str, Any]:
    """Return everything a resumed run needs, as plain values and tensors."""
    return {
        "epoch": state.epoch,
        "model": unwrap(state.model).state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "batches": _batches_state(state.train_batches),
        "callbacks": {type(c).__name__: s for c in state.callbacks if (s := c.state_dict())},
        "random": random_state(),
        "history": state.history.to_list(),
    }


def restore_training(saved: Mapping[str, Any], state: FitState, path: Path) -> None:
    """Put a run back where :func:`training_state` left it."""
    missing = TRAINING_KEYS - set(saved)
    if missing:
        raise ValueError(
            f"{path} is not a training checkpoint (it lacks {', '.join(sorted(missing))}), "
            "so a run cannot resume from it"
        )
    if (saved["scheduler"] is None) != (state.scheduler is None):
        raise ValueError(f"{path} was written with a different scheduler setting than this run")
    try:
        unwrap(state.model).load_state_dict(saved["model"])
        state.optimizer.load_state_dict(saved["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise ValueError(
            f"{path} does not fit this model and optimiser ({str(error).splitlines()[0]}); "
            "resume with the same model and settings as the interrupted run"
        ) from error
    if state.scheduler is not None:
        state.scheduler.load_state_dict(saved["scheduler"])
    _load_batches_state(state.train_batches, saved["batches"])
    for callback in state.callbacks:
        if type(callback).__name__ in saved["callbacks"]:
            callback.load_state_dict(saved["callbacks"][type(callback).__name__])
    state.history.records[:] = [dict(record) for record in saved["history"]]
    set_random_state(saved["random"])


def resume_settings(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the settings a recipe run saved in ``run_dir/checkpoints/last.pt``.

    :func:`~practicaltorch.training.callbacks.standard_callbacks` saves the
    recipe's ``Config`` there, so ``practicaltorch run NAME --resume`` can
    continue with exactly the settings of the interrupted run.

    Parameters
    ----------
    run_dir
        An unfinished run folder.

    Returns
    -------
    dict
        The ``Config`` fields, as saved.

    Raises
    ------
    FileNotFoundError
        If the run was interrupted before its first epoch ended (no ``last.pt``).
    ValueError
        If ``last.pt`` is unreadable or holds no settings.
    """
    last = Path(run_dir) / "checkpoints" / "last.pt"
    if not last.is_file():
        raise FileNotFoundError(
            f"{run_dir} has no checkpoint to resume from: it was interrupted before its "
            "first epoch ended, or its recipe keeps none (the quick tabular ones). "
            "Start a new run instead (without --resume)"
        )
    settings = load_checkpoint(last).get("metadata", {}).get("config")
    if not isinstance(settings, dict) or not settings:
        raise ValueError(f"{last} does not record the run's settings, so it cannot be resumed")
    return settings


class Checkpoint(Callback):
    """Write ``last.pt`` after every epoch, and resume from it.

    ``best.pt`` (weights only) is also written whenever an
    :class:`~practicaltorch.training.EarlyStopping` of the same run sees an
    improvement. Under ``torchrun`` only the main process writes.

    Parameters
    ----------
    folder
        Where to write; created if needed.
    resume
        Continue from ``folder/last.pt`` if it exists (otherwise start afresh),
        so an interrupted run loses at most one epoch. Give ``fit`` the same
        settings as the interrupted run, including the total ``epochs``.
    metadata
        Plain values saved in every checkpoint (architecture, feature names,
        normalisation statistics): what is needed to rebuild the model later.
    """

    order = 90

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        resume: bool = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.resume = resume
        self.metadata = dict(metadata or {})

    @property
    def last(self) -> Path:
        """The path of the checkpoint written after every epoch."""
        return self.folder / "last.pt"

    def before_fit(self, state: FitState) -> None:
        """Load ``last.pt`` into the model, optimiser, batches, ... when resuming."""
        if not (self.resume and self.last.is_file()):
            return
        saved = load_checkpoint(self.last)
        if saved.get("metadata", {}) != self.metadata:
            raise ValueError(
                f"{self.last} belongs to a run with other settings ({saved.get('metadata')}); "
                "resume with the same settings, or train into a fresh folder"
            )
        restore_training(saved, state, self.last)

    def after_epoch(self, state: FitState) -> None:
        """Write ``last.pt`` (and ``best.pt`` after an improvement)."""
        if is_main_process():
            save_checkpoint(self.last, **training_state(state), metadata=self.metadata)
            stopper = next((c for c in state.callbacks if isinstance(c, EarlyStopping)), None)
            if stopper is not None and stopper.best_epoch == state.epoch:
                weights = unwrap(state.model).state_dict()
                save_checkpoint(
                    self.folder / "best.pt",
                    model=weights,
                    epoch=state.epoch,
                    metadata=self.metadata,
                )
        barrier()  # nobody reads a checkpoint before the main process has written it
