"""Lesson 05 self-checks: pass on the solution, fail with a hint on stubs and common mistakes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from practicaltorch.checks import lesson05 as check
from practicaltorch.data import ellipse_tensors
from practicaltorch.models import EllipseCNN, transfer_model
from practicaltorch.models.coordconv import coordinate_channels
from practicaltorch.training import History

MEAN = torch.tensor(check.IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(check.IMAGENET_STD).view(1, 3, 1, 1)


def stub(*args: Any) -> Any:
    raise NotImplementedError()


@pytest.fixture(scope="module")
def valid() -> tuple[torch.Tensor, torch.Tensor]:
    return ellipse_tensors(1000, 128, seed=1)


def test_validation_set(
    valid: tuple[torch.Tensor, torch.Tensor], capsys: pytest.CaptureFixture[str]
) -> None:
    images, targets = valid
    assert check.validation_set(images, targets, train_seed=0)
    assert not check.validation_set(None, None)
    assert "YOUR CODE HERE" in capsys.readouterr().out
    assert not check.validation_set(*ellipse_tensors(1000, 128, seed=0), train_seed=0)
    assert "training seed" in capsys.readouterr().out
    assert not check.validation_set(images, targets * 128, train_seed=0)
    assert "not normalised" in capsys.readouterr().out


def test_baseline(
    valid: tuple[torch.Tensor, torch.Tensor], capsys: pytest.CaptureFixture[str]
) -> None:
    _, targets = valid
    _, train = ellipse_tensors(4096, 128, seed=0)
    good = float(((targets - train.mean(0)).abs() * 128).mean())
    assert check.baseline(good, targets)
    assert not check.baseline(None, targets)
    assert not check.baseline(good / 128, targets)
    assert "pixels" in capsys.readouterr().out
    assert not check.baseline(good * 2, targets)


def test_transfer_net(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.transfer_net(transfer_model("mobilenet_v3_small", num_outputs=4), False)
    assert not check.transfer_net(None, False)
    assert not check.transfer_net(transfer_model("mobilenet_v3_small", num_outputs=10), False)
    assert "num_outputs=4" in capsys.readouterr().out


def test_imagenet_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    def good(images: torch.Tensor) -> torch.Tensor:
        return (nn.functional.avg_pool2d(images.float() / 255, 2) - MEAN) / STD

    assert check.imagenet_inputs(good)
    assert not check.imagenet_inputs(stub)
    assert "NotImplementedError" in capsys.readouterr().out
    assert not check.imagenet_inputs(lambda x: (x.float() / 255 - MEAN) / STD)
    assert "full resolution" in capsys.readouterr().out
    assert not check.imagenet_inputs(lambda x: nn.functional.avg_pool2d(x.float() / 255, 2))
    assert "does not normalise" in capsys.readouterr().out
    assert not check.imagenet_inputs(
        lambda x: (nn.functional.avg_pool2d(x.float(), 2) - MEAN) / STD
    )
    assert "divide by 255" in capsys.readouterr().out


def test_coordinates(capsys: pytest.CaptureFixture[str]) -> None:
    def library(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([images, coordinate_channels(images)], dim=1)

    def linspace(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        grid = torch.stack(
            torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        )
        return torch.cat([images, grid.expand(n, -1, -1, -1)], dim=1)

    def xy(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        cols, rows = torch.meshgrid(
            torch.linspace(-1, 1, w), torch.linspace(-1, 1, h), indexing="xy"
        )
        return torch.cat([images, torch.stack([cols, rows]).expand(n, -1, -1, -1)], dim=1)

    def unscaled(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        grid = torch.stack(
            torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        )
        return torch.cat([images, grid.expand(n, -1, -1, -1)], dim=1)

    assert check.coordinates(library)
    assert check.coordinates(linspace)
    assert not check.coordinates(stub)
    assert not check.coordinates(xy)
    assert "swapped" in capsys.readouterr().out
    assert not check.coordinates(unscaled)
    assert "[-1, 1]" in capsys.readouterr().out
    assert not check.coordinates(coordinate_channels)
    assert "torch.cat" in capsys.readouterr().out


def test_history(capsys: pytest.CaptureFixture[str]) -> None:
    good = History(
        [
            {"epoch": 1, "train_loss": 8.0, "valid_mae": 6.5},
            {"epoch": 2, "train_loss": 0.5, "valid_mae": 0.57},
        ]
    )
    assert check.history(good)
    assert not check.history(None)
    fractions = History(
        [
            {"epoch": 1, "train_loss": 8.0, "valid_mae": 0.05},
            {"epoch": 2, "train_loss": 0.5, "valid_mae": 0.0045},
        ]
    )
    assert not check.history(fractions)
    assert "in_pixels" in capsys.readouterr().out
    too_high = History(
        [
            {"epoch": 1, "train_loss": 8.0, "valid_mae": 6.5},
            {"epoch": 2, "train_loss": 2.0, "valid_mae": 2.5},
        ]
    )
    assert not check.history(too_high)


def test_pixel_errors(
    valid: tuple[torch.Tensor, torch.Tensor], capsys: pytest.CaptureFixture[str]
) -> None:
    _, targets = valid
    predicted = targets + 0.004 * torch.randn(
        targets.shape, generator=torch.Generator().manual_seed(0)
    )
    mae = float(((predicted - targets).abs() * 128).mean())
    assert check.pixel_errors(mae, predicted, targets)
    assert not check.pixel_errors(None, predicted, targets)
    assert not check.pixel_errors(mae / 128, predicted, targets)
    assert "multiply by 128" in capsys.readouterr().out
    assert not check.pixel_errors(mae, predicted * 128, targets)
    assert "normalised" in capsys.readouterr().out
    assert not check.pixel_errors(mae, predicted[:10], targets)
    assert check.mae(0.57)
    assert not check.mae(1.4)


def test_model_output_shape() -> None:
    model = EllipseCNN(size=32, channels=(8, 16))
    assert model(ellipse_tensors(2, 32)[0]).shape == (2, 4)
