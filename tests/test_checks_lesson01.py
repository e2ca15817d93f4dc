"""Lesson 01's self-checks: pass on the solution and on other correct forms, name each mistake."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from practicaltorch.checks import lesson01 as check
from practicaltorch.data.cancer import BreastCancer
from tests.checks_helpers import (
    CORRECT_TRAINING,
    WRONG_TRAINING,
    output,
    stub,
    train_zero_first,
)

Batches = Iterable[tuple[Tensor, Tensor]]


def evaluate(
    model: nn.Module, loader: Batches, loss_fn: nn.Module, device: torch.device
) -> tuple[float, Tensor, Tensor]:
    model.eval()
    with torch.no_grad():
        pairs = [(model(x.to(device)), y.to(device)) for x, y in loader]
    logits = torch.cat([p for p, _ in pairs])
    targets = torch.cat([t for _, t in pairs])
    return loss_fn(logits, targets).item(), logits, targets


def train_model(
    model: nn.Module,
    train_loader: Batches,
    valid_loader: Batches,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epochs: int,
) -> dict[str, list[float]]:
    history: dict[str, list[float]] = {"train_loss": [], "valid_loss": []}
    for _ in range(epochs):
        history["train_loss"].append(
            train_zero_first(model, train_loader, loss_fn, optimizer, device)
        )
        history["valid_loss"].append(evaluate(model, valid_loader, loss_fn, device)[0])
    return history


@pytest.fixture(scope="module")
def sets() -> tuple[BreastCancer, BreastCancer]:
    return BreastCancer(train=True), BreastCancer(train=False)


def test_batch(sets: tuple[BreastCancer, BreastCancer]) -> None:
    train_set, valid_set = sets
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    valid_loader = DataLoader(valid_set, batch_size=256)
    features, targets = next(iter(train_loader))
    assert check.batch(features, targets, train_loader, valid_loader)
    assert check.batch(features, targets, train_loader, DataLoader(valid_set, shuffle=True))
    assert "no value yet" in check.batch(None, None).message
    assert "single tumour" in check.batch(features[0], targets[0]).message
    assert "(32, 1)" in check.batch(features, targets.squeeze(1)).message
    assert "float32" in check.batch(features.double(), targets).message
    unshuffled = DataLoader(train_set, batch_size=32)
    assert "shuffle=True" in check.batch(features, targets, unshuffled, valid_loader).message
    leaky = DataLoader(train_set, batch_size=256)
    assert "training tumours" in check.batch(features, targets, train_loader, leaky).message
    valid_x, valid_y = next(iter(valid_loader))
    assert "not valid_loader" in check.batch(valid_x, valid_y).message


def test_classifier() -> None:
    assert check.classifier(nn.Linear(30, 1))
    assert check.classifier(nn.Sequential(nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 1)))
    assert "no value yet" in check.classifier(None).message
    with_sigmoid = nn.Sequential(nn.Linear(30, 1), nn.Sigmoid())
    assert "sigmoid" in check.classifier(with_sigmoid).message
    assert "one logit" in check.classifier(nn.Linear(30, 2)).message
    wrong_inputs = check.classifier(nn.Linear(20, 1)).message
    assert "RuntimeError" in wrong_inputs and "in_features must be 30" in wrong_inputs
    assert "create an instance" in check.classifier(nn.Linear).message


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
    assert "logits first" in swapped.message
    with torch.no_grad():
        untracked = loss_fn(logits, targets)
    assert "no_grad" in check.first_loss(untracked, logits, targets).message


@pytest.mark.parametrize("train", CORRECT_TRAINING)
def test_train_one_epoch_accepts_correct_forms(train: Any) -> None:
    assert check.train_one_epoch(train)


@pytest.mark.parametrize(("train", "hint"), WRONG_TRAINING)
def test_train_one_epoch_names_each_mistake(
    train: Any, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not check.train_one_epoch(train)
    assert hint in output(capsys)


def test_train_one_epoch_stub() -> None:
    assert "NotImplementedError" in check.train_one_epoch(stub).message
    assert "no value yet" in check.train_one_epoch(None).message


def test_evaluate() -> None:
    assert check.evaluate(evaluate)
    assert "NotImplementedError" in check.evaluate(stub).message

    def restores_training(model: nn.Module, loader: Batches, loss_fn: Any, device: Any) -> Any:
        result = evaluate(model, loader, loss_fn, device)
        model.train()  # harmless: train_one_epoch switches modes itself
        return result

    assert check.evaluate(restores_training)

    def with_gradients(model: nn.Module, loader: Batches, loss_fn: nn.Module, device: Any) -> Any:
        model.eval()
        logits = torch.cat([model(x) for x, _ in loader])
        targets = torch.cat([y for _, y in loader])
        return loss_fn(logits, targets).item(), logits, targets

    assert "no_grad" in check.evaluate(with_gradients).message

    def no_eval(model: nn.Module, loader: Batches, loss_fn: nn.Module, device: Any) -> Any:
        with torch.no_grad():
            pairs = [(model(x), y) for x, y in loader]
        logits, targets = torch.cat([p for p, _ in pairs]), torch.cat([t for _, t in pairs])
        return loss_fn(logits, targets).item(), logits, targets

    assert "model.eval()" in check.evaluate(no_eval).message

    def last_batch(model: nn.Module, loader: Batches, loss_fn: nn.Module, device: Any) -> Any:
        model.eval()
        with torch.no_grad():
            for batch in loader:
                logits, targets = model(batch[0]), batch[1]
        return loss_fn(logits, targets).item(), logits, targets

    assert "torch.cat" in check.evaluate(last_batch).message


def test_train_model() -> None:
    assert check.train_model(train_model)
    assert "NotImplementedError" in check.train_model(stub).message

    def valid_on_train(model: Any, train: Any, valid: Any, *rest: Any) -> Any:
        return train_model(model, train, train, *rest)

    assert "evaluates on the training batches" in check.train_model(valid_on_train).message

    def trains_on_valid(model: Any, train: Any, valid: Any, *rest: Any) -> Any:
        return train_model(model, valid, valid, *rest)

    assert "trains on the validation batches" in check.train_model(trains_on_valid).message

    def tuples(model: Any, train: Any, valid: Any, loss_fn: Any, opt: Any, dev: Any, n: int) -> Any:
        history: dict[str, list[Any]] = {"train_loss": [], "valid_loss": []}
        for _ in range(n):
            history["train_loss"].append(train_zero_first(model, train, loss_fn, opt, dev))
            history["valid_loss"].append(evaluate(model, valid, loss_fn, dev))
        return history

    assert "only the loss" in check.train_model(tuples).message


def test_history() -> None:
    assert check.history({"train_loss": [0.6, 0.3, 0.1], "valid_loss": [0.6, 0.4, 0.2]})
    assert "no value yet" in check.history(None).message
    assert "dict" in check.history([0.6, 0.1]).message
    assert (
        "zero_grad" in check.history({"train_loss": [0.6, 0.6], "valid_loss": [0.6, 0.6]}).message
    )


def _scores(data: BreastCancer) -> tuple[Tensor, Tensor]:
    """Scores that rank the tumours well: a least-squares fit on the training split."""
    train = BreastCancer(train=True)
    design = torch.cat([train.features, torch.ones(len(train), 1)], dim=1).double()
    weights = torch.linalg.lstsq(design, train.targets.double() * 2 - 1).solution
    logits = torch.cat([data.features, torch.ones(len(data), 1)], dim=1).double() @ weights
    return logits.float(), data.targets


def test_roc_auc(sets: tuple[BreastCancer, BreastCancer]) -> None:
    train_set, valid_set = sets
    assert check.roc_auc(0.993)
    logits, targets = _scores(valid_set)
    auc = check._auc(logits.reshape(-1).double(), targets.reshape(-1))
    assert check.roc_auc(auc, logits, targets, bar=0.9)
    assert check.roc_auc(torch.tensor(auc), torch.sigmoid(logits), targets, bar=0.9)
    assert "no value yet" in check.roc_auc(None).message
    assert "bar" in check.roc_auc(0.95).message
    assert "backwards" in check.roc_auc(0.02).message
    train_logits, train_targets = _scores(train_set)
    train_auc = check._auc(train_logits.reshape(-1).double(), train_targets.reshape(-1))
    leaky = check.roc_auc(train_auc, train_logits, train_targets, bar=0.9)
    assert "training tumours" in leaky.message
    hard = check._auc((logits > 0).double().reshape(-1), targets.reshape(-1))
    assert "0/1 predictions" in check.roc_auc(hard, logits, targets, bar=0.9).message


def test_nonlinear_model() -> None:
    torch.manual_seed(0)
    deep = nn.Sequential(
        nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)
    )
    assert check.nonlinear_model(deep)
    assert check.nonlinear_model(nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1)))
    assert "no value yet" in check.nonlinear_model(None).message
    stacked = nn.Sequential(nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 1))
    assert "nn.ReLU()" in check.nonlinear_model(stacked).message
    assert not check.nonlinear_model(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)))
    relu_last = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1), nn.ReLU())
    assert "ends with ReLU" in check.nonlinear_model(relu_last).message


MOONS = (torch.arange(10) % 2).float().unsqueeze(1)


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (MOONS, "squeeze(1)"),
        (MOONS.squeeze(1), ".long()"),
        (torch.full((10,), 2), "0 and 1"),
        (1 - MOONS.squeeze(1).long(), "flipped"),
        (nn.functional.one_hot(MOONS.squeeze(1).long(), 2), "one-hot"),
        (torch.tensor([0, 0, 1, 1, 0, 1, 0, 1, 0, 1]), "in order"),
        (None, "no value yet"),
    ],
)
def test_class_indices_hints(value: Any, hint: str) -> None:
    assert hint in check.class_indices(value, MOONS).message


def test_class_indices_pass() -> None:
    assert check.class_indices(MOONS.squeeze(1).long(), MOONS)
    assert check.class_indices((MOONS > 0.5).long().reshape(-1), MOONS)
