"""Lesson 02 self-checks: pass on the solution, fail with a hint on stubs and on common mistakes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from practicaltorch.checks import lesson02 as check
from practicaltorch.data.penguins import SPECIES_FEATURES, Penguins
from practicaltorch.models import MLP


def stub(*args: Any) -> Any:
    raise NotImplementedError()


@pytest.fixture(scope="module")
def train_set() -> Penguins:
    return Penguins(train=True)


class Pairs(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A dataset returning fixed tensors, to imitate a learner's dataset."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


def good_train_epoch(
    model: nn.Module, loader: Any, loss_fn: Any, optimizer: Any, device: Any, scheduler: Any = None
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


def good_validate(model: nn.Module, loader: Any, loss_fn: Any, device: Any) -> tuple[float, float]:
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x.to(device))
            total += loss_fn(out, y).item() * len(y)
            correct += int((out.argmax(1) == y).sum())
            count += len(y)
    return total / count, correct / count


def test_features(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.features(list(SPECIES_FEATURES))
    assert not check.features(None)
    assert "YOUR CODE HERE" in capsys.readouterr().out
    assert not check.features([*SPECIES_FEATURES, "island"])
    assert "island" in capsys.readouterr().out
    assert not check.features(["species", "bill_length_mm"])
    assert "answer itself" in capsys.readouterr().out
    assert not check.features(["bill_lenght_mm"])
    assert "did you mean 'bill_length_mm'" in capsys.readouterr().out
    assert not check.features("bill_length_mm")


def test_dataset(train_set: Penguins, capsys: pytest.CaptureFixture[str]) -> None:
    assert check.dataset(train_set, length=273, n_features=5)
    assert not check.dataset(None, length=273, n_features=5)
    x, y = train_set.tensors()
    one_hot = nn.functional.one_hot(y, 3)
    assert not check.dataset(Pairs(x, one_hot), length=273, n_features=5)
    assert "one-hot" in capsys.readouterr().out
    assert not check.dataset(Pairs(x, y.float()), length=273, n_features=5)
    assert "integers" in capsys.readouterr().out
    assert not check.dataset(Pairs(x.double(), y), length=273, n_features=5)
    assert "float64" in capsys.readouterr().out
    assert not check.dataset(Pairs(x[:10], y[:10]), length=273, n_features=5)


def test_dataset_with_a_stubbed_method(capsys: pytest.CaptureFixture[str]) -> None:
    class Stubbed(Dataset[Any]):
        def __len__(self) -> int:
            return 273

        def __getitem__(self, index: int) -> Any:
            raise NotImplementedError()

    assert not check.dataset(Stubbed(), length=273, n_features=5)
    assert "NotImplementedError" in capsys.readouterr().out


def test_dataset_that_ignores_its_index(train_set: Penguins) -> None:
    x, y = train_set.tensors()
    same = Pairs(x[:1].expand(273, 5), y[:1].expand(273))
    assert not check.dataset(same, length=273, n_features=5)


def test_standardised(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.standardised(Penguins(train=True))
    assert not check.standardised(Penguins(train=True, standardise=False))
    assert "mean" in capsys.readouterr().out
    assert not check.standardised(None)


def test_loaders(train_set: Penguins, capsys: pytest.CaptureFixture[str]) -> None:
    valid = DataLoader(Penguins(train=False), batch_size=256)
    assert check.loaders(DataLoader(train_set, batch_size=32, shuffle=True), valid, n_features=5)
    assert not check.loaders(DataLoader(train_set, batch_size=32), valid, n_features=5)
    assert "shuffle=True" in capsys.readouterr().out
    assert not check.loaders(None, valid, n_features=5)


def test_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.model(MLP(5, 3, hidden=(32, 32)), 5)
    assert not check.model(None, 5)
    assert not check.model(nn.Sequential(nn.Linear(5, 3), nn.Softmax(dim=1)), 5)
    assert "softmax" in capsys.readouterr().out
    assert not check.model(MLP(4, 3), 5)
    assert "in_features must be 5" in capsys.readouterr().out
    assert not check.model(MLP(5, 1), 5)
    assert "out_features=3" in capsys.readouterr().out


def test_loss_and_optimizer(capsys: pytest.CaptureFixture[str]) -> None:
    model, other = MLP(5, 3), MLP(5, 3)
    good = torch.optim.AdamW(model.parameters(), lr=1e-2)
    assert check.loss_and_optimizer(nn.CrossEntropyLoss(), good, model)
    assert not check.loss_and_optimizer(None, good, model)
    assert not check.loss_and_optimizer(nn.MSELoss(), good, model)
    assert "CrossEntropyLoss" in capsys.readouterr().out
    wrong = torch.optim.AdamW(other.parameters(), lr=1e-2)
    assert not check.loss_and_optimizer(nn.CrossEntropyLoss(), wrong, model)
    assert "another model" in capsys.readouterr().out


def test_train_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.train_function(good_train_epoch)
    assert not check.train_function(stub)
    assert "NotImplementedError" in capsys.readouterr().out

    def no_zero_grad(model: nn.Module, loader: Any, loss_fn: Any, opt: Any, dev: Any) -> float:
        model.train()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return loss.item()

    assert not check.train_function(no_zero_grad)
    assert "zero_grad" in capsys.readouterr().out

    def no_train_mode(model: nn.Module, loader: Any, loss_fn: Any, opt: Any, dev: Any) -> float:
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return loss.item()

    assert not check.train_function(no_train_mode)
    assert "model.train()" in capsys.readouterr().out


def test_validate_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.validate_function(good_validate)
    assert not check.validate_function(stub)
    assert "NotImplementedError" in capsys.readouterr().out

    def no_eval(model: nn.Module, loader: Any, loss_fn: Any, device: Any) -> Any:
        with torch.no_grad():
            pairs = [(model(x), y) for x, y in loader]
        out = torch.cat([o for o, _ in pairs])
        y = torch.cat([t for _, t in pairs])
        return float(loss_fn(out, y)), float((out.argmax(1) == y).float().mean())

    assert not check.validate_function(no_eval)
    assert "model.eval()" in capsys.readouterr().out

    def with_grad(model: nn.Module, loader: Any, loss_fn: Any, device: Any) -> Any:
        model.eval()
        return _grad(model, loader)

    assert not check.validate_function(with_grad)
    assert "no_grad" in capsys.readouterr().out

    def in_percent(*args: Any) -> Any:
        loss, accuracy = good_validate(*args)
        return loss, 100 * accuracy

    assert not check.validate_function(in_percent)
    assert "percent" in capsys.readouterr().out


def _grad(model: nn.Module, loader: Any) -> tuple[float, float]:
    for x, _ in loader:
        model(x)
    return 0.0, 0.0


def test_losses_and_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.losses([1.1, 0.5, 0.1])
    assert not check.losses([1.1, 1.0, 1.05])
    assert not check.losses([])
    assert check.accuracy(59 / 60)
    assert not check.accuracy(58 / 60)
    assert not check.accuracy(None)


def test_confusion(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.confusion(torch.tensor([[20, 0, 0], [1, 19, 0], [0, 0, 20]]))
    assert not check.confusion(None)
    assert not check.confusion(torch.tensor([[20, 0, 0], [1, 19, 0], [0, 0, 0]]))
    assert "expected 60" in capsys.readouterr().out
    assert not check.confusion(torch.eye(2))


def test_probabilities(capsys: pytest.CaptureFixture[str]) -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert check.probabilities(torch.softmax(logits, dim=1))
    assert not check.probabilities(None)
    assert not check.probabilities(logits)
    assert "softmax" in capsys.readouterr().out
    assert not check.probabilities(torch.softmax(logits, dim=0))
    assert "dim=1" in capsys.readouterr().out
