"""Self-checks for exercise notebooks: instant, friendly feedback after each task.

Every check prints one line, a pass or a hint about the likely mistake, and
returns a :class:`CheckResult` that is truthy when the check passed. Exercise
cells call them for feedback; solution notebooks ``assert`` them, so CI fails
when a worked solution goes wrong::

    check_tensor(points, shape=(3, 2), dtype=torch.float32, name="points")
    assert check_metric(accuracy, 0.99, name="test accuracy")

The lesson-specific checks live beside this module (``lesson00`` and so on) and
are built from these primitives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "CheckResult",
    "as_number",
    "call_learner",
    "call_model",
    "check_close",
    "check_decreasing",
    "check_metric",
    "check_model_output",
    "check_tensor",
    "fail",
    "not_done",
    "passed",
]

PASS_MARK = "\u2705"  # green tick
FAIL_MARK = "\u274c"  # red cross


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: truthy when it passed."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"{PASS_MARK if self.passed else FAIL_MARK} {self.message}"

    def _ipython_display_(self) -> None:
        """Show nothing in Jupyter: the check already printed its line."""


def passed(message: str) -> CheckResult:
    """Print and return a passing result."""
    result = CheckResult(True, message)
    print(repr(result))
    return result


def fail(message: str) -> CheckResult:
    """Print and return a failing result with a hint."""
    result = CheckResult(False, message)
    print(repr(result))
    return result


def not_done(value: Any, name: str) -> CheckResult | None:
    """Return a failing result if ``value`` is still an untouched exercise stub.

    Parameters
    ----------
    value
        What the learner produced: ``None``, ``...``, or a function that still
        raises ``NotImplementedError`` count as not done.
    name
        What the value is called in the exercise.

    Returns
    -------
    CheckResult or None
        A failure with a hint, or ``None`` if the value looks like an attempt.
    """
    if value is None or value is Ellipsis:
        return fail(
            f"`{name}` has no value yet: replace the `# YOUR CODE HERE` stub and run the cell"
        )
    return None


def as_number(value: Any) -> float:
    """Convert a number or one-element tensor to a float, without autograd warnings."""
    if isinstance(value, Tensor):
        value = value.detach()
    return float(value)


def call_learner(
    function: Callable[..., Any], name: str, *args: Any
) -> tuple[Any, CheckResult | None]:
    """Call a learner's function, turning a stub or an exception into a hint.

    Returns
    -------
    result : Any
        What the function returned, or ``None`` if it failed.
    problem : CheckResult or None
        A failing result with a hint if the function still raises
        ``NotImplementedError`` or raised anything else.
    """
    try:
        return function(*args), None
    except NotImplementedError:
        return None, fail(
            f"`{name}` still raises NotImplementedError: replace the `# YOUR CODE HERE` "
            "stub with your code and run the cell again"
        )
    except Exception as error:  # the learner's code can raise anything
        return None, fail(f"`{name}` raised {type(error).__name__}: {error}")


def call_model(model: nn.Module, name: str, example: Tensor) -> tuple[Any, CheckResult | None]:
    """Run a learner's model on ``example`` in eval mode without gradients.

    The model's training mode is restored afterwards, so checking changes
    nothing. Like :func:`call_learner`, a stub or an exception becomes a hint.

    Returns
    -------
    output : Any
        What the model returned, or ``None`` if it failed.
    problem : CheckResult or None
        A failing result with a hint if the forward pass raised.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return call_learner(model, name, example)
    finally:
        model.train(was_training)


def check_tensor(
    value: Any,
    *,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    requires_grad: bool | None = None,
    name: str = "the tensor",
) -> CheckResult:
    """Check that ``value`` is a tensor of the expected shape, dtype and device.

    Parameters
    ----------
    value
        The learner's result.
    shape, dtype, device, requires_grad
        What to expect; ``None`` skips that part of the check.
    name
        What the value is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, name)
    if stub is not None:
        return stub
    if not isinstance(value, Tensor):
        hint = (
            " (use torch.tensor(...) or torch.from_numpy(...))"
            if hasattr(value, "shape") or isinstance(value, list)
            else ""
        )
        return fail(f"`{name}` is a {type(value).__name__}, not a torch.Tensor{hint}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        hint = ""
        if sorted(value.shape) == sorted(shape):
            hint = " (same sizes in another order: do you need .permute(...) or .T?)"
        elif value.numel() == math.prod(shape):
            hint = " (same number of elements: .reshape(...) or .unsqueeze(...) may help)"
        return fail(f"`{name}` has shape {tuple(value.shape)}, expected {tuple(shape)}{hint}")
    if dtype is not None and value.dtype != dtype:
        return fail(f"`{name}` has dtype {value.dtype}, expected {dtype}: use .to({dtype})")
    if device is not None and value.device.type != torch.device(device).type:
        return fail(f"`{name}` is on {value.device}, expected {device}: use .to(device)")
    if requires_grad is not None and value.requires_grad != requires_grad:
        verb = "track" if requires_grad else "not track"
        return fail(f"`{name}` should {verb} gradients: set requires_grad={requires_grad}")
    return passed(f"`{name}` is a {value.dtype} tensor of shape {tuple(value.shape)}")


def check_close(
    value: Any,
    expected: float | Tensor,
    *,
    tol: float = 1e-4,
    name: str = "the value",
    hint: str = "",
) -> CheckResult:
    """Check that a number (or tensor) is close to what it should be.

    Parameters
    ----------
    value
        The learner's result (a number, a 0-d or larger tensor, or a stub).
    expected
        The right answer.
    tol
        Allowed absolute and relative difference.
    name
        What the value is called in the exercise.
    hint
        Added to the failure message: the likely mistake.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, name)
    if stub is not None:
        return stub
    try:
        got = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        return fail(f"`{name}` should be a number or tensor, got {type(value).__name__}")
    want = torch.as_tensor(expected, dtype=torch.float64).cpu()
    if got.shape != want.shape:
        return fail(f"`{name}` has shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    if not torch.allclose(got, want, rtol=tol, atol=tol):
        shown = f"{got.item():.6g}" if got.numel() == 1 else "values"
        target = f" (expected {want.item():.6g})" if want.numel() == 1 else ""
        return fail(f"`{name}` is {shown}{target}. {hint}".rstrip())
    return passed(f"`{name}` is right")


def check_decreasing(losses: Any, *, name: str = "the loss", min_drop: float = 0.5) -> CheckResult:
    """Check that a loss curve falls: the last value well below the first.

    Parameters
    ----------
    losses
        A sequence of losses, one per step or epoch.
    name
        What the curve is called.
    min_drop
        The last loss must be at most ``(1 - min_drop)`` times the first.

    Returns
    -------
    CheckResult
    """
    stub = not_done(losses, name)
    if stub is not None:
        return stub
    values = [float(v) for v in losses]
    if len(values) < 2:
        return fail(f"`{name}` has {len(values)} value(s): record one per epoch (list.append)")
    if any(not math.isfinite(v) for v in values):
        return fail(f"`{name}` contains NaN or infinity: the learning rate is probably too high")
    first, last = values[0], values[-1]
    if last > (1 - min_drop) * first:
        return fail(
            f"`{name}` went from {first:.4g} to {last:.4g}; it should fall by at least "
            f"{100 * min_drop:.0f}%. Check optimizer.zero_grad(), loss.backward() and "
            "optimizer.step() are all in the loop, and try a larger learning rate"
        )
    return passed(f"`{name}` fell from {first:.4g} to {last:.4g}")


def check_metric(
    value: Any,
    bar: float,
    *,
    name: str = "the metric",
    higher_is_better: bool = True,
    unit: str = "",
) -> CheckResult:
    """Check that a metric reaches its quality bar.

    Parameters
    ----------
    value
        The learner's metric.
    bar
        The value to reach.
    name
        What the metric is called.
    higher_is_better
        ``True`` for accuracy-like metrics, ``False`` for errors.
    unit
        ``"%"`` shows fractions as percentages; other units are appended.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, name)
    if stub is not None:
        return stub

    def show(v: float) -> str:
        return f"{100 * v:.2f}%" if unit == "%" else f"{v:.4g}{(' ' + unit) if unit else ''}"

    number = float(value)
    ok = number >= bar if higher_is_better else number <= bar
    relation = ">=" if higher_is_better else "<="
    if not ok:
        return fail(
            f"{name} is {show(number)}; the bar is {relation} {show(bar)}. Train longer, "
            "check the data are scaled, or compare your code with the worked solution"
        )
    return passed(f"{name} is {show(number)} ({relation} {show(bar)})")


def check_model_output(
    model: Any, example: Tensor, shape: Sequence[int], *, name: str = "model"
) -> CheckResult:
    """Check that a model runs on an example batch and gives the expected shape.

    Parameters
    ----------
    model
        The learner's ``nn.Module``.
    example
        An input batch.
    shape
        The expected output shape.
    name
        What the model is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(model, name)
    if stub is not None:
        return stub
    if not isinstance(model, nn.Module):
        return fail(f"`{name}` is a {type(model).__name__}, not a torch.nn.Module")
    output, problem = call_model(model, name, example)
    if problem is not None:
        if "mat1 and mat2" in problem.message:
            return fail(
                problem.message + ". The first layer's in_features must equal the number "
                "of input features"
            )
        return problem
    return check_tensor(output, shape=shape, name=f"{name}(inputs)")
