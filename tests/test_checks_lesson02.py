"""Lesson 02's self-checks: pass on the solution and on other correct forms, name each mistake."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from practicaltorch.checks import lesson02 as check
from practicaltorch.data.penguins import (
    SPECIES,
    SPECIES_FEATURES,
    Penguins,
    load_penguin_table,
    split_penguins,
)
from practicaltorch.models import MLP
from tests.checks_helpers import CORRECT_TRAINING, WRONG_TRAINING, output, stub, training_loop

FEATURES = list(SPECIES_FEATURES)


@pytest.fixture(scope="module")
def train_set() -> Penguins:
    return Penguins(train=True)


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_penguins(load_penguin_table())


class Pairs(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A dataset returning fixed tensors, to imitate a learner's dataset."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


class PenguinDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The worked solution's dataset, with switches for the usual mistakes."""

    def __init__(
        self,
        table: pd.DataFrame,
        features: list[str],
        transform: Any = None,
        *,
        codes: tuple[str, ...] = SPECIES,
        male: str = "male",
        from_table: bool = False,
    ) -> None:
        columns = [
            (table["sex"] == male).to_numpy(np.float32)
            if name == "sex"
            else table[name].to_numpy(np.float32)
            for name in features
        ]
        self.features = torch.from_numpy(np.stack(columns, axis=1))
        self.targets = torch.tensor(table["species"].map(codes.index).to_numpy())
        self.table, self.transform, self.from_table = table, transform, from_table

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features[index]
        if self.from_table:  # the slow way: a pandas lookup per item
            row = self.table.iloc[index]
            x = torch.tensor(
                [float(row[n] == "male") if n == "sex" else float(row[n]) for n in FEATURES]
            )
        if self.transform is not None:
            x = self.transform(x)
        return x, self.targets[index]


def scaler(data: PenguinDataset, correction: int = 0) -> Any:
    continuous = torch.tensor([name != "sex" for name in FEATURES])
    mean = torch.where(continuous, data.features.mean(dim=0), 0.0)
    std = torch.where(continuous, data.features.std(dim=0, correction=correction), 1.0)
    return lambda x: (x - mean) / std


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
    assert check.features(FEATURES)
    assert check.features(tuple(reversed(FEATURES)))
    assert not check.features(None)
    assert "YOUR CODE HERE" in output(capsys)
    assert not check.features([*SPECIES_FEATURES, "island"])
    assert "island" in output(capsys)
    assert not check.features([*SPECIES_FEATURES, "year"])
    assert "year" in output(capsys)
    assert not check.features(["species", "bill_length_mm"])
    assert "answer itself" in output(capsys)
    assert not check.features(["bill_lenght_mm"])
    assert "did you mean 'bill_length_mm'" in output(capsys)
    assert not check.features("bill_length_mm")


def test_dataset(train_set: Penguins, capsys: pytest.CaptureFixture[str]) -> None:
    assert check.dataset(train_set, length=273, n_features=5)
    assert not check.dataset(None, length=273, n_features=5)
    x, y = train_set.tensors()
    one_hot = nn.functional.one_hot(y, 3)
    assert not check.dataset(Pairs(x, one_hot), length=273, n_features=5)
    assert "one-hot" in output(capsys)
    assert not check.dataset(Pairs(x, y.float()), length=273, n_features=5)
    assert "integers" in output(capsys)
    assert not check.dataset(Pairs(x.double(), y), length=273, n_features=5)
    assert "float64" in output(capsys)
    assert not check.dataset(Pairs(x[:10], y[:10]), length=273, n_features=5)
    assert "expected 273" in output(capsys)
    assert not check.dataset(PenguinDataset, length=273, n_features=5)
    assert "create an instance" in output(capsys)


def test_dataset_values(tables: tuple[pd.DataFrame, pd.DataFrame], capsys: Any) -> None:
    table = tables[0]

    def run(data: Any) -> bool:
        return bool(check.dataset(data, length=273, n_features=5, table=table, columns=FEATURES))

    assert run(PenguinDataset(table, FEATURES))
    assert not run(PenguinDataset(table, FEATURES, codes=("Gentoo", "Adelie", "Chinstrap")))
    assert "Adelie 0" in output(capsys)
    assert not run(PenguinDataset(table, FEATURES, male="female"))
    assert "other way round" in output(capsys)
    assert not run(PenguinDataset(table, FEATURES[::-1]))
    assert "order of `features`" in output(capsys)
    assert not run(PenguinDataset(table, FEATURES, from_table=True))
    assert "table.iloc" in output(capsys)
    assert not run(Pairs(*PenguinDataset(table, FEATURES)[:]))
    assert "self.features" in output(capsys)


def test_dataset_with_a_stubbed_method(capsys: pytest.CaptureFixture[str]) -> None:
    class Stubbed(Dataset[Any]):
        def __len__(self) -> int:
            return 273

        def __getitem__(self, index: int) -> Any:
            raise NotImplementedError()

    assert not check.dataset(Stubbed(), length=273, n_features=5)
    assert "NotImplementedError" in output(capsys)


def test_dataset_that_ignores_its_index(train_set: Penguins, capsys: Any) -> None:
    x, y = train_set.tensors()
    same = Pairs(x[:1].expand(273, 5), y[:1].expand(273))
    assert not check.dataset(same, length=273, n_features=5)
    assert "use index" in output(capsys)


def test_standardised(tables: tuple[pd.DataFrame, pd.DataFrame], capsys: Any) -> None:
    train_table, valid_table = tables
    raw_train, raw_valid = (
        PenguinDataset(train_table, FEATURES),
        PenguinDataset(valid_table, FEATURES),
    )

    def pair(train_scale: Any, valid_scale: Any) -> CheckPair:
        return (
            PenguinDataset(train_table, FEATURES, transform=train_scale),
            PenguinDataset(valid_table, FEATURES, transform=valid_scale),
        )

    assert check.standardised(*pair(scaler(raw_train), scaler(raw_train)))
    assert check.standardised(*pair(scaler(raw_train, 1), scaler(raw_train, 1)))  # unbiased std
    assert check.standardised(Penguins(train=True))
    assert not check.standardised(Penguins(train=True, standardise=False))
    assert "mean" in output(capsys)
    assert not check.standardised(None)
    everyone = PenguinDataset(pd.concat([train_table, valid_table]), FEATURES)
    assert not check.standardised(*pair(scaler(everyone), scaler(everyone)))
    assert "training birds only" in output(capsys)
    assert not check.standardised(*pair(scaler(raw_train), None))
    assert "transform=standardise" in output(capsys)
    assert not check.standardised(*pair(scaler(raw_train), scaler(raw_valid)))
    assert "other statistics" in output(capsys)


CheckPair = tuple[PenguinDataset, PenguinDataset]


def test_loaders(train_set: Penguins, capsys: pytest.CaptureFixture[str]) -> None:
    valid = DataLoader(Penguins(train=False), batch_size=256)
    assert check.loaders(DataLoader(train_set, batch_size=32, shuffle=True), valid, n_features=5)
    shuffled_valid = DataLoader(Penguins(train=False), batch_size=256, shuffle=True)
    assert check.loaders(
        DataLoader(train_set, batch_size=32, shuffle=True), shuffled_valid, n_features=5
    )
    assert not check.loaders(DataLoader(train_set, batch_size=32), valid, n_features=5)
    assert "shuffle=True" in output(capsys)
    assert not check.loaders(None, valid, n_features=5)
    leaky = DataLoader(train_set, batch_size=256)
    assert not check.loaders(DataLoader(train_set, 32, shuffle=True), leaky, n_features=5)
    assert "valid_set" in output(capsys)
    assert not check.loaders(DataLoader(train_set, 64, shuffle=True), valid, n_features=5)
    assert "use 32" in output(capsys)


class Forgetful(nn.Module):
    """A hand-written network whose forward skips its second hidden layer."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden1, self.hidden2, self.output = (
            nn.Linear(5, 32),
            nn.Linear(32, 32),
            nn.Linear(32, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(torch.relu(self.hidden1(x)))


def test_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.model(MLP(5, 3, hidden=(32, 32)), 5)
    assert check.model(
        nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)),
        5,
    )
    assert not check.model(None, 5)
    assert not check.model(nn.Sequential(nn.Linear(5, 3), nn.Softmax(dim=1)), 5)
    assert "softmax" in output(capsys)
    assert not check.model(MLP(4, 3), 5)
    assert "in_features must be 5" in output(capsys)
    assert not check.model(MLP(5, 1), 5)
    assert "out_features=3" in output(capsys)
    linear = nn.Sequential(nn.Linear(5, 32), nn.Linear(32, 32), nn.Linear(32, 3))
    assert not check.model(linear, 5)
    assert "ReLU after each hidden layer" in output(capsys)
    assert not check.model(
        nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 3), nn.ReLU()), 5
    )
    assert "ends with an activation" in output(capsys)
    assert not check.model(Forgetful(), 5)
    assert "hidden2" in output(capsys)


def test_loss_and_optimizer(capsys: pytest.CaptureFixture[str]) -> None:
    model, other = MLP(5, 3), MLP(5, 3)
    good = torch.optim.AdamW(model.parameters(), lr=1e-2)
    assert check.loss_and_optimizer(nn.CrossEntropyLoss(), good, model)
    schedule = torch.optim.lr_scheduler.OneCycleLR(good, max_lr=1e-2, total_steps=540)
    assert check.loss_and_optimizer(nn.CrossEntropyLoss(), good, model, schedule, total_steps=540)
    assert not check.loss_and_optimizer(None, good, model)
    assert not check.loss_and_optimizer(nn.MSELoss(), good, model)
    assert "CrossEntropyLoss" in output(capsys)
    assert not check.loss_and_optimizer(nn.NLLLoss(), good, model)
    assert "log-probabilities" in output(capsys)
    wrong = torch.optim.AdamW(other.parameters(), lr=1e-2)
    assert not check.loss_and_optimizer(nn.CrossEntropyLoss(), wrong, model)
    assert "another model" in output(capsys)
    per_epoch = torch.optim.lr_scheduler.OneCycleLR(good, max_lr=1e-2, total_steps=60)
    assert not check.loss_and_optimizer(
        nn.CrossEntropyLoss(), good, model, per_epoch, total_steps=540
    )
    assert "epochs * len(train_loader)" in output(capsys)


@pytest.mark.parametrize("train", CORRECT_TRAINING)
def test_train_function_accepts_correct_forms(train: Any) -> None:
    assert check.train_function(train)


@pytest.mark.parametrize(("train", "hint"), WRONG_TRAINING)
def test_train_function_names_each_mistake(train: Any, hint: str, capsys: Any) -> None:
    assert not check.train_function(train)
    assert hint in output(capsys)


def test_train_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert not check.train_function(stub)
    assert "NotImplementedError" in output(capsys)

    assert not check.train_function(training_loop(schedule_each_batch=False))
    assert "once per batch" in output(capsys)

    def twice(
        model: nn.Module, loader: Any, loss_fn: Any, opt: Any, dev: Any, sched: Any = None
    ) -> float:
        model.train()
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            accuracy = model(x).argmax(1)  # a second forward pass, with gradients
        del accuracy
        return loss.item()

    assert not check.train_function(twice)
    assert "one forward pass per batch" in output(capsys)


def test_validate_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.validate_function(good_validate)

    def over_dataset(model: nn.Module, loader: Any, loss_fn: Any, device: Any) -> Any:
        model.eval()
        with torch.no_grad():
            pairs = [(model(x), y) for x, y in loader]
        total = sum(loss_fn(out, y).item() * len(y) for out, y in pairs)
        hits = sum(int((out.argmax(1) == y).sum()) for out, y in pairs)
        return total / len(loader.dataset), torch.tensor(hits / len(loader.dataset))

    assert check.validate_function(over_dataset)
    assert not check.validate_function(stub)
    assert "NotImplementedError" in output(capsys)

    def no_eval(model: nn.Module, loader: Any, loss_fn: Any, device: Any) -> Any:
        with torch.no_grad():
            pairs = [(model(x), y) for x, y in loader]
        out = torch.cat([o for o, _ in pairs])
        y = torch.cat([t for _, t in pairs])
        return float(loss_fn(out, y)), float((out.argmax(1) == y).float().mean())

    assert not check.validate_function(no_eval)
    assert "model.eval()" in output(capsys)

    def with_grad(model: nn.Module, loader: Any, loss_fn: Any, device: Any) -> Any:
        model.eval()
        for x, _ in loader:
            model(x)
        return 0.0, 0.0

    assert not check.validate_function(with_grad)
    assert "no_grad" in output(capsys)

    def in_percent(*args: Any) -> Any:
        loss, accuracy = good_validate(*args)
        return loss, 100 * accuracy

    assert not check.validate_function(in_percent)
    assert "percent" in output(capsys)

    def swapped(*args: Any) -> Any:
        return good_validate(*args)[::-1]

    assert not check.validate_function(swapped)
    assert "(accuracy, loss)" in output(capsys)

    def batch_means(model: nn.Module, loader: Any, loss_fn: Any, device: Any) -> Any:
        model.eval()
        losses, hits = [], []
        with torch.no_grad():
            for x, y in loader:
                out = model(x)
                losses.append(loss_fn(out, y).item())
                hits.append((out.argmax(1) == y).float().mean().item())
        return sum(losses) / len(losses), sum(hits) / len(hits)

    assert not check.validate_function(batch_means)
    assert "divide by the number of birds" in output(capsys)


def test_losses_and_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.losses([1.1, 0.5, 0.1])
    assert not check.losses([1.1, 1.0, 1.05])
    assert not check.losses([])
    assert check.accuracy(59 / 60)
    assert check.accuracy(torch.tensor(1.0))
    assert not check.accuracy(58 / 60)
    assert not check.accuracy(None)
    assert not check.accuracy(272 / 273)
    assert "training birds" in output(capsys)


def test_training_run(capsys: pytest.CaptureFixture[str]) -> None:
    losses, accuracies = [1.1, 0.5, 0.1], [0.9, 1.0, 1.0]
    assert check.training_run(losses, [1.0, 0.4, 0.2], accuracies, epochs=3)
    assert not check.training_run(losses, [(1.0, 0.9)] * 3, accuracies, epochs=3)
    assert "unpack" in output(capsys)
    assert not check.training_run(losses[:2], [1.0, 0.4], accuracies[:2], epochs=3)
    assert "one per epoch" in output(capsys)
    assert not check.training_run([1.1, 1.0, 1.0], [1.0, 0.4, 0.2], accuracies, epochs=3)
    assert "zero_grad" in output(capsys)
    assert not check.training_run(losses, [1.0, 0.4, 0.2], [0.9, 1.0, 272 / 273], epochs=3)
    assert "training birds" in output(capsys)


def test_confusion(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.confusion(torch.tensor([[20, 0, 0], [1, 19, 0], [0, 0, 20]]))
    assert check.confusion(np.array([[20, 0, 0], [1, 19, 0], [0, 0, 20]]))
    assert not check.confusion(None)
    assert not check.confusion(torch.tensor([[20, 0, 0], [1, 19, 0], [0, 0, 0]]))
    assert "expected 60" in output(capsys)
    assert not check.confusion(torch.tensor([[120, 0, 0], [1, 47, 0], [0, 0, 105]]))
    assert "training birds" in output(capsys)
    assert not check.confusion(torch.eye(2))


def test_probabilities(train_set: Penguins, capsys: pytest.CaptureFixture[str]) -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert check.probabilities(torch.softmax(logits, dim=1))
    assert not check.probabilities(None)
    assert not check.probabilities(logits)
    assert "softmax" in output(capsys)
    assert not check.probabilities(torch.softmax(logits, dim=0))
    assert "dim=1" in output(capsys)
    torch.manual_seed(0)
    net = MLP(5, 3, hidden=(8,))
    bird = {
        "bill_length_mm": 47.5,
        "bill_depth_mm": 15.0,
        "flipper_length_mm": 215.0,
        "body_mass_g": 5200.0,
        "sex": "male",
    }
    with torch.no_grad():
        right = torch.softmax(net(train_set.encode(bird)), dim=1)
        raw = torch.softmax(net(torch.tensor([[47.5, 15.0, 215.0, 5200.0, 1.0]])), dim=1)
    assert check.probabilities(right, net, train_set, bird)
    assert not check.probabilities(raw, net, train_set, bird)
    assert "standardised" in output(capsys)
