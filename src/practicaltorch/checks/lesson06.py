"""Self-checks for lesson 06: saving, loading, resuming and exporting a model.

Each function is called in the exercise notebook right after a task, prints one
line (a pass or a hint about the likely mistake) and returns a
:class:`~practicaltorch.checks.CheckResult`.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.checks import CheckResult, call_learner, fail, not_done, passed

__all__ = ["checkpoint", "deployment", "from_fortran", "restored", "resumed", "verified"]

CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "config", "metadata")
"""What the lesson's checkpoint holds."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def checkpoint(path: Any) -> CheckResult:
    """Check a checkpoint file: loads with ``weights_only=True`` and can resume training.

    Parameters
    ----------
    path
        Where the learner saved the checkpoint.

    Returns
    -------
    CheckResult
    """
    stub = not_done(path, "checkpoint_path")
    if stub is not None:
        return stub
    if not isinstance(path, str | os.PathLike) or not Path(path).is_file():
        return fail(
            f"there is no file at {path}: save the dictionary with "
            "torch.save(checkpoint, checkpoint_path)"
        )
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        return fail(
            "the file does not load with weights_only=True: it holds objects, not just tensors "
            "and plain values. Save model.state_dict() (not the model itself) and "
            f"optimizer.state_dict() ({_first_line(error)[:120]})"
        )
    except Exception as error:  # a truncated or foreign file can raise many types
        return fail(f"torch.load could not read the file: {type(error).__name__}: {error}")
    if isinstance(contents, nn.Module | Mapping) and not isinstance(contents, dict):
        return fail("the file holds a model, not a dictionary: save a dict of state_dicts")
    if not isinstance(contents, dict):
        return fail(f"the file holds a {type(contents).__name__}; save a dictionary")
    if all(isinstance(v, Tensor) for v in contents.values()) and contents:
        return fail(
            "the file holds a bare state_dict: put it under 'model' in a dictionary together "
            "with the optimiser's and scheduler's state, the epoch, config and metadata"
        )
    missing = [key for key in CHECKPOINT_KEYS if key not in contents]
    if missing:
        why = (
            " (without the optimiser's state, resumed training restarts AdamW's running "
            "averages and behaves differently)"
            if "optimizer" in missing
            else ""
        )
        return fail(f"the checkpoint lacks {missing}{why}")
    weights = contents["model"]
    if not isinstance(weights, Mapping) or not all(isinstance(v, Tensor) for v in weights.values()):
        return fail("checkpoint['model'] should be model.state_dict(): names mapped to tensors")
    optimizer = contents["optimizer"]
    if not isinstance(optimizer, Mapping) or not {"state", "param_groups"} <= set(optimizer):
        return fail("checkpoint['optimizer'] should be optimizer.state_dict()")
    if not isinstance(contents["config"], Mapping):
        return fail(
            "checkpoint['config'] should be the dict that rebuilds the model (model.config)"
        )
    return passed(
        f"the checkpoint loads safely and holds {len(weights)} weight tensors, the optimiser's "
        f"and scheduler's state, epoch {contents['epoch']}, config and metadata"
    )


def _outputs(model: nn.Module, inputs: Tensor) -> Tensor:
    """Evaluate ``model`` on ``inputs`` on its own device, returning CPU outputs."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    with torch.no_grad():
        result: Tensor = model(inputs.to(device)).cpu()
    return result


def restored(model: Any, original: nn.Module, inputs: Tensor) -> CheckResult:
    """Check a reloaded model: a module in eval mode giving the original's outputs.

    Parameters
    ----------
    model
        What the learner's loading function returned.
    original
        The trained model that was saved.
    inputs
        A batch to compare outputs on.

    Returns
    -------
    CheckResult
    """
    stub = not_done(model, "restored")
    if stub is not None:
        return stub
    if isinstance(model, Mapping):
        return fail(
            "`restored` is a dictionary: build the model with MLP(**contents['config']) and "
            "pour the weights in with model.load_state_dict(contents['model'])"
        )
    if not isinstance(model, nn.Module):
        return fail(f"`restored` is a {type(model).__name__}, not a torch.nn.Module")
    if model.training:
        return fail(
            "`restored` is in training mode: call .eval() before predicting, or dropout keeps "
            "switching units off and every call gives a different answer"
        )
    was_training = original.training
    original.eval()
    try:
        want = _outputs(original, inputs)
    finally:
        original.train(was_training)
    got, problem = call_learner(_outputs, "restored", model, inputs)
    if problem is not None:
        return problem
    if not isinstance(got, Tensor) or got.shape != want.shape:
        shape = tuple(got.shape) if isinstance(got, Tensor) else type(got).__name__
        return fail(f"`restored` gives outputs of shape {shape}, expected {tuple(want.shape)}")
    error = float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))
    if error > 1e-5:
        return fail(
            f"`restored` differs from the trained model (max relative error {error:.2g}): did "
            "you call load_state_dict(contents['model'])? A new MLP has random weights"
        )
    return passed(f"`restored` is in eval mode and matches the trained model ({error:.1e})")


def _records(history: Any) -> list[dict[str, float]] | None:
    records = getattr(history, "records", history)
    if isinstance(records, list) and all(isinstance(r, Mapping) for r in records):
        return [dict(r) for r in records]
    return None


def resumed(history: Any, reference: Any, *, killed_after: int) -> CheckResult:
    """Check a resumed run continued the killed one and ended where an unbroken run did.

    Parameters
    ----------
    history
        The learner's ``History`` from the resumed ``fit``.
    reference
        The ``History`` of the same run without an interruption.
    killed_after
        The last epoch the killed run finished.

    Returns
    -------
    CheckResult
    """
    stub = not_done(history, "resumed_history")
    if stub is not None:
        return stub
    got, want = _records(history), _records(reference)
    if got is None or want is None:
        return fail(f"`resumed_history` should be what fit returned, got {type(history).__name__}")
    epochs = [int(r.get("epoch", 0)) for r in got]
    total = len(want)
    if epochs and epochs[-1] < total:
        return fail(
            f"the resumed run stopped at epoch {epochs[-1]}, not {total}: `epochs` is the total "
            "number of epochs, including those done before the interruption"
        )
    if epochs != list(range(1, total + 1)):
        return fail(f"the history has epochs {epochs[:3]}...{epochs[-2:]}; expected 1 to {total}")
    early = got[killed_after - 1]["train_loss"], want[killed_after - 1]["train_loss"]
    if abs(early[0] - early[1]) > 1e-6 * max(1.0, abs(early[1])):
        return fail(
            "the first epochs differ from the killed run's: this looks like a new run from "
            "scratch. Pass callbacks=[Checkpoint(run_dir, resume=True)]"
        )
    last, target = got[-1]["valid_loss"], want[-1]["valid_loss"]
    if abs(last - target) > 1e-4 * max(1.0, abs(target)):
        return fail(
            f"the resumed run ends with validation loss {last:.5g}, the uninterrupted one with "
            f"{target:.5g}: build the model, batches, optimiser and scheduler exactly as before "
            "(make_model and make_training) and pass the same scheduler to fit"
        )
    return passed(
        f"resumed after epoch {killed_after} and finished like the uninterrupted run "
        f"(validation loss {last:.5g})"
    )


def verified(result: Any, fmt: str = "torchscript") -> CheckResult:
    """Check the outcome of :func:`practicaltorch.export.verify`.

    Parameters
    ----------
    result
        The learner's ``VerifyResult``.
    fmt
        The format that should have been exported.

    Returns
    -------
    CheckResult
    """
    from practicaltorch.export import ExportResult, VerifyResult

    stub = not_done(result, "ts_check")
    if stub is not None:
        return stub
    if isinstance(result, ExportResult):
        return fail(
            "`ts_check` is the export's result: check it in a fresh process with "
            "verify(ts_export.out_dir)"
        )
    if not isinstance(result, VerifyResult):
        return fail(f"`ts_check` should be what verify(...) returns, got {type(result).__name__}")
    if result.format != fmt:
        return fail(f"that is a {result.format} export; this task wants {fmt} (the default)")
    if not result.passed:
        return fail(f"the reloaded file does not reproduce the model: {result.summary()}")
    return passed(
        f"{result.model_path.name} reloaded in a fresh process reproduces the example "
        f"(max relative error {result.max_rel_error:.1e})"
    )


def from_fortran(function: Any) -> CheckResult:
    """Check a function that reads a Fortran ``x(n_features, n_samples)`` array's bytes.

    Parameters
    ----------
    function
        ``from_fortran(buffer, n_features, n_samples)`` returning a tensor of
        shape ``(n_samples, n_features)``.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "from_fortran")
    if stub is not None:
        return stub
    n_features, n_samples = 4, 3
    want = torch.arange(n_samples * n_features, dtype=torch.float32).reshape(n_samples, -1)
    fortran = np.asfortranarray(want.numpy().T)  # x(n_features, n_samples), column-major
    buffer = fortran.tobytes(order="F")
    got, problem = call_learner(function, "from_fortran", buffer, n_features, n_samples)
    if problem is not None:
        return problem
    if isinstance(got, np.ndarray):
        return fail("`from_fortran` returns a NumPy array: wrap it with torch.from_numpy(...)")
    if not isinstance(got, Tensor):
        return fail(f"`from_fortran` should return a tensor, got {type(got).__name__}")
    if tuple(got.shape) != (n_samples, n_features):
        return fail(
            f"`from_fortran` gave shape {tuple(got.shape)}, expected (n_samples, n_features) = "
            f"{(n_samples, n_features)}: one row per sample"
        )
    if got.dtype != torch.float32:
        return fail(f"`from_fortran` gave {got.dtype}: read the bytes as np.float32")
    if not torch.equal(got, want):
        return fail(
            "`from_fortran` has the right shape but the numbers are in the wrong places. The "
            "bytes of Fortran's x(features, samples) are those of a row-major "
            "(samples, features) array: reshape(n_samples, n_features) in NumPy's default order"
        )
    return passed("`from_fortran` puts each sample's features in its own row")


def deployment(errors: Any, *, tolerance: float = 1e-5) -> CheckResult:
    """Check every reloaded or exported model reproduces the original's outputs.

    Parameters
    ----------
    errors
        A mapping from a name (``"TorchScript"``) to its max relative error.
    tolerance
        The largest accepted error.

    Returns
    -------
    CheckResult
    """
    stub = not_done(errors, "errors")
    if stub is not None:
        return stub
    if not isinstance(errors, Mapping) or not errors:
        return fail("`errors` should map each format to its max relative error")
    values = {str(k): float(v) for k, v in errors.items()}
    bad = {k: v for k, v in values.items() if not v <= tolerance}
    if bad:
        listed = ", ".join(f"{k} {v:.2g}" for k, v in bad.items())
        return fail(
            f"outputs differ from the original by more than {tolerance:g}: {listed}. Was the "
            "model in eval mode when it was exported and compared?"
        )
    listed = ", ".join(f"{k} {v:.1e}" for k, v in values.items())
    return passed(f"every reloaded model matches the original to {tolerance:g}: {listed}")
