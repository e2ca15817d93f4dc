"""Lesson 03 self-checks: pass on the solution, fail with a hint on stubs and on common mistakes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from practicaltorch.checks import lesson03 as check
from practicaltorch.data.penguins import MASS_FEATURES, Penguins, load_penguin_table, split_penguins
from practicaltorch.models import MLP
from practicaltorch.recipes.penguins_mass import least_squares_mae

MASS = {"features": MASS_FEATURES, "target": "body_mass_g", "standardise_target": True}


def stub(*args: Any) -> Any:
    raise NotImplementedError()


@pytest.fixture(scope="module")
def sets() -> tuple[Penguins, Penguins]:
    return Penguins(train=True, **MASS), Penguins(train=False, **MASS)  # type: ignore[arg-type]


def test_features(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.features(list(MASS_FEATURES))
    assert not check.features(None)
    assert not check.features([*MASS_FEATURES, "body_mass_g"])
    assert "value to predict" in capsys.readouterr().out
    assert not check.features([*MASS_FEATURES, "year"])
    assert "year" in capsys.readouterr().out
    assert not check.features(["flipper"])


def test_dataset(sets: tuple[Penguins, Penguins], capsys: pytest.CaptureFixture[str]) -> None:
    train, _ = sets
    assert check.dataset(train, length=273, n_features=7)
    assert not check.dataset(None, length=273, n_features=7)
    unscaled = Penguins(train=True, features=MASS_FEATURES, target="body_mass_g")
    assert not check.dataset(unscaled, length=273, n_features=7)
    assert "standardise_target=True" in capsys.readouterr().out
    flat = Penguins(train=True, **MASS, target_transform=lambda y: y[0])  # type: ignore[arg-type]
    assert not check.dataset(flat, length=273, n_features=7)
    assert "broadcast" in capsys.readouterr().out
    assert not check.dataset(Penguins(train=True), length=273, n_features=7)


def test_grams(sets: tuple[Penguins, Penguins], capsys: pytest.CaptureFixture[str]) -> None:
    train, _ = sets
    truth = split_penguins(load_penguin_table())[0]["body_mass_g"].to_numpy()[:5]
    assert check.grams(train.unscale_target(train.targets[:5]), truth)
    assert not check.grams(None, truth)
    assert not check.grams(train.targets[:5], truth)
    assert "standardised" in capsys.readouterr().out
    swapped = train.targets[:5] * train.target_mean + train.target_std
    assert not check.grams(swapped, truth)


def test_baseline(sets: tuple[Penguins, Penguins], capsys: pytest.CaptureFixture[str]) -> None:
    train, valid = sets
    reference = least_squares_mae(train, valid)
    assert check.baseline(reference, train, valid)
    assert not check.baseline(None, train, valid)
    assert not check.baseline(reference / train.target_std, train, valid)
    assert "standardised units" in capsys.readouterr().out
    assert not check.baseline(reference + 40, train, valid)


def test_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.model(MLP(7, 1, hidden=(64,)), 7)
    assert not check.model(None, 7)

    class Flat(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(dim=1)

    assert not check.model(Flat(), 7)
    assert "(N, 1)" in capsys.readouterr().out
    assert not check.model(MLP(7, 3), 7)
    assert not check.model(MLP(5, 1), 7)
    assert "in_features must be 7" in capsys.readouterr().out


def test_losses_and_mae(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.losses([0.9, 0.3, 0.11])
    assert not check.losses([0.9, 0.9])
    assert check.mae(233.5, 233.0)
    assert not check.mae(240.0, 233.0)
    assert not check.mae(0.29, 233.0)
    assert "grams" in capsys.readouterr().out
    assert not check.mae(None, 233.0)


def test_positive(sets: tuple[Penguins, Penguins], capsys: pytest.CaptureFixture[str]) -> None:
    train, valid = sets
    torch.manual_seed(0)
    net = MLP(7, 1, hidden=(16,))
    log_mean, log_std = 8.3, 0.2

    def log_mass(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (net(inputs) * log_std + log_mean).exp()

    assert check.positive(log_mass, valid.features)
    assert not check.positive(None, valid.features)
    assert not check.positive(stub, valid.features)
    assert "NotImplementedError" in capsys.readouterr().out

    def forgot_exp(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(inputs) * log_std + log_mean

    assert not check.positive(forgot_exp, valid.features)
    assert "torch.exp" in capsys.readouterr().out

    def unconstrained(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return train.unscale_target(net(inputs) * 3)

    assert not check.positive(unconstrained, valid.features)
    assert "non-positive" in capsys.readouterr().out
