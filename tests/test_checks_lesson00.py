"""Lesson 00's self-checks pass on the worked solution and give the right hint otherwise."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from practicaltorch.checks import lesson00 as check

X = torch.tensor([1.0, 2.0, 3.0])
Y = torch.tensor([2.1, 3.9, 6.2])


def stub(*args: Any) -> Any:
    raise NotImplementedError()


def loss(m: Any, c: Any, x: Tensor, y: Tensor) -> Tensor:
    return ((y - (m * x + c)) ** 2).mean()


def gradients(m: Any, c: Any, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    residuals = y - (m * x + c)
    return -2 * (x * residuals).mean(), -2 * residuals.mean()


def descend(
    grad: Callable[..., tuple[Any, Any]], lr: float = 0.1, steps: int = 500
) -> tuple[float, float, list[float]]:
    m, c, losses = 0.0, 0.0, []
    for _ in range(steps):
        losses.append(float(loss(m, c, X, Y)))
        dm, dc = grad(m, c, X, Y)
        m, c = m - lr * float(dm), c - lr * float(dc)
    return m, c, losses


def test_least_squares_line_matches_lstsq() -> None:
    data = torch.tensor(check.POINTS, dtype=torch.float64)
    design = torch.stack([data[:, 0], torch.ones(3, dtype=torch.float64)], dim=1)
    exact = torch.linalg.lstsq(design, data[:, 1:]).solution.squeeze(1)
    assert check.least_squares_line() == pytest.approx(exact.tolist(), abs=1e-9)


def test_points() -> None:
    assert check.points(torch.tensor(check.POINTS))
    assert "no value yet" in check.points(None).message
    assert "float64" in check.points(torch.tensor(check.POINTS, dtype=torch.float64)).message
    assert "permute" in check.points(torch.tensor(check.POINTS).T).message
    assert "right numbers" in check.points(torch.tensor(check.POINTS).flip(1)).message
    assert "not a torch.Tensor" in check.points([list(p) for p in check.POINTS]).message


def test_channels_first() -> None:
    images = torch.rand(2, 4, 5, 3)
    assert check.channels_first(images.permute(0, 3, 1, 2), images)
    assert "no value yet" in check.channels_first(None, images).message
    assert "scrambled" in check.channels_first(images.reshape(2, 3, 4, 5), images).message
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


def test_mse_loss() -> None:
    assert check.mse_loss(loss)
    assert "NotImplementedError" in check.mse_loss(stub).message
    assert "no value yet" in check.mse_loss(None).message
    summed = check.mse_loss(lambda m, c, x, y: ((y - (m * x + c)) ** 2).sum())
    assert "mean" in summed.message
    absolute = check.mse_loss(lambda m, c, x, y: (y - (m * x + c)).abs().mean())
    assert "square" in absolute.message


def test_mse_gradients() -> None:
    assert check.mse_gradients(gradients)
    assert "NotImplementedError" in check.mse_gradients(stub).message

    def flipped(*args: Any) -> tuple[Tensor, Tensor]:
        dm, dc = gradients(*args)
        return -dm, -dc

    def halved(*args: Any) -> tuple[Tensor, Tensor]:
        dm, dc = gradients(*args)
        return dm / 2, dc / 2

    assert "wrong sign" in check.mse_gradients(flipped).message
    assert "2" in check.mse_gradients(halved).message
    assert "swapped" in check.mse_gradients(lambda *a: gradients(*a)[::-1]).message
    assert "two numbers" in check.mse_gradients(lambda *a: 1.0).message


def test_descent() -> None:
    assert check.descent(*descend(gradients))
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


def train_line(targets: Tensor, steps: int = 500) -> tuple[nn.Linear, list[float]]:
    torch.manual_seed(0)
    line = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(line.parameters(), lr=0.1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        value = nn.functional.mse_loss(line(X.unsqueeze(1)), targets)
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return line, losses


def test_linear_fit() -> None:
    assert check.linear_fit(*train_line(Y.unsqueeze(1)))
    assert "no value yet" in check.linear_fit(None, []).message
    assert "nn.Linear(1, 1)" in check.linear_fit(nn.Linear(2, 1), []).message
    with pytest.warns(UserWarning, match="broadcast"):
        broadcast = check.linear_fit(*train_line(Y))
    assert "unsqueeze" in broadcast.message


def test_fit_tolerance_is_meaningful() -> None:
    best_m, best_c = check.least_squares_line()
    assert math.isclose(best_m, 2.05) and math.isclose(best_c, -1 / 30, abs_tol=1e-12)
