"""Lesson 00's self-checks: pass on the solution and on other correct forms, name each mistake."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from practicaltorch.checks import lesson00 as check
from tests.checks_helpers import stub

X = torch.tensor([1.0, 2.0, 3.0])
Y = torch.tensor([2.1, 3.9, 6.2])


def loss(m: Any, c: Any, x: Tensor, y: Tensor) -> Tensor:
    return ((y - (m * x + c)) ** 2).mean()


def gradients(m: Any, c: Any, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    residuals = y - (m * x + c)
    return -2 * (x * residuals).mean(), -2 * residuals.mean()


def descend(
    grad: Callable[..., tuple[Any, Any]], lr: float = 0.1, steps: int = 500, reset: bool = True
) -> tuple[float, float, list[float]]:
    """Gradient descent by hand; without ``reset`` the gradients add up, as without zero_()."""
    m, c, losses = 0.0, 0.0, []
    total_m = total_c = 0.0
    for _ in range(steps):
        losses.append(float(loss(m, c, X, Y)))
        dm, dc = grad(m, c, X, Y)
        total_m = float(dm) + (0.0 if reset else total_m)
        total_c = float(dc) + (0.0 if reset else total_c)
        m, c = m - lr * total_m, c - lr * total_c
    return m, c, losses


def test_least_squares_line_matches_lstsq() -> None:
    data = torch.tensor(check.POINTS, dtype=torch.float64)
    design = torch.stack([data[:, 0], torch.ones(3, dtype=torch.float64)], dim=1)
    exact = torch.linalg.lstsq(design, data[:, 1:]).solution.squeeze(1)
    assert check.least_squares_line() == pytest.approx(exact.tolist(), abs=1e-9)


def test_points() -> None:
    right = torch.tensor(check.POINTS)
    assert check.points(right)
    assert check.points(right.flip(0))  # the points in another order fit the same line
    assert check.points(torch.from_numpy(np.array(check.POINTS)).float())
    assert "no value yet" in check.points(None).message
    assert "float64" in check.points(torch.tensor(check.POINTS, dtype=torch.float64)).message
    assert "1.0, not 1" in check.points(torch.tensor([[1, 2], [2, 4], [3, 6]])).message
    assert "permute" in check.points(right.T).message
    assert "swapped" in check.points(right.flip(1)).message
    assert "right numbers" in check.points(right + 1).message
    assert "not a torch.Tensor" in check.points([list(p) for p in check.POINTS]).message


def test_channels_first() -> None:
    images = torch.rand(2, 4, 4, 3)
    assert check.channels_first(images.permute(0, 3, 1, 2), images)
    assert check.channels_first(images.movedim(3, 1).contiguous(), images)
    assert "no value yet" in check.channels_first(None, images).message
    assert "scrambled" in check.channels_first(images.reshape(2, 3, 4, 4), images).message
    assert "swapped" in check.channels_first(images.transpose(1, 3), images).message
    assert not check.channels_first(images, images)


def test_square_gradient() -> None:
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    assert "backward" in check.square_gradient(w).message
    (w**2).sum().backward()
    assert check.square_gradient(w)
    (w**2).sum().backward()
    assert "twice" in check.square_gradient(w).message
    assert "no value yet" in check.square_gradient(None).message
    assert "requires_grad" in check.square_gradient(torch.ones(3)).message
    mean = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (mean**2).mean().backward()
    assert "not their mean" in check.square_gradient(mean).message
    assert "reassigned" in check.square_gradient(mean**2).message


def test_mse_loss() -> None:
    assert check.mse_loss(loss)
    assert check.mse_loss(lambda m, c, x, y: nn.functional.mse_loss(m * x + c, y))
    assert "NotImplementedError" in check.mse_loss(stub).message
    assert "no value yet" in check.mse_loss(None).message
    summed = check.mse_loss(lambda m, c, x, y: ((y - (m * x + c)) ** 2).sum())
    assert "mean" in summed.message
    absolute = check.mse_loss(lambda m, c, x, y: (y - (m * x + c)).abs().mean())
    assert "square" in absolute.message
    root = check.mse_loss(lambda m, c, x, y: ((y - (m * x + c)) ** 2).mean().sqrt())
    assert "sqrt" in root.message
    brackets = check.mse_loss(lambda m, c, x, y: ((y - m * x + c) ** 2).mean())
    assert "brackets" in brackets.message
    number = check.mse_loss(lambda m, c, x, y: loss(m, c, x, y).item())
    assert "backward()" in number.message


def test_mse_gradients() -> None:
    assert check.mse_gradients(gradients)
    assert check.mse_gradients(lambda *a: [float(g) for g in gradients(*a)])
    assert check.mse_gradients(lambda *a: np.array([float(g) for g in gradients(*a)]))
    assert "NotImplementedError" in check.mse_gradients(stub).message

    def flipped(*args: Any) -> tuple[Tensor, Tensor]:
        dm, dc = gradients(*args)
        return -dm, -dc

    def halved(*args: Any) -> tuple[Tensor, Tensor]:
        dm, dc = gradients(*args)
        return dm / 2, dc / 2

    def summed(*args: Any) -> tuple[Tensor, Tensor]:
        dm, dc = gradients(*args)
        return dm * 3, dc * 3

    def no_x(m: Any, c: Any, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        residuals = y - (m * x + c)
        return -2 * residuals.mean(), -2 * residuals.mean()

    assert "wrong sign" in check.mse_gradients(flipped).message
    assert "2" in check.mse_gradients(halved).message
    assert "3 times too large" in check.mse_gradients(summed).message
    assert "factor x" in check.mse_gradients(no_x).message
    assert "swapped" in check.mse_gradients(lambda *a: gradients(*a)[::-1]).message
    assert "two numbers" in check.mse_gradients(lambda *a: 1.0).message


def test_descent() -> None:
    assert check.descent(*descend(gradients))
    m, c, losses = descend(gradients)
    assert check.descent(torch.tensor(m), torch.tensor(c), [torch.tensor(v) for v in losses])
    assert "no value yet" in check.descent(0.0, 0.0, None).message

    def flipped(*args: Any) -> tuple[float, float]:
        dm, dc = gradients(*args)
        return -float(dm), -float(dc)

    wrong_sign = check.descent(*descend(flipped, steps=20))
    assert not wrong_sign
    assert "m - lr * dL/dm" in wrong_sign.message
    blown = check.descent(*descend(gradients, lr=0.25, steps=400))
    assert "NaN or infinity" in blown.message
    assert "more steps" in check.descent(*descend(gradients, steps=5)).message
    assert "add up" in check.descent(*descend(gradients, reset=False)).message
    assert "never changed" in check.descent(0.0, 0.0, [19.35] * 500).message
    assert "at least" not in check.descent(0.0, 0.0, [1.0]).message


def test_descent_rejects_losses_that_keep_their_graphs() -> None:
    m = torch.tensor(0.0, requires_grad=True)
    losses = [loss(m, 0.0, X, Y) for _ in range(3)]
    assert "loss.item()" in check.descent(2.05, -0.0333, losses).message


def train_line(
    targets: Tensor, steps: int = 500, zero: bool = True
) -> tuple[nn.Linear, list[float]]:
    torch.manual_seed(0)
    line = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(line.parameters(), lr=0.1)
    losses = []
    for _ in range(steps):
        value = nn.functional.mse_loss(line(X.unsqueeze(1)), targets)
        value.backward()
        optimizer.step()
        if zero:
            line.zero_grad()  # at the end of the step, through the model: also correct
        losses.append(value.item())
    return line, losses


def test_linear_fit() -> None:
    assert check.linear_fit(*train_line(Y.unsqueeze(1)))
    assert "no value yet" in check.linear_fit(None, []).message
    assert "nn.Linear(1, 1)" in check.linear_fit(nn.Linear(2, 1), []).message
    with pytest.warns(UserWarning, match="broadcast"):
        broadcast = check.linear_fit(*train_line(Y))
    assert "unsqueeze" in broadcast.message
    assert "add up" in check.linear_fit(*train_line(Y.unsqueeze(1), zero=False)).message


def test_fit_tolerance_is_meaningful() -> None:
    best_m, best_c = check.least_squares_line()
    assert math.isclose(best_m, 2.05) and math.isclose(best_c, -1 / 30, abs_tol=1e-12)
