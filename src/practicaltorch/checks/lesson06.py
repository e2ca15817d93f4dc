"""Self-checks for lesson 06: saving, loading, resuming and exporting a model.

The loading check hands the learner's function a file that only an unsafe
``torch.load`` opens, so it can tell whether the function would run code from a file.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.checks._core import Hint, call, check, model_output

CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "config", "metadata")
"""What the lesson's checkpoint holds."""

_opened: list[bool] = []


def _opened_by_pickle() -> str:
    """Record that a pickle was unpickled with arbitrary code allowed (stands in for malware)."""
    _opened.append(True)
    return "this ran because the file was loaded with weights_only=False"


class _Trap:
    """An object whose unpickling calls :func:`_opened_by_pickle`: harmless, but telling."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return _opened_by_pickle, ()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise Hint(
            "the file does not load with weights_only=True: it holds objects, not just tensors "
            "and plain values. Save model.state_dict() (not the model itself) and "
            f"optimizer.state_dict() ({_first_line(error)[:120]})"
        ) from None
    except Exception as error:  # a truncated or foreign file can raise many types
        raise Hint(f"torch.load could not read the file: {type(error).__name__}: {error}") from None


def _expect_states(contents: dict[str, Any], model: Any, epochs: int | None) -> None:
    weights = contents["model"]
    if not isinstance(weights, Mapping) or not all(isinstance(v, Tensor) for v in weights.values()):
        raise Hint("checkpoint['model'] should be model.state_dict(): names mapped to tensors")
    if isinstance(model, nn.Module):
        current = model.state_dict()
        if set(weights) != set(current) or any(
            not torch.equal(weights[k].cpu(), current[k].cpu()) for k in current
        ):
            raise Hint(
                "checkpoint['model'] is not the trained model's state_dict: save "
                "model.state_dict() after training"
            )
    optimizer = contents["optimizer"]
    if not isinstance(optimizer, Mapping) or not {"state", "param_groups"} <= set(optimizer):
        raise Hint("checkpoint['optimizer'] should be optimizer.state_dict()")
    if not optimizer["state"]:
        raise Hint(
            "checkpoint['optimizer'] has no running averages: save the state of the optimiser "
            "that trained the model, not of a new one"
        )
    if not isinstance(contents["scheduler"], Mapping):
        raise Hint("checkpoint['scheduler'] should be scheduler.state_dict()")
    if epochs is not None and contents["epoch"] != epochs:
        raise Hint(
            f"checkpoint['epoch'] is {contents['epoch']!r}: store how many epochs are done "
            f"({epochs}), so a resumed run knows where to continue"
        )
    if not isinstance(contents["config"], Mapping):
        raise Hint("checkpoint['config'] should be the dict that rebuilds the model (model.config)")


@check("checkpoint_path")
def checkpoint(path: Any, *, model: Any = None, epochs: int | None = None) -> str:
    """Check a checkpoint file: loads with ``weights_only=True``, holds the trained run's state."""
    if not isinstance(path, str | os.PathLike) or not Path(path).is_file():
        raise Hint(
            f"there is no file at {path}: save the dictionary with "
            "torch.save(checkpoint, checkpoint_path)"
        )
    contents = _load(Path(path))
    if isinstance(contents, nn.Module | Mapping) and not isinstance(contents, dict):
        raise Hint("the file holds a model, not a dictionary: save a dict of state_dicts")
    if not isinstance(contents, dict):
        raise Hint(f"the file holds a {type(contents).__name__}; save a dictionary")
    if contents and all(isinstance(v, Tensor) for v in contents.values()):
        raise Hint(
            "the file holds a bare state_dict: put it under 'model' in a dictionary together "
            "with the optimiser's and scheduler's state, the epoch, config and metadata"
        )
    missing = [key for key in CHECKPOINT_KEYS if key not in contents]
    if missing:
        why = (
            " (without the optimiser's state, resumed training restarts AdamW's running "
            "averages and behaves differently)"
        ) * ("optimizer" in missing)
        raise Hint(f"the checkpoint lacks {missing}{why}")
    _expect_states(contents, model, epochs)
    return (
        f"the checkpoint loads safely and holds {len(contents['model'])} weight tensors, the "
        f"optimiser's and scheduler's state, epoch {contents['epoch']}, config and metadata"
    )


def _expect_safe_loading(load: Any, original: nn.Module) -> None:
    """Raise a hint if ``load`` opens a file that only ``weights_only=False`` can read."""
    with tempfile.TemporaryDirectory() as folder:
        trap = Path(folder) / "from_a_stranger.pt"
        config = dict(getattr(original, "config", {}))
        torch.save({"model": original.state_dict(), "config": config, "extra": _Trap()}, trap)
        _opened.clear()
        with contextlib.suppress(Exception):  # refusing the file, in any way, is safe
            load(trap)
        if _opened:
            raise Hint(
                "`load_penguin_model` opened a file that only weights_only=False can read: "
                "such a file can run any code on your machine. Load with weights_only=True"
            )


@check("restored")
def restored(model: Any, original: nn.Module, inputs: Tensor, *, load: Any = None) -> str:
    """Check a reloaded model: on the CPU, in eval mode, as the original; and safe loading."""
    if isinstance(model, Mapping):
        raise Hint(
            "`restored` is a dictionary: build the model with MLP(**contents['config']) and "
            "pour the weights in with model.load_state_dict(contents['model'])"
        )
    if not isinstance(model, nn.Module):
        raise Hint(f"`restored` is a {type(model).__name__}, not a torch.nn.Module")
    if model.training:
        raise Hint(
            "`restored` is in training mode: call .eval() before predicting, or dropout keeps "
            "switching units off and every call gives a different answer"
        )
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise Hint("`restored` is not on the CPU, where the next cells use it: map_location='cpu'")
    want = model_output(original, "the trained model", inputs)
    got = model_output(model, "restored", inputs)
    if got.shape != want.shape:
        raise Hint(
            f"`restored` gives outputs of shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        )
    error = float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))
    if error > 1e-5:
        raise Hint(
            f"`restored` differs from the trained model (max relative error {error:.2g}): did "
            "you call load_state_dict(contents['model'])? A new MLP has random weights"
        )
    if load is not None:
        _expect_safe_loading(load, original)
    return f"`restored` is in eval mode and matches the trained model ({error:.1e})"


def _records(history: Any) -> list[dict[str, float]] | None:
    records = getattr(history, "records", history)
    if isinstance(records, list) and all(isinstance(r, Mapping) for r in records):
        return [dict(r) for r in records]
    return None


@check("resumed_history")
def resumed(history: Any, reference: Any, *, killed_after: int) -> str:
    """Check a resumed run continued the killed one and ended where an unbroken run did."""
    got, want = _records(history), _records(reference)
    if got is None or want is None:
        raise Hint(f"`resumed_history` should be what fit returned, got {type(history).__name__}")
    epochs = [int(r.get("epoch", 0)) for r in got]
    total = len(want)
    if epochs and epochs[-1] < total:
        raise Hint(
            f"the resumed run stopped at epoch {epochs[-1]}, not {total}: `epochs` is the total "
            "number of epochs, including those done before the interruption"
        )
    if epochs != list(range(1, total + 1)):
        raise Hint(f"the history has epochs {epochs[:3]}...{epochs[-2:]}; expected 1 to {total}")
    early = got[killed_after - 1]["train_loss"], want[killed_after - 1]["train_loss"]
    if abs(early[0] - early[1]) > 1e-6 * max(1.0, abs(early[1])):
        raise Hint(
            "the first epochs differ from the killed run's: this looks like a new run from "
            "scratch. Pass callbacks=[Checkpoint(run_dir, resume=True)]"
        )
    last, target = got[-1]["valid_loss"], want[-1]["valid_loss"]
    if abs(last - target) > 1e-4 * max(1.0, abs(target)):
        raise Hint(
            f"the resumed run ends with validation loss {last:.5g}, the uninterrupted one with "
            f"{target:.5g}: build the model, batches, optimiser and scheduler exactly as before "
            "(make_model and make_training) and pass the same scheduler to fit"
        )
    return (
        f"resumed after epoch {killed_after} and finished like the uninterrupted run "
        f"(validation loss {last:.5g})"
    )


@check("ts_check")
def verified(result: Any, fmt: str = "torchscript") -> str:
    """Check the outcome of :func:`practicaltorch.export.verify` for a ``fmt`` export."""
    from practicaltorch.export import ExportResult, VerifyResult

    if isinstance(result, ExportResult):
        raise Hint(
            "`ts_check` is the export's result: check it in a fresh process with "
            "verify(ts_export.out_dir)"
        )
    if not isinstance(result, VerifyResult):
        raise Hint(f"`ts_check` should be what verify(...) returns, got {type(result).__name__}")
    if result.format != fmt:
        raise Hint(f"that is a {result.format} export; this task wants {fmt} (the default)")
    if not result.passed:
        raise Hint(f"the reloaded file does not reproduce the model: {result.summary()}")
    return (
        f"{result.model_path.name} reloaded in a fresh process reproduces the example "
        f"(max relative error {result.max_rel_error:.1e})"
    )


@check("from_fortran")
def from_fortran(function: Any) -> str:
    """Check ``from_fortran(buffer, n_features, n_samples)``: Fortran bytes to a tensor."""
    n_features, n_samples = 4, 3
    want = torch.arange(n_samples * n_features, dtype=torch.float32).reshape(n_samples, -1)
    buffer = np.asfortranarray(want.numpy().T).tobytes(order="F")  # x(n_features, n_samples)
    try:
        got = call(function, "from_fortran", buffer, n_features, n_samples)
    except Hint as hint:
        if "reshape" in str(hint) and f"size {n_features * n_samples // 2}" in str(hint):
            raise Hint(
                f"{hint}. np.frombuffer reads float64 unless told otherwise: dtype=np.float32"
            ) from None
        raise
    if isinstance(got, np.ndarray):
        raise Hint("`from_fortran` returns a NumPy array: wrap it with torch.from_numpy(...)")
    if not isinstance(got, Tensor):
        raise Hint(f"`from_fortran` should return a tensor, got {type(got).__name__}")
    if tuple(got.shape) != (n_samples, n_features):
        raise Hint(
            f"`from_fortran` gave shape {tuple(got.shape)}, expected (n_samples, n_features) = "
            f"{(n_samples, n_features)}: one row per sample"
        )
    if got.dtype != torch.float32:
        raise Hint(f"`from_fortran` gave {got.dtype}: read the bytes as np.float32")
    if not torch.equal(got, want):
        raise Hint(
            "`from_fortran` has the right shape but the numbers are in the wrong places. The "
            "bytes of Fortran's x(features, samples) are those of a row-major "
            "(samples, features) array: reshape(n_samples, n_features) in NumPy's default order"
        )
    return "`from_fortran` puts each sample's features in its own row"


@check("errors")
def deployment(errors: Any, *, tolerance: float = 1e-5) -> str:
    """Check every reloaded or exported model reproduces the original's outputs to ``tolerance``."""
    if not isinstance(errors, Mapping) or not errors:
        raise Hint("`errors` should map each format to its max relative error")
    values = {str(k): float(v) for k, v in errors.items()}
    bad = {k: v for k, v in values.items() if not v <= tolerance}
    if bad:
        listed = ", ".join(f"{k} {v:.2g}" for k, v in bad.items())
        raise Hint(
            f"outputs differ from the original by more than {tolerance:g}: {listed}. Was the "
            "model in eval mode when it was exported and compared?"
        )
    listed = ", ".join(f"{k} {v:.1e}" for k, v in values.items())
    return f"every reloaded model matches the original to {tolerance:g}: {listed}"
