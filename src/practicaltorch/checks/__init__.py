"""Rules the lessons' self-checks share: ``check_*`` print a pass or a hint, ``expect_*`` raise."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler

from practicaltorch.checks._core import (
    CheckResult,
    Hint,
    as_number,
    call,
    check,
    eval_outputs,
    fail,
    model_output,
    number,
    passed,
)

__all__ = [
    "CheckResult",
    "Hint",
    "as_number",
    "call",
    "check",
    "check_close",
    "check_decreasing",
    "check_metric",
    "eval_outputs",
    "expect_close",
    "expect_decreasing",
    "expect_eval_outputs",
    "expect_fit_history",
    "expect_loaders",
    "expect_predictions",
    "expect_shape",
    "expect_tensor",
    "fail",
    "model_output",
    "number",
    "passed",
]


def expect_tensor(
    value: Any,
    *,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    requires_grad: bool | None = None,
    name: str = "the tensor",
) -> Tensor:
    """Return ``value`` if it is a tensor as expected (``None`` arguments are not checked)."""
    if not isinstance(value, Tensor):
        fix = " (use torch.tensor(...) or torch.from_numpy(...))"
        fix = fix if hasattr(value, "shape") or isinstance(value, list) else ""
        raise Hint(f"`{name}` is a {type(value).__name__}, not a torch.Tensor{fix}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        fix = ""
        if sorted(value.shape) == sorted(shape):
            fix = " (same sizes in another order: do you need .permute(...) or .T?)"
        elif value.numel() == math.prod(shape):
            fix = " (same number of elements: .reshape(...) or .unsqueeze(...) may help)"
        raise Hint(f"`{name}` has shape {tuple(value.shape)}, expected {tuple(shape)}{fix}")
    if dtype is not None and value.dtype != dtype:
        raise Hint(f"`{name}` has dtype {value.dtype}, expected {dtype}: use .to({dtype})")
    if device is not None and value.device.type != torch.device(device).type:
        raise Hint(f"`{name}` is on {value.device}, expected {device}: use .to(device)")
    if requires_grad is not None and value.requires_grad != requires_grad:
        verb = "track" if requires_grad else "not track"
        raise Hint(f"`{name}` should {verb} gradients: set requires_grad={requires_grad}")
    return value


def expect_loaders(
    train_loader: Any,
    valid_loader: Any,
    *,
    batch_size: int,
    leak: str,
    valid_size: int = 0,
    why_shuffle: str = "",
) -> None:
    """Raise a hint unless ``train_loader`` shuffles and ``valid_loader`` serves another split.

    ``leak`` is the hint when the latter serves ``{served}`` items, not ``valid_size`` or
    the training set; ``why_shuffle`` ends the hint to shuffle.
    """
    for loader, label in ((train_loader, "train_loader"), (valid_loader, "valid_loader")):
        if not isinstance(loader, DataLoader):
            raise Hint(f"`{label}` is a {type(loader).__name__}, expected a DataLoader")
    served = len(valid_loader.dataset)
    same = valid_loader.dataset is train_loader.dataset or served == len(train_loader.dataset)
    if same or served != (valid_size or served):
        raise Hint(leak.format(served=served))
    if not isinstance(train_loader.sampler, RandomSampler):
        raise Hint(f"`train_loader` does not shuffle: pass shuffle=True{why_shuffle}")
    if train_loader.batch_size != batch_size:
        raise Hint(f"`train_loader` has batches of {train_loader.batch_size}: use {batch_size}")


def expect_shape(value: Tensor, shape: Sequence[int], *, name: str, slips: dict[Any, str]) -> None:
    """Raise a hint unless ``value`` has ``shape``: ``slips`` maps likely wrong shapes to theirs."""
    got = tuple(value.shape)
    if got != tuple(shape):
        raise Hint(slips.get(got, f"`{name}` has shape {got}, expected {tuple(shape)}"))


def expect_predictions(value: Any, *, name: str, shape: Sequence[int], why: str) -> Tensor:
    """Return ``value`` if a CPU tensor of ``shape`` without gradients; ``why`` explains it."""
    if not isinstance(value, Tensor):
        raise Hint(f"`{name}` is a {type(value).__name__}, expected a {tuple(shape)} tensor: {why}")
    if tuple(value.shape) != tuple(shape):
        raise Hint(f"`{name}` has shape {tuple(value.shape)}, expected {tuple(shape)}: {why}")
    if value.requires_grad:
        raise Hint(f"`{name}` tracks gradients: predict inside `with torch.no_grad():`")
    if value.device.type != "cpu":
        raise Hint(f"`{name}` is on {value.device}: move each batch's outputs to the CPU")
    return value


def expect_eval_outputs(
    values: Tensor, net: Any, inputs: Tensor, *, name: str, then: str = "", softmax: bool = False
) -> None:
    """Raise a hint unless ``values`` are ``net``'s eval-mode outputs on ``inputs`` (or softmax)."""
    want, got = eval_outputs(net, "model", inputs), values.detach().float().cpu()
    if torch.allclose(got, want, atol=1e-3 if softmax else 1e-4):
        return
    if not (softmax and torch.allclose(got, want.softmax(1), atol=1e-4)):
        raise Hint(f"`{name}` is not the model's eval-mode output: call model.eval() first{then}")


def expect_close(
    value: Any, expected: float | Tensor, *, tol: float = 1e-4, name: str, hint: str = ""
) -> None:
    """Raise a hint unless ``value`` is within ``tol`` of ``expected``; ``hint`` names the slip."""
    try:
        got = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise Hint(f"`{name}` should be a number or tensor, got {type(value).__name__}") from None
    want = torch.as_tensor(expected, dtype=torch.float64).cpu()
    if got.shape != want.shape:
        raise Hint(f"`{name}` has shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    if not torch.allclose(got, want, rtol=tol, atol=tol):
        shown = f"{got.item():.6g}" if got.numel() == 1 else "values"
        target = f" (expected {want.item():.6g})" if want.numel() == 1 else ""
        raise Hint(f"`{name}` is {shown}{target}. {hint}".rstrip())


@check("{name}")
def check_close(
    value: Any,
    expected: float | Tensor,
    *,
    tol: float = 1e-4,
    name: str = "the value",
    hint: str = "",
) -> str:
    """Check that a number (or tensor) is close to what it should be (see :func:`expect_close`)."""
    expect_close(value, expected, tol=tol, name=name, hint=hint)
    return f"`{name}` is right"


def expect_decreasing(losses: Any, *, name: str, min_drop: float) -> list[float]:
    """Return ``losses`` as floats if the last is at most ``1 - min_drop`` the first, or raise."""
    try:
        values = [as_number(v) for v in losses]
    except (TypeError, ValueError, RuntimeError):
        raise Hint(f"`{name}` should be a list of numbers, one per epoch") from None
    if len(values) < 2:
        raise Hint(f"`{name}` has {len(values)} value(s): record one per epoch (list.append)")
    if any(not math.isfinite(v) for v in values):
        raise Hint(f"`{name}` contains NaN or infinity: the learning rate is probably too high")
    if values[-1] > (1 - min_drop) * values[0]:
        raise Hint(
            f"`{name}` went from {values[0]:.4g} to {values[-1]:.4g}; it should fall by at least "
            f"{min_drop:.0%}: does the loop call zero_grad(), backward(), step()? Or raise the lr"
        )
    return values


@check("{name}")
def check_decreasing(losses: Any, *, name: str = "the loss", min_drop: float = 0.5) -> str:
    """Check that a loss curve falls (see :func:`expect_decreasing`)."""
    values = expect_decreasing(losses, name=name, min_drop=min_drop)
    return f"`{name}` fell from {values[0]:.4g} to {values[-1]:.4g}"


def expect_fit_history(
    value: Any, metric: str, *, missing: str, min_drop: float, scheduler: str = ""
) -> tuple[list[float], list[float]]:
    """Return the losses and ``metric`` of ``fit``'s history, or raise the hint ``missing``.

    The learning rate must change (``scheduler``: the one to pass); the loss fall by ``min_drop``.
    """
    try:
        losses = [float(v) for v in value["train_loss"]]
        metrics = [float(v) for v in value[metric]]
    except (KeyError, TypeError):
        raise Hint(missing) from None
    try:
        rates = {float(v) for v in value["lr"]}
    except (KeyError, TypeError):
        rates = set()
    if len(losses) > 1 and len(rates) == 1:
        raise Hint(f"the lr never changed: pass {scheduler}scheduler=scheduler on fit's optimiser")
    if losses[-1] > (1 - min_drop) * losses[0]:
        raise Hint(
            f"the training loss went from {losses[0]:.4g} to {losses[-1]:.4g}; it should fall "
            f"by at least {100 * min_drop:.0f}%"
        )
    return losses, metrics


@check("{name}")
def check_metric(
    value: Any,
    bar: float,
    *,
    name: str = "the metric",
    higher_is_better: bool = True,
    unit: str = "",
) -> str:
    """Check a metric reaches its bar; the unit ``"%"`` shows fractions as percentages."""

    def show(v: float) -> str:
        return f"{100 * v:.2f}%" if unit == "%" else f"{v:.4g} {unit}".rstrip()

    got = number(value, name)
    relation = ">=" if higher_is_better else "<="
    if (got < bar) if higher_is_better else (got > bar):
        raise Hint(
            f"{name} is {show(got)}; the bar is {relation} {show(bar)}. Train longer, check "
            "the data are scaled, or compare your code with the worked solution"
        )
    return f"{name} is {show(got)} ({relation} {show(bar)})"
