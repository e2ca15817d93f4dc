"""Self-checks for lesson 00: tensors, autograd and gradient descent for a line."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import expect_close, expect_tensor
from practicaltorch.checks._core import CheckResult, Hint, as_number, call, check

POINTS = ((1.0, 2.1), (2.0, 3.9), (3.0, 6.2))
"""The three ``(x, y)`` points the lesson fits a straight line to."""

FIT_TOLERANCE = 1e-3
"""How close a fitted slope and intercept must be to the least-squares answer."""

# Slope and intercept at which the learner's loss and gradient functions are tested:
# away from the optimum, so every term of the gradient matters.
_PROBE = (0.5, -1.0)


def least_squares_line(x: Tensor | None = None, y: Tensor | None = None) -> tuple[float, float]:
    """Return the slope and intercept that minimise the mean squared error on ``x, y``.

    Solves the normal equations in float64: the exact answer gradient descent
    should approach. ``None`` uses :data:`POINTS`.

    Examples
    --------
    >>> m, c = least_squares_line()
    >>> round(m, 6), round(c, 6)
    (2.05, -0.033333)
    """
    if x is None or y is None:
        data = torch.tensor(POINTS, dtype=torch.float64)
        x, y = data[:, 0], data[:, 1]
    x, y = x.double().reshape(-1), y.double().reshape(-1)
    x_mean, y_mean = x.mean(), y.mean()
    slope = ((x - x_mean) * (y - y_mean)).sum() / ((x - x_mean) ** 2).sum()
    intercept = y_mean - slope * x_mean
    return float(slope), float(intercept)


def _data() -> tuple[Tensor, Tensor]:
    data = torch.tensor(POINTS)
    return data[:, 0], data[:, 1]


def _gradients(m: float, c: float) -> tuple[float, float]:
    x, y = _data()
    residual = y - (m * x + c)
    return float(-2 * (x * residual).mean()), float(-2 * residual.mean())


def _sorted_rows(value: Tensor) -> Tensor:
    return value[value[:, 0].argsort()]


@check("points")
def points(value: Any) -> str:
    """Check the ``(3, 2)`` float32 tensor of the three points (rows in any order)."""
    if isinstance(value, Tensor) and value.dtype == torch.float64:
        raise Hint(
            "`points` is float64: PyTorch models work in float32, so pass "
            "dtype=torch.float32 (NumPy arrays become float64 unless you say so)"
        )
    if isinstance(value, Tensor) and not value.is_floating_point():
        raise Hint(
            f"`points` has dtype {value.dtype}: write the numbers as floats (1.0, not 1) "
            "or pass dtype=torch.float32"
        )
    value = expect_tensor(value, shape=(3, 2), dtype=torch.float32, name="points")
    want = torch.tensor(POINTS)
    got = value.detach().cpu()
    if torch.allclose(_sorted_rows(got.flip(1)), want):
        raise Hint(
            "`points` has the right shape but not the right numbers: the columns are swapped, "
            "x in the first column and y in the second"
        )
    if not torch.allclose(_sorted_rows(got), want):
        raise Hint(
            "`points` has the right shape but not the right numbers: one row per point, "
            f"x first, then y: {[list(p) for p in POINTS]}"
        )
    return "`points` holds the three points as a (3, 2) float32 tensor"


@check("channels_first")
def channels_first(value: Any, images: Tensor) -> str:
    """Check that a channels-last batch was reordered to ``(batch, channels, height, width)``."""
    batch, height, width, channels = images.shape
    value = expect_tensor(value, shape=(batch, channels, height, width), name="channels_first")
    if torch.equal(value.cpu(), images.permute(0, 3, 2, 1).cpu()) and height == width:
        raise Hint(
            "`channels_first` has height and width swapped (each image is transposed): "
            ".permute(0, 3, 1, 2) keeps height before width"
        )
    if not torch.equal(value.cpu(), images.permute(0, 3, 1, 2).cpu()):
        raise Hint(
            "`channels_first` has the right shape but the pixels are scrambled: "
            ".reshape() and .view() keep the numbers in memory order and only relabel "
            "the axes; .permute(0, 3, 1, 2) moves the channel axis"
        )
    return "`channels_first` holds the same pixels with the channel axis second"


@check("w")
def square_gradient(w: Any) -> str:
    """Check the gradient autograd stored in ``w.grad`` for ``q = (w ** 2).sum()``."""
    if not isinstance(w, Tensor):
        raise Hint(f"`w` is a {type(w).__name__}, not a torch.Tensor")
    if not w.requires_grad:
        raise Hint("`w` does not track gradients: create it with requires_grad=True")
    if not w.is_leaf:
        raise Hint(
            "`w` is no longer the tensor you created: it was reassigned (w = ...). Keep `w`, "
            "compute q from it, and run the cell that creates `w` again"
        )
    if w.grad is None:
        raise Hint("`w.grad` is None: call q.backward() to fill it in")
    expected = 2 * w.detach()
    if torch.allclose(w.grad, 2 * expected):
        raise Hint(
            "`w.grad` is twice 2 * w: backward() ran twice and gradients add up. "
            "Run the cell that creates `w` again, then call backward() once"
        )
    if torch.allclose(w.grad, expected / w.numel()):
        raise Hint("`w.grad` is 2 * w / n: q should be the sum of the squares, not their mean")
    expect_close(
        w.grad, expected, name="w.grad", hint="The derivative of the sum of w_i squared is 2 * w_i"
    )
    return "`w.grad` is right"


def _mse_value(function: Any, m: Any, c: Any) -> float:
    """Call the learner's loss at the probe; return it as a number, or raise a hint."""
    x, y = _data()
    try:
        return as_number(call(function, "mse_loss", m, c, x, y))
    except (TypeError, ValueError, RuntimeError):
        raise Hint("`mse_loss` should return one number (a 0-d tensor)") from None


@check("mse_loss")
def mse_loss(function: Any) -> str:
    """Check ``mse_loss(m, c, x, y)``: the mean squared error, differentiable by autograd."""
    x, y = _data()
    m, c = _PROBE
    label = f"mse_loss({m}, {c}, x, y)"
    got = _mse_value(function, m, c)
    residual = y - (m * x + c)
    expected = float((residual**2).mean())
    if math.isclose(got, expected * len(x), rel_tol=1e-4):
        raise Hint("`mse_loss` returns the sum of squared errors: take the mean (divide by n)")
    if math.isclose(got, float(residual.abs().mean()), rel_tol=1e-4):
        raise Hint("`mse_loss` returns the mean absolute error: square the residuals")
    if math.isclose(got, math.sqrt(expected), rel_tol=1e-4):
        raise Hint("`mse_loss` returns the root of the mean squared error: leave out the sqrt")
    if math.isclose(got, float(((y - m * x + c) ** 2).mean()), rel_tol=1e-4):
        raise Hint("`mse_loss` subtracts m * x and adds c: write y - (m * x + c), with brackets")
    expect_close(
        got, expected, name=label, hint="Expected the mean over points of (y - (m * x + c)) ** 2"
    )
    m_tensor, c_tensor = (torch.tensor(v, requires_grad=True) for v in _PROBE)
    value = call(function, "mse_loss", m_tensor, c_tensor, x, y)
    if not (isinstance(value, Tensor) and value.requires_grad):
        raise Hint(
            "`mse_loss` returns a plain number, so autograd cannot differentiate it (Task 6 "
            "calls backward() on it): return the tensor, without .item() or float()"
        )
    return f"`{label}` is right, and autograd can differentiate it"


@check("mse_gradients")
def mse_gradients(function: Any) -> str:
    """Check ``mse_gradients(m, c, x, y)``, returning ``(dL/dm, dL/dc)`` in any numeric form."""
    x, y = _data()
    m, c = _PROBE
    value = call(function, "mse_gradients", m, c, x, y)
    try:
        got_m, got_c = (as_number(v) for v in value)
    except (TypeError, ValueError, RuntimeError):
        raise Hint("`mse_gradients` should return two numbers: (dL/dm, dL/dc)") from None
    want_m, want_c = _gradients(m, c)

    def same(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return all(math.isclose(p, q, rel_tol=1e-4, abs_tol=1e-6) for p, q in zip(a, b))

    got = (got_m, got_c)
    if same(got, (want_m, want_c)):
        return f"gradients at m={m}, c={c} are right: ({got_m:.4g}, {got_c:.4g})"
    n = len(x)
    for wrong, hint in [
        (
            (-want_m, -want_c),
            "both gradients have the wrong sign: the residual is y - (m * x + c), and its "
            "derivative is -x for m and -1 for c, so dL/dm = -2 * mean(x * residual)",
        ),
        ((want_c, want_m), "the two gradients are swapped: return (dL/dm, dL/dc) in that order"),
        (
            (want_m / 2, want_c / 2),
            "the gradients are half what they should be: the square brings down a 2",
        ),
        (
            (want_m * n, want_c * n),
            f"the gradients are {n} times too large: average over the points, not sum",
        ),
        (
            (want_c, want_c),
            "dL/dm equals dL/dc: the derivative for m carries the factor x, "
            "dL/dm = -2 * mean(x * residual)",
        ),
    ]:
        if same(got, wrong):
            raise Hint(hint)
    raise Hint(
        f"gradients at m={m}, c={c} are ({got_m:.4g}, {got_c:.4g}), expected "
        f"({want_m:.4g}, {want_c:.4g}). Differentiate (y - (m * x + c)) ** 2 with the "
        "chain rule, then average over the points"
    )


def _oscillates(values: list[float]) -> bool:
    """Whether the loss both rose and fell by over 1% in a step (safe descent only falls)."""
    steps = [b / a for a, b in itertools.pairwise(values) if a > 0]
    return any(r > 1.01 for r in steps) and any(r < 0.99 for r in steps[1:])


@check("m", "c", "losses")
def descent(m: Any, c: Any, losses: Any, *, name: str = "gradient descent") -> str:
    """Check a gradient-descent fit: the loss fell and ``(m, c)`` reached least squares.

    ``m`` and ``c`` may be numbers or 0-d tensors, ``losses`` a list of numbers; ``name``
    is what the fit is called in messages.
    """
    if any(isinstance(v, Tensor) and v.requires_grad for v in losses):
        raise Hint(
            "`losses` holds tensors that track gradients, which keeps every step's graph in "
            "memory: append loss.item(), a Python float"
        )
    try:
        values = [as_number(v) for v in losses]
        got_m, got_c = as_number(m), as_number(c)
    except (TypeError, ValueError, RuntimeError):
        raise Hint("`m` and `c` should be numbers and `losses` a list of numbers") from None
    if len(values) < 2:
        raise Hint("`losses` needs one value per step: losses.append(loss) inside the loop")
    if not all(math.isfinite(v) for v in [*values, got_m, got_c]):
        raise Hint(
            f"{name} blew up to NaN or infinity: the learning rate is too large, or the "
            "update has the wrong sign (it should be m - lr * dL/dm)"
        )
    if _oscillates(values):
        raise Hint(
            f"in {name} the loss went up and down instead of falling steadily: the "
            "gradients add up from step to step. Reset them after every update "
            "(m.grad.zero_() or optimizer.zero_grad())"
        )
    if values[-1] > values[0]:
        raise Hint(
            f"in {name} the loss grew from {values[0]:.4g} to {values[-1]:.4g}: step "
            "against the gradient, m <- m - lr * dL/dm (and the same for c)"
        )
    if math.isclose(values[-1], values[0], rel_tol=1e-6):
        raise Hint(
            f"in {name} the loss stayed at {values[0]:.4g}: the parameters never changed. "
            "Update them after every backward pass"
        )
    best_m, best_c = least_squares_line()
    if math.isclose(got_m, best_m, abs_tol=FIT_TOLERANCE) and math.isclose(
        got_c, best_c, abs_tol=FIT_TOLERANCE
    ):
        return (
            f"{name} found m = {got_m:.4f}, c = {got_c:.4f} (least squares: "
            f"{best_m:.4f}, {best_c:.4f}); the loss fell to {values[-1]:.4g}"
        )
    raise Hint(
        f"{name} stopped at m = {got_m:.4f}, c = {got_c:.4f}, but least squares gives "
        f"{best_m:.4f}, {best_c:.4f}. Take more steps, and make sure every step "
        "starts from fresh gradients (zero them after each update)"
    )


@check("line", "losses")
def linear_fit(line: Any, losses: Any) -> CheckResult:
    """Check an ``nn.Linear(1, 1)`` trained with ``torch.optim.SGD`` on the points."""
    if not isinstance(line, nn.Linear):
        raise Hint(f"`line` is a {type(line).__name__}; create it with nn.Linear(1, 1)")
    if line.in_features != 1 or line.out_features != 1 or line.bias is None:
        raise Hint("`line` should be nn.Linear(1, 1): one input (x), one output (y), a bias")
    slope, intercept = float(line.weight.detach().reshape(())), float(line.bias.detach()[0])
    mean_y = float(torch.tensor(POINTS)[:, 1].mean())
    if math.isclose(slope, 0.0, abs_tol=0.05) and math.isclose(intercept, mean_y, abs_tol=0.05):
        raise Hint(
            "`line` learned a flat line at the mean of y: the predictions have shape "
            "(3, 1) but the targets (3,), so the loss compared every prediction with every "
            "target (broadcasting). Give the targets shape (3, 1) with .unsqueeze(1)"
        )
    return descent(slope, intercept, losses, name="torch.optim.SGD")
