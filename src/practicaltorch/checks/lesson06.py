"""Self-checks for lesson 06: saving, loading (safely), resuming and exporting a model."""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.checks import expect_shape, expect_tensor
from practicaltorch.checks._core import Hint, call, check, model_output, number

CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "config", "metadata")


class _Trap:
    """Unpickling this makes the folder ``marker``: harmless proof that a loader ran file code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def _load(path: Path) -> Any:
    """Load ``path`` as the lesson does, safely; a file that does not load raises a hint."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL (\S+)", str(error))
        held = found.group(1) if found else "objects"
        raise Hint(f"weights_only=True refuses {held}: save state_dicts, not the model") from None
    except Exception as error:  # a truncated or foreign file can raise many types
        raise Hint(f"torch.load could not read the file: {type(error).__name__}: {error}") from None


def _expect_states(contents: dict[str, Any], model: Any, epochs: int | None) -> None:
    """Raise a hint naming the first entry that is not the trained run's state."""
    weights, optimizer = contents["model"], contents["optimizer"]
    if not isinstance(weights, Mapping) or not all(isinstance(v, Tensor) for v in weights.values()):
        raise Hint("checkpoint['model'] should be model.state_dict(): names mapped to tensors")
    now = model.state_dict() if isinstance(model, nn.Module) else weights
    if any(k not in weights or not torch.equal(weights[k].cpu(), v.cpu()) for k, v in now.items()):
        raise Hint("checkpoint['model'] is not the trained model's: save it after training")
    if not isinstance(optimizer, Mapping) or not {"state", "param_groups"} <= set(optimizer):
        raise Hint("checkpoint['optimizer'] should be optimizer.state_dict()")
    if not optimizer["state"]:
        raise Hint("empty optimiser state: save the state of the trained one, not of a new one")
    if not isinstance(contents["scheduler"], Mapping):
        raise Hint("checkpoint['scheduler'] should be scheduler.state_dict()")
    if epochs is not None and (done := contents["epoch"]) != epochs:
        raise Hint(f"checkpoint['epoch'] is {done!r}: store how many epochs are done ({epochs})")
    if not isinstance(contents["config"], Mapping):
        raise Hint("checkpoint['config'] should be the dict that rebuilds the model (model.config)")


@check("checkpoint_path")
def checkpoint(path: Any, *, model: Any = None, epochs: int | None = None) -> str:
    """Check a checkpoint file: loads with ``weights_only=True``, holds the trained run's state."""
    if not isinstance(path, str | os.PathLike) or not Path(path).is_file():
        raise Hint(f"there is no file at {path}: torch.save(checkpoint, checkpoint_path)")
    contents = _load(Path(path))
    if not isinstance(contents, dict):
        raise Hint(f"the file holds a {type(contents).__name__}: save a dict of state_dicts")
    if contents and all(isinstance(v, Tensor) for v in contents.values()):
        raise Hint("the file holds a bare state_dict: put it under 'model' in the checkpoint dict")
    if missing := [key for key in CHECKPOINT_KEYS if key not in contents]:
        why = " (without it, resuming restarts AdamW's running averages)"
        raise Hint(f"the checkpoint lacks {missing}{why * ('optimizer' in missing)}")
    _expect_states(contents, model, epochs)
    return f"the checkpoint loads safely and holds the run's {', '.join(CHECKPOINT_KEYS)}"


def _expect_safe_loading(load: Any, original: nn.Module) -> None:
    """Raise a hint if ``load`` opens a file that only an unsafe ``weights_only=False`` can read."""
    with tempfile.TemporaryDirectory() as folder:
        trap, marker = Path(folder) / "from_a_stranger.pt", Path(folder) / "opened"
        config = dict(getattr(original, "config", {}))
        torch.save({"model": original.state_dict(), "config": config, "x": _Trap(marker)}, trap)
        with contextlib.suppress(Exception):  # refusing the file, in any way, is safe
            load(trap)
        if marker.exists():
            raise Hint("`load_penguin_model` lets a file run any code: load with weights_only=True")


@check("restored")
def restored(model: Any, original: nn.Module, inputs: Tensor, *, load: Any = None) -> str:
    """Check a reloaded model: on the CPU, in eval mode, as the original; and safe loading."""
    if isinstance(model, Mapping):
        raise Hint("`restored` is a dictionary: MLP(**contents['config']), then load_state_dict")
    got = model_output(model, "restored", inputs)
    if model.training:
        raise Hint("`restored` is in training mode: call .eval(), or dropout changes every answer")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise Hint("`restored` is not on the CPU, where the next cells use it: map_location='cpu'")
    want = model_output(original, "the trained model", inputs)
    expect_shape(got, want.shape, name="restored(inputs)", slips={})
    error = float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))
    if error > 1e-5:
        raise Hint(f"`restored` differs ({error:.1e}): call load_state_dict(contents['model'])")
    if load is not None:
        _expect_safe_loading(load, original)
    return f"`restored` is in eval mode and matches the trained model ({error:.1e})"


@check("resumed_history")
def resumed(history: Any, reference: Any, *, killed_after: int) -> str:
    """Check a resumed run continued the killed one and ended where an unbroken run did."""
    got, want = (getattr(h, "records", h) for h in (history, reference))  # fit's History
    if not isinstance(got, list) or not all(isinstance(r, Mapping) for r in got):
        raise Hint(f"`resumed_history` should be what fit returned, got {type(history).__name__}")
    epochs, total = [int(r.get("epoch", 0)) for r in got], len(want)
    if epochs and epochs[-1] < total:
        raise Hint(f"it stopped at epoch {epochs[-1]}: `epochs` is the total number of epochs")
    if epochs != list(range(1, total + 1)):
        raise Hint(f"the history has epochs {epochs[:3]}...{epochs[-2:]}; expected 1 to {total}")
    early, target = (r[killed_after - 1]["train_loss"] for r in (got, want))
    if abs(early - target) > 1e-6 * max(1.0, abs(target)):
        raise Hint("a new run from scratch: pass callbacks=[Checkpoint(run_dir, resume=True)]")
    last, target = got[-1]["valid_loss"], want[-1]["valid_loss"]
    if abs(last - target) > 1e-4 * max(1.0, abs(target)):
        raise Hint("the resumed run ends unlike the unbroken one: use make_model and make_training")
    return f"resumed after epoch {killed_after}, finished like the unbroken run ({last:.5g})"


@check("ts_check")
def verified(result: Any, fmt: str = "torchscript") -> str:
    """Check the outcome of :func:`practicaltorch.export.verify` for a ``fmt`` export."""
    from practicaltorch.export import ExportResult, VerifyResult

    if isinstance(result, ExportResult):
        raise Hint("`ts_check` is the export: check it in a new process, verify(ts_export.out_dir)")
    if not isinstance(result, VerifyResult):
        raise Hint(f"`ts_check` should be what verify(...) returns, got {type(result).__name__}")
    if result.format != fmt:
        raise Hint(f"that is a {result.format} export; this task wants {fmt} (the default)")
    if not result.passed:
        raise Hint(f"the reloaded file does not reproduce the model: {result.summary()}")
    return f"{result.model_path.name} reproduces the example in a fresh process"


@check("from_fortran")
def from_fortran(function: Any) -> str:
    """Check ``from_fortran(buffer, n_features, n_samples)``: Fortran bytes to a tensor."""
    n_features, n_samples = 4, 3
    want = torch.arange(n_samples * n_features, dtype=torch.float32).reshape(n_samples, -1)
    buffer = np.asfortranarray(want.numpy().T).tobytes(order="F")  # x(n_features, n_samples)
    try:
        got = call(function, "from_fortran", buffer, n_features, n_samples)
    except Hint as hint:
        if "reshape" not in str(hint) or f"size {n_features * n_samples // 2}" not in str(hint):
            raise
        raise Hint(f"{hint}. np.frombuffer reads float64 unless told: dtype=np.float32") from None
    got = expect_tensor(got, name="from_fortran(buffer, 4, 3)")  # an array: torch.from_numpy
    if tuple(got.shape) != (n_samples, n_features):
        raise Hint(f"`from_fortran` gave {tuple(got.shape)}, not (3, 4): one row per sample")
    if got.dtype != torch.float32:
        raise Hint(f"`from_fortran` gave {got.dtype}: read the bytes as np.float32")
    if not torch.equal(got, want):
        raise Hint("`from_fortran` puts numbers in wrong places: reshape(n_samples, n_features)")
    return "`from_fortran` puts each sample's features in its own row"


@check("errors")
def deployment(errors: Any, *, tolerance: float = 1e-5) -> str:
    """Check every reloaded or exported model reproduces the original's outputs to ``tolerance``."""
    if not isinstance(errors, Mapping) or not errors:
        raise Hint("`errors` should map each format to its max relative error")
    values = {str(k): number(v, f"errors[{k!r}]") for k, v in errors.items()}
    listed = ", ".join(f"{k} {v:.1e}" for k, v in values.items())
    if not all(v <= tolerance for v in values.values()):
        raise Hint(f"outputs differ by more than {tolerance:g} ({listed}): export in eval mode")
    return f"every reloaded model matches the original to {tolerance:g}: {listed}"
