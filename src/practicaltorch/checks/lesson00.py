"""Self-checks for lesson 00: tensors, autograd and gradient descent for a line.

Each function prints one line, a pass or a hint, and returns a
:class:`~practicaltorch.checks.CheckResult` that is truthy when it passed::

    from practicaltorch.checks import lesson00 as check

    check.points(points)
    check.mse_gradients(mse_gradients)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import (
    CheckResult,
    as_number,
    call_learner,
    check_close,
    check_tensor,
    fail,
    not_done,
    passed,
)

__all__ = [
    "POINTS",
    "channels_first",
    "descent",
    "least_squares_line",
    "linear_fit",
    "mse_gradients",
    "mse_loss",
    "points",
    "square_gradient",
]

POINTS = ((1.0, 2.1), (2.0, 3.9), (3.0, 6.2))
"""The three ``(x, y)`` points the lesson fits a straight line to."""

FIT_TOLERANCE = 1e-3
"""How close a fitted slope and intercept must be to the least-squares answer."""

# Slope and intercept at which the learner's loss and gradient functions are tested:
# away from the optimum, so every term of the gradient matters.
_PROBE = (0.5, -1.0)


def least_squares_line(x: Tensor | None = None, y: Tensor | None = None) -> tuple[float, float]:
    """Return the slope and intercept that minimise the mean squared error.

    Solves the normal equations in float64: the exact answer gradient descent
    should approach.

    Parameters
    ----------
    x, y
        The data; ``None`` uses :data:`POINTS`.

    Returns
    -------
    tuple of float
        ``(m, c)``.

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


def _reference_loss(m: float, c: float, x: Tensor, y: Tensor) -> float:
    return float(((y - (m * x + c)) ** 2).mean())


def _reference_gradients(m: float, c: float, x: Tensor, y: Tensor) -> tuple[float, float]:
    residual = y - (m * x + c)
    return float(-2 * (x * residual).mean()), float(-2 * residual.mean())


def points(value: Any) -> CheckResult:
    """Check the ``(3, 2)`` float32 tensor of the three data points.

    Parameters
    ----------
    value
        The learner's ``points`` tensor: one row per point, columns ``x`` and ``y``.

    Returns
    -------
    CheckResult
    """
    if isinstance(value, Tensor) and value.dtype == torch.float64:
        return fail(
            "`points` is float64: PyTorch models work in float32, so pass "
            "dtype=torch.float32 (NumPy arrays become float64 unless you say so)"
        )
    if isinstance(value, Tensor) and not value.is_floating_point():
        return fail(
            f"`points` has dtype {value.dtype}: write the numbers as floats (1.0, not 1) "
            "or pass dtype=torch.float32"
        )
    if not (isinstance(value, Tensor) and tuple(value.shape) == (3, 2)):
        return check_tensor(value, shape=(3, 2), dtype=torch.float32, name="points")
    if not torch.allclose(value.detach().cpu(), torch.tensor(POINTS)):
        return fail(
            "`points` has the right shape but not the right numbers: one row per point, "
            f"x first, then y: {[list(p) for p in POINTS]}"
        )
    return passed("`points` holds the three points as a (3, 2) float32 tensor")


def channels_first(value: Any, images: Tensor) -> CheckResult:
    """Check that a channels-last batch was reordered to channels first.

    Parameters
    ----------
    value
        The learner's result, expected ``images.permute(0, 3, 1, 2)``.
    images
        The original batch of shape ``(batch, height, width, channels)``.

    Returns
    -------
    CheckResult
    """
    batch, height, width, channels = images.shape
    expected = (batch, channels, height, width)
    if not (isinstance(value, Tensor) and tuple(value.shape) == expected):
        return check_tensor(value, shape=expected, name="channels_first")
    if not torch.equal(value.cpu(), images.permute(0, 3, 1, 2).cpu()):
        return fail(
            "`channels_first` has the right shape but the pixels are scrambled: "
            ".reshape() and .view() keep the numbers in memory order and only relabel "
            "the axes; .permute(0, 3, 1, 2) moves the channel axis"
        )
    return passed("`channels_first` holds the same pixels with the channel axis second")


def square_gradient(w: Any) -> CheckResult:
    """Check the gradient autograd stored in ``w.grad`` for ``q = (w ** 2).sum()``.

    Parameters
    ----------
    w
        The leaf tensor created with ``requires_grad=True``.

    Returns
    -------
    CheckResult
    """
    stub = not_done(w, "w")
    if stub is not None:
        return stub
    if not isinstance(w, Tensor):
        return fail(f"`w` is a {type(w).__name__}, not a torch.Tensor")
    if not w.requires_grad:
        return fail("`w` does not track gradients: create it with requires_grad=True")
    if w.grad is None:
        return fail("`w.grad` is None: call q.backward() to fill it in")
    expected = 2 * w.detach()
    if torch.allclose(w.grad, 2 * expected):
        return fail(
            "`w.grad` is twice 2 * w: backward() ran twice and gradients add up. "
            "Run the cell that creates `w` again, then call backward() once"
        )
    return check_close(
        w.grad,
        expected,
        name="w.grad",
        hint="The derivative of the sum of w_i squared is 2 * w_i",
    )


def mse_loss(function: Any) -> CheckResult:
    """Check a function ``mse_loss(m, c, x, y)`` returning the mean squared error.

    Parameters
    ----------
    function
        The learner's function.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "mse_loss")
    if stub is not None:
        return stub
    x, y = _data()
    m, c = _PROBE
    value, problem = call_learner(function, "mse_loss", m, c, x, y)
    if problem is not None:
        return problem
    expected = _reference_loss(m, c, x, y)
    try:
        got = as_number(value)
    except (TypeError, ValueError, RuntimeError):
        return fail(f"`mse_loss` should return one number, got {type(value).__name__}")
    if math.isclose(got, expected * len(x), rel_tol=1e-4):
        return fail("`mse_loss` returns the sum of squared errors: take the mean (divide by n)")
    if math.isclose(got, float((y - (m * x + c)).abs().mean()), rel_tol=1e-4):
        return fail("`mse_loss` returns the mean absolute error: square the residuals")
    return check_close(
        got,
        expected,
        name=f"mse_loss({m}, {c}, x, y)",
        hint="Expected the mean over points of (y - (m * x + c)) ** 2",
    )


def mse_gradients(function: Any) -> CheckResult:
    """Check a function ``mse_gradients(m, c, x, y)`` returning ``(dL/dm, dL/dc)``.

    Parameters
    ----------
    function
        The learner's function.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "mse_gradients")
    if stub is not None:
        return stub
    x, y = _data()
    m, c = _PROBE
    value, problem = call_learner(function, "mse_gradients", m, c, x, y)
    if problem is not None:
        return problem
    try:
        got_m, got_c = (as_number(v) for v in value)
    except (TypeError, ValueError, RuntimeError):
        return fail("`mse_gradients` should return two numbers: (dL/dm, dL/dc)")
    want_m, want_c = _reference_gradients(m, c, x, y)

    def same(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return all(math.isclose(p, q, rel_tol=1e-4, abs_tol=1e-6) for p, q in zip(a, b))

    got = (got_m, got_c)
    if same(got, (want_m, want_c)):
        return passed(f"gradients at m={m}, c={c} are right: ({got_m:.4g}, {got_c:.4g})")
    if same(got, (-want_m, -want_c)):
        return fail(
            "both gradients have the wrong sign: the residual is y - (m * x + c), and its "
            "derivative is -x for m and -1 for c, so dL/dm = -2 * mean(x * residual)"
        )
    if same(got, (want_c, want_m)):
        return fail("the two gradients are swapped: return (dL/dm, dL/dc) in that order")
    if same(got, (want_m / 2, want_c / 2)):
        return fail("the gradients are half what they should be: the square brings down a 2")
    n = len(x)
    if same(got, (want_m * n, want_c * n)):
        return fail(f"the gradients are {n} times too large: average over the points, not sum")
    return fail(
        f"gradients at m={m}, c={c} are ({got_m:.4g}, {got_c:.4g}), expected "
        f"({want_m:.4g}, {want_c:.4g}). Differentiate (y - (m * x + c)) ** 2 with the "
        "chain rule, then average over the points"
    )


def descent(m: Any, c: Any, losses: Any, *, name: str = "gradient descent") -> CheckResult:
    """Check a gradient-descent fit: the loss fell and ``(m, c)`` reached least squares.

    Parameters
    ----------
    m, c
        The fitted slope and intercept (numbers or 0-d tensors).
    losses
        The loss recorded at every step.
    name
        What the fit is called in messages.

    Returns
    -------
    CheckResult
    """
    for value, label in ((m, "m"), (c, "c"), (losses, "losses")):
        stub = not_done(value, label)
        if stub is not None:
            return stub
    try:
        values = [as_number(v) for v in losses]
        got_m, got_c = as_number(m), as_number(c)
    except (TypeError, ValueError, RuntimeError):
        return fail("`m` and `c` should be numbers and `losses` a list of numbers")
    if len(values) < 2:
        return fail("`losses` needs one value per step: losses.append(loss) inside the loop")
    if not all(math.isfinite(v) for v in [*values, got_m, got_c]):
        return fail(
            f"{name} blew up to NaN or infinity: the learning rate is too large, or the "
            "update has the wrong sign (it should be m - lr * dL/dm)"
        )
    if values[-1] > values[0]:
        return fail(
            f"in {name} the loss grew from {values[0]:.4g} to {values[-1]:.4g}: step "
            "against the gradient, m <- m - lr * dL/dm (and the same for c)"
        )
    best_m, best_c = least_squares_line()
    if math.isclose(got_m, best_m, abs_tol=FIT_TOLERANCE) and math.isclose(
        got_c, best_c, abs_tol=FIT_TOLERANCE
    ):
        return passed(
            f"{name} found m = {got_m:.4f}, c = {got_c:.4f} (least squares: "
            f"{best_m:.4f}, {best_c:.4f}); the loss fell to {values[-1]:.4g}"
        )
    return fail(
        f"{name} stopped at m = {got_m:.4f}, c = {got_c:.4f}, but least squares gives "
        f"{best_m:.4f}, {best_c:.4f}. Take more steps, and make sure every step "
        "starts from fresh gradients (zero them after each update)"
    )


def linear_fit(line: Any, losses: Any) -> CheckResult:
    """Check an ``nn.Linear(1, 1)`` trained with ``torch.optim.SGD`` on the points.

    Parameters
    ----------
    line
        The trained layer: its weight is the slope, its bias the intercept.
    losses
        The loss recorded at every step.

    Returns
    -------
    CheckResult
    """
    stub = not_done(line, "line")
    if stub is not None:
        return stub
    if not isinstance(line, nn.Linear):
        return fail(f"`line` is a {type(line).__name__}; create it with nn.Linear(1, 1)")
    if line.in_features != 1 or line.out_features != 1 or line.bias is None:
        return fail("`line` should be nn.Linear(1, 1): one input (x), one output (y), a bias")
    slope, intercept = float(line.weight.detach().reshape(())), float(line.bias.detach()[0])
    mean_y = float(torch.tensor(POINTS)[:, 1].mean())
    if math.isclose(slope, 0.0, abs_tol=0.05) and math.isclose(intercept, mean_y, abs_tol=0.05):
        return fail(
            "`line` learned a flat line at the mean of y: the predictions have shape "
            "(3, 1) but the targets (3,), so the loss compared every prediction with every "
            "target (broadcasting). Give the targets shape (3, 1) with .unsqueeze(1)"
        )
    return descent(slope, intercept, losses, name="torch.optim.SGD")
