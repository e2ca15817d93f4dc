"""Self-checks for lesson 00: tensors, autograd and gradient descent for a line."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import expect_close, expect_tensor
from practicaltorch.checks._core import CheckResult, Hint, as_number, call, check, number

POINTS = ((1.0, 2.1), (2.0, 3.9), (3.0, 6.2))
"""The three ``(x, y)`` points the lesson fits a straight line to."""

FIT_TOLERANCE = 1e-3
"""How close a fitted slope and intercept must be to the least-squares answer."""

_PROBE = (0.5, -1.0)  # the (m, c) the loss and gradients are tested at: far from the optimum


def least_squares_line(x: Tensor | None = None, y: Tensor | None = None) -> tuple[float, float]:
    """Return the exact least-squares slope and intercept on ``x, y`` (default :data:`POINTS`).

    Examples
    --------
    >>> m, c = least_squares_line()
    >>> round(m, 6), round(c, 6)
    (2.05, -0.033333)
    """
    if x is None or y is None:
        x, y = torch.tensor(POINTS, dtype=torch.float64).T
    x, y = x.double().reshape(-1), y.double().reshape(-1)
    dx = x - x.mean()
    slope = (dx * (y - y.mean())).sum() / (dx**2).sum()
    return float(slope), float(y.mean() - slope * x.mean())


def _close(got: Sequence[float], want: Sequence[float]) -> bool:
    return all(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6) for a, b in zip(got, want))


@check("points")
def points(value: Any) -> str:
    """Check the ``(3, 2)`` float32 tensor of the three points (rows in any order)."""
    if isinstance(value, Tensor) and value.dtype == torch.float64:
        raise Hint("`points` is float64 (NumPy's default): pass dtype=torch.float32")
    if isinstance(value, Tensor) and not value.is_floating_point():
        raise Hint(f"`points` has dtype {value.dtype}: write the numbers as floats (1.0, not 1)")
    got = expect_tensor(value, shape=(3, 2), dtype=torch.float32, name="points").detach().cpu()
    want = torch.tensor(POINTS)
    if torch.allclose(got.flip(1)[got[:, 1].argsort()], want):
        raise Hint("`points` has its columns swapped: x in the first column and y in the second")
    if not torch.allclose(got[got[:, 0].argsort()], want):
        raise Hint(f"`points` has the right shape but not the right numbers: rows (x, y), {POINTS}")
    return "`points` holds the three points as a (3, 2) float32 tensor"


@check("channels_first")
def channels_first(value: Any, images: Tensor) -> str:
    """Check that a channels-last batch was reordered to ``(batch, channels, height, width)``."""
    batch, height, width, channels = images.shape
    value = expect_tensor(value, shape=(batch, channels, height, width), name="channels_first")
    if height == width and torch.equal(value.cpu(), images.permute(0, 3, 2, 1).cpu()):
        raise Hint("`channels_first` has height and width swapped: use .permute(0, 3, 1, 2)")
    if not torch.equal(value.cpu(), images.permute(0, 3, 1, 2).cpu()):
        raise Hint("`channels_first` has scrambled pixels: .permute(0, 3, 1, 2), not .reshape()")
    return "`channels_first` holds the same pixels with the channel axis second"


@check("w")
def square_gradient(w: Any) -> str:
    """Check the gradient autograd stored in ``w.grad`` for ``q = (w ** 2).sum()``."""
    expect_tensor(w, requires_grad=True, name="w")
    if not w.is_leaf:
        raise Hint("`w` was reassigned (w = ...): rerun the cell that creates it, compute q")
    if w.grad is None:
        raise Hint("`w.grad` is None: call q.backward() to fill it in")
    want = 2 * w.detach()
    if torch.allclose(w.grad, 2 * want):
        raise Hint("`w.grad` is twice 2 * w: backward() ran twice (gradients add up); recreate `w`")
    if torch.allclose(w.grad, want / w.numel()):
        raise Hint("`w.grad` is 2 * w / n: q should be the sum of the squares, not their mean")
    expect_close(w.grad, want, name="w.grad", hint="The derivative of the sum of w_i² is 2 * w_i")
    return "`w.grad` is right"


@check("mse_loss")
def mse_loss(function: Any) -> str:
    """Check ``mse_loss(m, c, x, y)``: the mean squared error, differentiable by autograd."""
    x, y = torch.tensor(POINTS).T  # fresh: the learner's code may change them
    m, c = _PROBE
    got = number(call(function, "mse_loss", m, c, x, y), "mse_loss(m, c, x, y)")
    residual = y - (m * x + c)
    want = float((residual**2).mean())
    slips = {
        "returns the sum of squared errors: take the mean": want * len(x),
        "returns the mean absolute error: square the residuals": residual.abs().mean(),
        "returns the root mean squared error: leave out the sqrt": math.sqrt(want),
        "is missing brackets: y - (m * x + c), not y - m * x + c": ((y - m * x + c) ** 2).mean(),
    }
    for hint, slip in slips.items():
        if math.isclose(got, float(slip), rel_tol=1e-4):
            raise Hint(f"`mse_loss` {hint}")
    label = f"mse_loss({m}, {c}, x, y)"
    expect_close(got, want, name=label, hint="Expected the mean of (y - (m * x + c)) ** 2")
    tracked = (torch.tensor(v, requires_grad=True) for v in _PROBE)
    value = call(function, "mse_loss", *tracked, x, y)
    if not (isinstance(value, Tensor) and value.requires_grad):
        raise Hint("`mse_loss` gives a plain number: return the tensor, for backward() in Task 6")
    return f"`{label}` is right, and autograd can differentiate it"


@check("mse_gradients")
def mse_gradients(function: Any) -> str:
    """Check ``mse_gradients(m, c, x, y)``, returning ``(dL/dm, dL/dc)`` in any numeric form."""
    x, y = torch.tensor(POINTS).T  # fresh: the learner's code may change them
    m, c = _PROBE
    value = call(function, "mse_gradients", m, c, x, y)
    try:
        got = tuple(as_number(v) for v in value)
    except (TypeError, ValueError, RuntimeError):
        got = ()
    if len(got) != 2:
        raise Hint("`mse_gradients` should return two numbers: (dL/dm, dL/dc)")
    residual = y - (m * x + c)
    dm, dc = float(-2 * (x * residual).mean()), float(-2 * residual.mean())
    if _close(got, (dm, dc)):
        return f"gradients at m={m}, c={c} are right: ({got[0]:.4g}, {got[1]:.4g})"
    n = len(x)
    slips = {
        "both gradients have the wrong sign: dL/dm = -2 * mean(x * residual)": (-dm, -dc),
        "the two gradients are swapped: return (dL/dm, dL/dc) in that order": (dc, dm),
        "the gradients are half size: the square brings down a factor 2": (dm / 2, dc / 2),
        f"the gradients are {n} times too large: average over the points": (dm * n, dc * n),
        "dL/dm equals dL/dc: the derivative for m carries the factor x": (dc, dc),
    }
    for hint, slip in slips.items():
        if _close(got, slip):
            raise Hint(hint)
    raise Hint(f"gradients at m={m}, c={c} are {got[0]:.4g}, {got[1]:.4g}, not {dm:.4g}, {dc:.4g}")


@check("m", "c", "losses")
def descent(m: Any, c: Any, losses: Any, *, name: str = "gradient descent") -> str:
    """Check a gradient-descent fit (numbers or 0-d tensors): the loss fell to least squares."""
    try:
        if any(isinstance(v, Tensor) and v.requires_grad for v in losses):
            raise Hint("`losses` keeps every step's graph in memory: append loss.item()")
        values = [as_number(v) for v in losses]
        got_m, got_c = as_number(m), as_number(c)
    except (TypeError, ValueError, RuntimeError):
        raise Hint("`m` and `c` should be numbers and `losses` a list of numbers") from None
    if len(values) < 2:
        raise Hint("`losses` needs one value per step: losses.append(loss) inside the loop")
    first, last = values[0], values[-1]
    if not all(math.isfinite(v) for v in [*values, got_m, got_c]):
        raise Hint(f"{name} hit NaN or infinity: lower the learning rate or fix the update's sign")
    ratios = [b / a for a, b in itertools.pairwise(values) if a > 0]  # safe descent only falls
    if any(r > 1.01 for r in ratios) and any(r < 0.99 for r in ratios[1:]):
        raise Hint(f"in {name} the loss rose and fell: the gradients add up; zero them each step")
    if last > first:
        raise Hint(f"in {name} the loss grew from {first:.4g} to {last:.4g}: use m - lr * dL/dm")
    if math.isclose(last, first, rel_tol=1e-6):
        raise Hint(f"in {name} the loss stayed at {first:.4g}: the parameters never changed")
    best_m, best_c = least_squares_line()
    fit = f"m = {got_m:.4f}, c = {got_c:.4f}"
    if max(abs(got_m - best_m), abs(got_c - best_c)) > FIT_TOLERANCE:
        raise Hint(f"{name} stopped at {fit}, not at {best_m:.4f}, {best_c:.4f}: take more steps")
    return f"{name} found {fit} (least squares: {best_m:.4f}, {best_c:.4f}); loss {last:.4g}"


@check("line", "losses")
def linear_fit(line: Any, losses: Any) -> CheckResult:
    """Check an ``nn.Linear(1, 1)`` trained with ``torch.optim.SGD`` on the points."""
    if not isinstance(line, nn.Linear) or line.weight.shape != (1, 1) or line.bias is None:
        raise Hint("`line` should be nn.Linear(1, 1): one input (x), one output (y), a bias")
    slope, intercept = float(line.weight.detach()[0, 0]), float(line.bias.detach()[0])
    if abs(slope) < 0.05 and abs(intercept - float(torch.tensor(POINTS)[:, 1].mean())) < 0.05:
        raise Hint("`line` is flat: targets (3,) broadcast with outputs (3, 1); use .unsqueeze(1)")
    return descent(slope, intercept, losses, name="torch.optim.SGD")
