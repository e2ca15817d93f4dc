"""Lesson 04 self-checks: pass on the solution, fail with a hint on stubs and common mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import transforms

from practicaltorch.checks import lesson04 as check
from practicaltorch.data import MNIST, TensorBatches
from practicaltorch.data.mnist import MNIST_MEAN, MNIST_STD
from practicaltorch.models import DigitCNN
from practicaltorch.training import History

NORMALISE = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))


def stub(*args: Any) -> Any:
    raise NotImplementedError()


def good_train_epoch(
    model: nn.Module, loader: Any, loss_fn: Any, optimizer: Any, device: Any
) -> float:
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def good_accuracy(model: nn.Module, loader: Any, device: Any) -> float:
    model.eval()
    correct, count = 0, 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x.to(device)).argmax(1) == y).sum())
            count += len(y)
    return correct / count


def good_prepare(array: Any) -> torch.Tensor:
    x = torch.tensor(np.array(array), dtype=torch.float32) / 255
    return ((x - MNIST_MEAN) / MNIST_STD)[None, None]


def test_image_tensor(capsys: pytest.CaptureFixture[str]) -> None:
    image = transforms.ToPILImage()(torch.rand(1, 28, 28))
    assert check.image_tensor(transforms.ToTensor()(image))
    assert not check.image_tensor(None)
    assert "YOUR CODE HERE" in capsys.readouterr().out
    assert not check.image_tensor(transforms.PILToTensor()(image))
    assert "PILToTensor" in capsys.readouterr().out
    assert not check.image_tensor(torch.rand(28, 28))
    assert "channel dimension" in capsys.readouterr().out
    assert not check.image_tensor(image)
    assert "not a tensor" in capsys.readouterr().out


def test_normalised_dataset(mnist_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = MNIST(
        mnist_root, train=False, transform=transforms.Compose([transforms.ToTensor(), NORMALISE])
    )
    assert check.normalised_dataset(good, name="test_set")
    assert not check.normalised_dataset(None)
    assert "YOUR CODE HERE" in capsys.readouterr().out
    unscaled = MNIST(mnist_root, train=False, transform=transforms.ToTensor())
    assert not check.normalised_dataset(unscaled)
    assert "Normalize" in capsys.readouterr().out
    assert not check.normalised_dataset(MNIST(mnist_root, train=False))
    assert "transform=" in capsys.readouterr().out


def test_augmentation(capsys: pytest.CaptureFixture[str]) -> None:
    good = transforms.Compose(
        [transforms.RandomAffine(10, translate=(0.1, 0.1)), transforms.ToTensor(), NORMALISE]
    )
    assert check.augmentation(good)
    assert not check.augmentation(None)
    assert not check.augmentation(transforms.Compose([transforms.ToTensor(), NORMALISE]))
    assert "same tensor every time" in capsys.readouterr().out
    no_norm = transforms.Compose(
        [transforms.RandomAffine(10, translate=(0.1, 0.1)), transforms.ToTensor()]
    )
    assert not check.augmentation(no_norm)
    assert "not normalised" in capsys.readouterr().out


def test_sizes_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.sizes_by_hand([24, 12, 6], [24, 12, 6])
    assert not check.sizes_by_hand(None, [24, 12, 6])
    assert not check.sizes_by_hand([26, 13, 7], [24, 12, 6])
    assert "layer 1" in capsys.readouterr().out
    assert not check.sizes_by_hand([24, 12, 7], [24, 12, 6])
    assert "layer 3" in capsys.readouterr().out


def test_conv_output_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.conv_output_size(lambda n, k, s=1, p=0: (n + 2 * p - k) // s + 1)
    assert not check.conv_output_size(stub)
    assert "NotImplementedError" in capsys.readouterr().out
    assert not check.conv_output_size(lambda n, k, s=1, p=0: (n + 2 * p - k) // s)
    assert "+ 1" in capsys.readouterr().out
    assert not check.conv_output_size(lambda n, k, s=1, p=0: (n + p - k) // s + 1)
    assert "2 * padding" in capsys.readouterr().out
    assert not check.conv_output_size(lambda n, k, s=1, p=0: (n + 2 * p - k) / s + 1)
    assert "//" in capsys.readouterr().out


def test_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.model(DigitCNN())
    assert not check.model(None)
    no_flatten = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Linear(26, 10))
    assert not check.model(no_flatten)
    assert "Flatten" in capsys.readouterr().out
    wrong_features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 28 * 28, 10))
    assert not check.model(wrong_features)
    assert "in_features" in capsys.readouterr().out
    softmax = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(dim=1))
    assert not check.model(softmax)
    assert "softmax" in capsys.readouterr().out
    assert not check.model(DigitCNN, name="my_model")
    assert "a class" in capsys.readouterr().out


def test_train_and_accuracy_functions(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.train_function(good_train_epoch)
    assert check.accuracy_function(good_accuracy)
    assert not check.train_function(stub)
    assert not check.accuracy_function(stub)
    assert "NotImplementedError" in capsys.readouterr().out

    def no_zero_grad(
        model: nn.Module, loader: Any, loss_fn: Any, optimizer: Any, device: Any
    ) -> float:
        model.train()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        return loss.item()

    assert not check.train_function(no_zero_grad)
    assert "zero_grad" in capsys.readouterr().out

    def percent(model: nn.Module, loader: Any, device: Any) -> float:
        return 100 * good_accuracy(model, loader, device)

    assert not check.accuracy_function(percent)
    assert "percentage" in capsys.readouterr().out

    def train_mode(model: nn.Module, loader: Any, device: Any) -> float:
        model.train()
        with torch.no_grad():
            return sum(float((model(x).argmax(1) == y).float().mean()) for x, y in loader) / 3

    assert not check.accuracy_function(train_mode)
    assert "model.eval()" in capsys.readouterr().out


def test_losses_and_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.losses([0.6, 0.17])
    assert not check.losses([0.6, 0.58])
    assert not check.losses(None)
    assert check.quick_accuracy(0.94)
    assert not check.quick_accuracy(0.5)
    assert not check.quick_accuracy(None)


def test_fast_batches(capsys: pytest.CaptureFixture[str]) -> None:
    x = torch.randn(512, 1, 28, 28)
    y = torch.randint(0, 10, (512,))
    good = TensorBatches(x, y, 256, shuffle=True, memory_format=torch.channels_last)
    before = good.state_dict()["generator"].clone()
    assert check.fast_batches(good)
    assert torch.equal(good.state_dict()["generator"], before), "the check changed the order"
    assert not check.fast_batches(None)
    assert not check.fast_batches(TensorBatches(x, y, 256, shuffle=True))
    assert "channels_last" in capsys.readouterr().out
    assert not check.fast_batches(TensorBatches(x, y, 256, memory_format=torch.channels_last))
    assert "shuffle=True" in capsys.readouterr().out


def test_history(capsys: pytest.CaptureFixture[str]) -> None:
    good = History(
        [
            {"epoch": 1, "train_loss": 0.55, "valid_accuracy": 0.98},
            {"epoch": 2, "train_loss": 0.02, "valid_accuracy": 0.9917},
        ]
    )
    assert check.history(good)
    assert not check.history(None)
    no_metrics = History([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.1}])
    assert not check.history(no_metrics)
    assert "multiclass_metrics" in capsys.readouterr().out


def test_confusion_and_precision_recall(capsys: pytest.CaptureFixture[str]) -> None:
    matrix = torch.tensor([[50, 2, 0], [5, 40, 3], [0, 0, 30]])
    correct = matrix.diagonal().double()
    precision = correct / matrix.sum(0)
    recall = correct / matrix.sum(1)
    f1 = 2 * precision * recall / (precision + recall)
    assert check.precision_recall_f1(precision, recall, f1, matrix)
    assert not check.precision_recall_f1(None, recall, f1, matrix)
    assert not check.precision_recall_f1(recall, precision, f1, matrix)
    assert "swapped" in capsys.readouterr().out
    assert not check.precision_recall_f1(precision.mean(), recall, f1, matrix)
    assert "single number" in capsys.readouterr().out
    assert not check.precision_recall_f1(precision, recall, (precision + recall) / 2, matrix)
    assert "`f1`" in capsys.readouterr().out
    assert check.confusion(matrix, total=130, n_classes=3)
    assert not check.confusion(matrix, total=10_000, n_classes=3)
    assert not check.confusion(None)


def test_prepare_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.prepare_function(good_prepare)
    assert not check.prepare_function(stub)
    assert "NotImplementedError" in capsys.readouterr().out
    assert not check.prepare_function(lambda a: good_prepare(a)[0, 0])
    assert "unsqueeze" in capsys.readouterr().out
    assert not check.prepare_function(lambda a: good_prepare(a)[0])
    assert "unsqueeze once more" in capsys.readouterr().out
    assert not check.prepare_function(
        lambda a: torch.tensor(np.array(a), dtype=torch.float32)[None, None] / 255
    )
    assert "normalise like the training data" in capsys.readouterr().out
    assert not check.prepare_function(
        lambda a: torch.tensor(np.array(a), dtype=torch.float32)[None, None]
    )
    assert "divide by 255" in capsys.readouterr().out
    assert not check.prepare_function(lambda a: good_prepare(a).double())
    assert "float32" in capsys.readouterr().out


def test_probabilities(capsys: pytest.CaptureFixture[str]) -> None:
    logits = torch.randn(1, 10)
    assert check.probabilities(torch.softmax(logits, dim=1))
    assert not check.probabilities(None)
    assert not check.probabilities(logits * 5)
    assert not check.probabilities(torch.softmax(logits, dim=1)[0])
    assert "(1, 10)" in capsys.readouterr().out
