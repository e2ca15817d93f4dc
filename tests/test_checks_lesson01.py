"""Lesson 01's self-checks pass on the worked solution and give the right hint otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from practicaltorch.checks import lesson01 as check

Batches = Iterable[tuple[Tensor, Tensor]]


def stub(*args: Any) -> Any:
    raise NotImplementedError()


def train_one_epoch(
    model: nn.Module,
    loader: Batches,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> float:
    model.train()
    losses = []
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def no_zero_grad(
    model: nn.Module,
    loader: Batches,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> float:
    model.train()
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
    return loss.item()


def zero_grad_before_step(
    model: nn.Module,
    loader: Batches,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> float:
    model.train()
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
    return loss.item()


def evaluate(
    model: nn.Module, loader: Batches, loss_fn: nn.Module, device: torch.device
) -> tuple[float, Tensor, Tensor]:
    model.eval()
    with torch.no_grad():
        pairs = [(model(x.to(device)), y.to(device)) for x, y in loader]
    logits = torch.cat([p for p, _ in pairs])
    targets = torch.cat([t for _, t in pairs])
    return loss_fn(logits, targets).item(), logits, targets


def test_batch() -> None:
    features, targets = torch.randn(32, 30), torch.ones(32, 1)
    assert check.batch(features, targets)
    assert "no value yet" in check.batch(None, None).message
    assert "single tumour" in check.batch(features[0], targets[0]).message
    assert "(32, 1)" in check.batch(features, targets.squeeze(1)).message
    assert "float32" in check.batch(features.double(), targets).message


def test_classifier() -> None:
    assert check.classifier(nn.Linear(30, 1))
    assert "no value yet" in check.classifier(None).message
    with_sigmoid = nn.Sequential(nn.Linear(30, 1), nn.Sigmoid())
    assert "sigmoid" in check.classifier(with_sigmoid).message
    assert "one logit" in check.classifier(nn.Linear(30, 2)).message
    assert "RuntimeError" in check.classifier(nn.Linear(20, 1)).message


def test_first_loss() -> None:
    logits = torch.randn(8, 1, requires_grad=True)
    targets = (torch.arange(8) % 2).float().unsqueeze(1)
    loss_fn = nn.BCEWithLogitsLoss()
    assert check.first_loss(loss_fn(logits, targets), logits, targets)
    assert "no value yet" in check.first_loss(None, logits, targets).message
    squashed = check.first_loss(loss_fn(torch.sigmoid(logits), targets), logits, targets)
    assert "raw logits" in squashed.message
    assert (
        "loss.item()" in check.first_loss(loss_fn(logits, targets).item(), logits, targets).message
    )
    swapped = check.first_loss(loss_fn(targets, torch.sigmoid(logits)), logits, targets)
    assert not swapped


def test_train_one_epoch() -> None:
    assert check.train_one_epoch(train_one_epoch)
    assert "NotImplementedError" in check.train_one_epoch(stub).message
    assert "no value yet" in check.train_one_epoch(None).message
    assert "zero_grad" in check.train_one_epoch(no_zero_grad).message
    assert "did not change" in check.train_one_epoch(zero_grad_before_step).message


def test_evaluate() -> None:
    assert check.evaluate(evaluate)
    assert "NotImplementedError" in check.evaluate(stub).message

    def with_gradients(model: nn.Module, loader: Batches, loss_fn: nn.Module, device: Any) -> Any:
        model.eval()
        logits = torch.cat([model(x) for x, _ in loader])
        targets = torch.cat([y for _, y in loader])
        return loss_fn(logits, targets).item(), logits, targets

    assert "no_grad" in check.evaluate(with_gradients).message

    def still_training(model: nn.Module, loader: Batches, loss_fn: nn.Module, device: Any) -> Any:
        result = evaluate(model, loader, loss_fn, device)
        model.train()
        return result

    assert "model.eval()" in check.evaluate(still_training).message


def test_history() -> None:
    assert check.history({"train_loss": [0.6, 0.3, 0.1], "valid_loss": [0.6, 0.4, 0.2]})
    assert "no value yet" in check.history(None).message
    assert "dict" in check.history([0.6, 0.1]).message
    assert (
        "zero_grad" in check.history({"train_loss": [0.6, 0.6], "valid_loss": [0.6, 0.6]}).message
    )


def test_roc_auc() -> None:
    assert check.roc_auc(0.993)
    assert "no value yet" in check.roc_auc(None).message
    assert "bar" in check.roc_auc(0.95).message
    assert "backwards" in check.roc_auc(0.02).message


def test_nonlinear_model() -> None:
    torch.manual_seed(0)
    deep = nn.Sequential(
        nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)
    )
    assert check.nonlinear_model(deep)
    assert "no value yet" in check.nonlinear_model(None).message
    stacked = nn.Sequential(nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 1))
    assert "nn.ReLU()" in check.nonlinear_model(stacked).message
    assert not check.nonlinear_model(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)))


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (torch.ones(10, 1), "squeeze(1)"),
        (torch.ones(10), ".long()"),
        (torch.full((10,), 2), "0 and 1"),
        (None, "no value yet"),
    ],
)
def test_class_indices_hints(value: Any, hint: str) -> None:
    assert hint in check.class_indices(value, 10).message


def test_class_indices_pass() -> None:
    assert check.class_indices(torch.tensor([0, 1] * 5), 10)
