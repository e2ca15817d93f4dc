"""Lesson 05 self-checks: pass on right answers, fail with a hint on stubs and common mistakes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from practicaltorch.checks import lesson05 as check
from practicaltorch.data import ellipse_tensors
from practicaltorch.models import EllipseCNN, transfer_model
from practicaltorch.models.coordconv import coordinate_channels
from practicaltorch.training import History
from tests.checks_helpers import eval_predictions, said, stub

MEAN = torch.tensor(check.IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(check.IMAGENET_STD).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def valid() -> tuple[torch.Tensor, torch.Tensor]:
    return ellipse_tensors(1000, 128, seed=1)


@pytest.fixture(scope="module")
def train_mean() -> torch.Tensor:
    return ellipse_tensors(4096, 16, seed=0)[1].mean(dim=0)


def test_validation_set(
    valid: tuple[torch.Tensor, torch.Tensor], capsys: pytest.CaptureFixture[str]
) -> None:
    images, targets = valid
    assert check.validation_set(images, targets, train_seed=0)
    later = ellipse_tensors(1000, 128, seed=0, start=check.TRAIN_ITEMS)  # never trained on
    assert check.validation_set(*later, train_seed=0)
    assert not check.validation_set(None, None)
    assert said(capsys, "YOUR CODE HERE")
    assert not check.validation_set(*ellipse_tensors(1000, 128, seed=0), train_seed=0)
    assert said(capsys, "training seed")
    overlapping = ellipse_tensors(1000, 128, seed=0, start=4096)  # epoch 2 draws these
    assert not check.validation_set(*overlapping, train_seed=0)
    assert said(capsys, "image 4096 of the training seed")
    assert not check.validation_set(images, targets * 128, train_seed=0)
    assert said(capsys, "not normalised")
    assert not check.validation_set(images[:500], targets[:500], train_seed=0)
    assert said(capsys, "expected (1000, 3, 128, 128)")


def test_validation_set_finds_one_shared_image(
    valid: tuple[torch.Tensor, torch.Tensor], capsys: pytest.CaptureFixture[str]
) -> None:
    images, targets = valid
    mixed = targets.clone()
    mixed[700] = ellipse_tensors(1, 16, seed=0, start=9000)[1][0]  # one trained-on target
    mixed[900] = ellipse_tensors(1, 16, seed=0, start=12)[1][0]
    assert not check.validation_set(images, mixed, train_seed=0)
    assert said(capsys, "valid image 700 is image 9000 of the training seed")


def test_baseline(
    valid: tuple[torch.Tensor, torch.Tensor],
    train_mean: torch.Tensor,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, targets = valid
    good = float(((targets - train_mean).abs() * 128).mean())
    assert check.baseline(good, train_mean, targets)
    assert check.baseline(torch.tensor(good), train_mean.double(), targets)
    assert not check.baseline(None, train_mean, targets)
    assert not check.baseline(good, None, targets)
    assert said(capsys, "`mean_target` has no value yet")
    assert not check.baseline(good / 128, train_mean, targets)
    assert said(capsys, "pixels")
    assert not check.baseline(good * 2, train_mean, targets)
    assert said(capsys, f"expected {good:.4g} px")
    leaked = targets.mean(dim=0)
    assert not check.baseline(float(((targets - leaked).abs() * 128).mean()), leaked, targets)
    assert said(capsys, "mean of the validation targets")
    assert not check.baseline(good, train_mean.tolist(), targets)
    assert said(capsys, "keep it a tensor")
    assert not check.baseline(good, train_mean * 128, targets)
    assert said(capsys, "in pixels")
    rmse = float((((targets - train_mean) * 128) ** 2).mean().sqrt())
    assert not check.baseline(rmse, train_mean, targets)
    assert said(capsys, "root mean squared")


def test_transfer_net(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.transfer_net(transfer_model("mobilenet_v3_small", num_outputs=4), False)
    assert not check.transfer_net(None, False)
    assert not check.transfer_net(transfer_model("mobilenet_v3_small", num_outputs=10), False)
    assert said(capsys, "num_outputs=4")
    plain = resnet18(num_classes=4)
    assert not check.transfer_net(plain, False)
    assert said(capsys, "transfer_model(...)")
    assert not check.transfer_net(transfer_model("mobilenet_v3_small", num_outputs=4), "yes")
    assert said(capsys, "True or False")


def good_inputs(images: torch.Tensor) -> torch.Tensor:
    x = nn.functional.avg_pool2d(images.float() / 255, 2)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def test_imagenet_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.imagenet_inputs(good_inputs)
    assert check.imagenet_inputs(lambda x: nn.functional.avg_pool2d((x / 255 - MEAN) / STD, 2))
    assert check.imagenet_inputs(
        lambda x: (
            (nn.functional.interpolate(x.float() / 255, scale_factor=0.5, mode="area") - MEAN) / STD
        )
    )
    assert not check.imagenet_inputs(stub)
    assert said(capsys, "NotImplementedError")
    assert not check.imagenet_inputs(lambda x: (nn.functional.avg_pool2d(x, 2) - MEAN) / STD)
    assert said(capsys, "Convert to float first")  # torch's NotImplementedError is no stub
    assert not check.imagenet_inputs(lambda x: (x.float() / 255 - MEAN) / STD)
    assert said(capsys, "full resolution")
    assert not check.imagenet_inputs(lambda x: nn.functional.avg_pool2d(x.float() / 255, 2))
    assert said(capsys, "does not normalise")
    assert not check.imagenet_inputs(
        lambda x: (nn.functional.avg_pool2d(x.float(), 2) - MEAN) / STD
    )
    assert said(capsys, "divide by 255")
    assert not check.imagenet_inputs(
        lambda x: (nn.functional.max_pool2d(x.float() / 255, 2) - MEAN) / STD
    )
    assert said(capsys, "average them")

    def own(x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.avg_pool2d(x.float() / 255, 2)
        return (y - y.mean()) / y.std()

    assert not check.imagenet_inputs(own)
    assert said(capsys, "own statistics")
    flat_mean, flat_std = torch.tensor(check.IMAGENET_MEAN), torch.tensor(check.IMAGENET_STD)
    assert not check.imagenet_inputs(
        lambda x: (nn.functional.avg_pool2d(x.float() / 255, 2) - flat_mean) / flat_std
    )
    assert said(capsys, ".view(1, 3, 1, 1)")


def test_coordinates(capsys: pytest.CaptureFixture[str]) -> None:
    def library(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([images, coordinate_channels(images)], dim=1)

    def linspace(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        grid = torch.stack(
            torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        )
        return torch.cat([images, grid.expand(n, -1, -1, -1)], dim=1)

    def arange(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        rows = (2 * torch.arange(h) / (h - 1) - 1).view(1, 1, h, 1).expand(n, 1, h, w)
        cols = (2 * torch.arange(w) / (w - 1) - 1).view(1, 1, 1, w).expand(n, 1, h, w)
        return torch.cat([images, rows, cols], dim=1)

    def grid_of(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        n = len(images)
        grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"))
        return torch.cat([images, grid.expand(n, -1, -1, -1)], dim=1)

    def xy(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        cols, rows = torch.meshgrid(
            torch.linspace(-1, 1, w), torch.linspace(-1, 1, h), indexing="xy"
        )
        return torch.cat([images, torch.stack([cols, rows]).expand(n, -1, -1, -1)], dim=1)

    def unscaled(images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        return grid_of(images, torch.arange(h).float(), torch.arange(w).float())

    def unit(images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        return grid_of(images, torch.linspace(0, 1, h), torch.linspace(0, 1, w))

    assert check.coordinates(library)
    assert check.coordinates(linspace)
    assert check.coordinates(arange)
    assert not check.coordinates(stub)
    assert not check.coordinates(xy)
    assert said(capsys, "swapped")
    assert not check.coordinates(unscaled)
    assert said(capsys, "[-1, 1]")
    assert not check.coordinates(unit)
    assert said(capsys, "from 0 to 1")
    assert not check.coordinates(coordinate_channels)
    assert said(capsys, "torch.cat")
    assert not check.coordinates(lambda x: torch.cat([coordinate_channels(x), x], dim=1))
    assert said(capsys, "put them first")


def history_of(mae: list[float], loss: list[float], lr: list[float]) -> History:
    return History(
        [
            {"epoch": i + 1, "lr": r, "train_loss": t, "valid_mae": m}
            for i, (m, t, r) in enumerate(zip(mae, loss, lr, strict=True))
        ]
    )


def test_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.history(history_of([6.5, 0.57], [8.0, 0.5], [3e-3, 1e-8]))
    assert not check.history(None)
    assert not check.history(History([{"epoch": 1, "train_loss": 8.0}]))
    assert said(capsys, "metric_transform=in_pixels")
    assert not check.history(history_of([0.05, 0.0045], [8.0, 0.5], [3e-3, 1e-8]))
    assert said(capsys, "in_pixels")
    assert not check.history(history_of([6.5, 2.5], [8.0, 2.0], [3e-3, 1e-8]))
    assert said(capsys, "the bar")
    assert not check.history(history_of([6.5, 0.57], [8.0, 0.5], [3e-3, 3e-3]))
    assert said(capsys, "scheduler=scheduler")
    assert not check.history(history_of([6.5, 5.0], [8.0, 7.0], [3e-3, 1e-8]))
    assert said(capsys, "at least 50%")


@pytest.fixture(scope="module")
def predictions() -> dict[str, Any]:
    torch.manual_seed(0)
    images, targets = ellipse_tensors(40, 32, seed=1)
    net = EllipseCNN(size=32, channels=(8, 16))
    predicted = eval_predictions(net, images)
    return {"net": net, "images": images, "targets": targets, "predicted": predicted}


def test_pixel_errors(predictions: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    p = predictions
    targets, predicted = p["targets"], p["predicted"]
    kw = {"net": p["net"], "valid_images": p["images"], "size": 32}
    errors = (predicted - targets).abs() * 32
    mae = errors.mean().item()
    assert check.pixel_errors(mae, predicted, errors, targets, **kw)
    assert p["net"].training, "the check must leave the model's mode alone"
    assert check.pixel_errors(torch.tensor(mae), predicted, errors, targets, size=32)
    assert not check.pixel_errors(None, predicted, errors, targets, **kw)
    assert not check.pixel_errors(mae / 32, predicted, errors, targets, **kw)
    assert said(capsys, "multiply by 32")
    assert not check.pixel_errors(mae, predicted * 32, errors, targets, size=32)
    assert said(capsys, "normalised")
    assert not check.pixel_errors(mae, predicted[:10], errors, targets, **kw)
    assert said(capsys, "stored order")
    with torch.no_grad():
        train_mode = copy.deepcopy(p["net"])(p["images"])  # a copy: this moves batch norm
    train_errors = (train_mode - targets).abs() * 32
    assert not check.pixel_errors(
        train_errors.mean().item(), train_mode, train_errors, targets, **kw
    )
    assert said(capsys, "model.eval()")
    assert not check.pixel_errors(mae, predicted, (predicted - targets) * 32, targets, **kw)
    assert said(capsys, ".abs()")
    assert not check.pixel_errors(mae, predicted, errors / 32, targets, **kw)
    assert said(capsys, "`errors_px` are fractions")
    rmse = float((errors**2).mean().sqrt())
    assert not check.pixel_errors(rmse, predicted, errors, targets, **kw)
    assert said(capsys, "root mean squared")
    assert not check.pixel_errors(mae, predicted.requires_grad_(), errors, targets, **kw)
    assert said(capsys, "torch.no_grad()")


def test_pixel_errors_recompute_a_spread_of_predictions(capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    images, targets = ellipse_tensors(3 * check.RECHECKED, 32, seed=2)
    net = EllipseCNN(size=32, channels=(8, 16))
    predicted = eval_predictions(net, images)
    kw = {"net": net, "valid_images": images, "size": 32}

    def verdict(values: torch.Tensor) -> bool:
        errors = (values - targets).abs() * 32
        return bool(check.pixel_errors(errors.mean().item(), values, errors, targets, **kw))

    assert verdict(predicted)
    shuffled = predicted[torch.randperm(len(predicted), generator=torch.Generator().manual_seed(0))]
    assert not verdict(shuffled)
    assert said(capsys, "stored order")
    late = predicted.clone()
    late[-50:] = late[-50:].roll(1, dims=0)  # only the last batch out of order
    assert not verdict(late)
    assert said(capsys, "stored order")


def test_mae() -> None:
    assert check.mae(0.57)
    assert not check.mae(1.4)


def resnet_with(**layers: nn.Module) -> nn.Module:
    """A fresh ResNet-18 (random weights, no download) with some layers replaced."""
    torch.manual_seed(0)
    net = resnet18(weights=None)
    for name, layer in layers.items():
        setattr(net, name, layer)
    return net


def test_resnet_head_accepts_correct_forms(capsys: pytest.CaptureFixture[str]) -> None:
    net = resnet18(weights=None)
    net.fc = nn.Linear(net.fc.in_features, 4)  # the worked solution
    assert check.resnet_head(net)
    assert said(capsys, "512 features in, 4 out")
    assert check.resnet_head(resnet_with(fc=nn.Linear(512, 4, bias=False)))
    assert check.resnet_head(resnet_with(fc=nn.Sequential(nn.Dropout(0.2), nn.Linear(512, 4))))
    assert check.resnet_head(resnet18(num_classes=4))
    wide = resnet_with(fc=nn.Sequential(nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 4)))
    assert check.resnet_head(wide)
    assert wide.training, "the check must leave the model's mode alone"


def test_resnet_head_rejects_mistakes(capsys: pytest.CaptureFixture[str]) -> None:
    assert not check.resnet_head(None)
    assert said(capsys, "`resnet` has no value yet")
    mistakes = [
        ({}, "still the original head, with 1000 outputs"),  # the stub, or a layer never assigned
        ({"fc": nn.Linear(1000, 4)}, "1000 inputs (the old head's out_features)"),
        ({"fc": nn.Linear(2048, 4)}, "takes 2048 inputs, but the layers before it give 512"),
        ({"fc": nn.Linear(512, 1)}, "gives 1 numbers per image, expected 4"),
        ({"fc": nn.Sequential(nn.Linear(256, 4))}, "must take resnet.fc.in_features"),
        ({"avgpool": nn.Linear(512, 4)}, "`resnet.avgpool` was changed (now Linear)"),
        ({"layer4": nn.Linear(512, 4)}, "`resnet.layer4` was changed"),
        ({"head": nn.Linear(512, 4)}, "`resnet.head` is a new layer that ResNet's forward never"),
        ({"fc": nn.Sequential(nn.Linear(512, 4), nn.Softmax(1))}, "leave out the softmax"),
    ]
    for layers, hint in mistakes:
        assert not check.resnet_head(resnet_with(**layers)), hint
        assert said(capsys, hint)
    assert not check.resnet_head(resnet18)
    assert said(capsys, "call it")
    body = list(resnet18(weights=None).children())[:-1]
    assert not check.resnet_head(nn.Sequential(*body, nn.Flatten(), nn.Linear(512, 4)))
    assert said(capsys, "not a torchvision ResNet")
