"""Lesson 03's self-checks: pass on the solution and on other correct forms, name each mistake."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from practicaltorch.checks import lesson03 as check
from practicaltorch.data.penguins import MASS_FEATURES, Penguins, load_penguin_table, split_penguins
from practicaltorch.models import MLP
from tests.checks_helpers import output, stub

MASS: dict[str, Any] = {
    "features": MASS_FEATURES,
    "target": "body_mass_g",
    "standardise_target": True,
}


@pytest.fixture(scope="module")
def sets() -> tuple[Penguins, Penguins]:
    return Penguins(train=True, **MASS), Penguins(train=False, **MASS)


def with_intercept(x: Tensor) -> Tensor:
    return torch.cat([x, torch.ones(len(x), 1)], dim=1).double()


def least_squares(train: Penguins, valid: Penguins) -> tuple[float, Tensor, Tensor]:
    """The worked solution: the MAE, the predictions and the truth, in grams."""
    weights = torch.linalg.lstsq(with_intercept(train.features), train.targets.double()).solution
    predicted = train.unscale_target(with_intercept(valid.features) @ weights)
    truth = valid.unscale_target(valid.targets.double())
    return (predicted - truth).abs().mean().item(), predicted, truth


def test_features(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.features(list(MASS_FEATURES))
    assert check.features(list(reversed(MASS_FEATURES)))
    assert not check.features(None)
    assert not check.features([*MASS_FEATURES, "body_mass_g"])
    assert "value to predict" in output(capsys)
    assert not check.features([*MASS_FEATURES, "year"])
    assert "year" in output(capsys)
    assert not check.features([*MASS_FEATURES, "island"])
    assert "island" in output(capsys)
    assert not check.features(["flipper"])
    assert not check.features([f for f in MASS_FEATURES if f != "species"])
    assert "leaves out 'species'" in output(capsys)
    assert not check.features([f for f in MASS_FEATURES if f != "sex"])
    assert "leaves out 'sex'" in output(capsys)


def test_dataset(sets: tuple[Penguins, Penguins], capsys: pytest.CaptureFixture[str]) -> None:
    train, valid = sets
    assert check.dataset(train, length=273, n_features=7)
    assert check.dataset(train, valid, length=273, n_features=7)
    assert not check.dataset(None, length=273, n_features=7)
    unscaled = Penguins(train=True, features=MASS_FEATURES, target="body_mass_g")
    assert not check.dataset(unscaled, length=273, n_features=7)
    assert "standardise_target=True" in output(capsys)
    flat = Penguins(train=True, **MASS, target_transform=lambda y: y[0])
    assert not check.dataset(flat, length=273, n_features=7)
    assert "broadcast" in output(capsys)
    assert not check.dataset(Penguins(train=True), length=273, n_features=7)
    assert not check.dataset(train, train, length=273, n_features=7)
    assert "train=False" in output(capsys)
    other = Penguins(train=False, features=("sex", "flipper_length_mm"), **_target())
    assert not check.dataset(train, other, length=273, n_features=7)
    assert "same features" in output(capsys)
    unscaled_valid = Penguins(train=False, features=MASS_FEATURES, target="body_mass_g")
    assert not check.dataset(train, unscaled_valid, length=273, n_features=7)
    assert "scales its target differently" in output(capsys)


def _target() -> dict[str, Any]:
    return {"target": "body_mass_g", "standardise_target": True}


def test_grams(sets: tuple[Penguins, Penguins], capsys: pytest.CaptureFixture[str]) -> None:
    train, _ = sets
    truth = split_penguins(load_penguin_table())[0]["body_mass_g"].to_numpy()[:5]
    assert check.grams(train.unscale_target(train.targets[:5]), truth)
    by_hand = train.targets[:5].squeeze(1) * train.target_std + train.target_mean
    assert check.grams(by_hand.tolist(), truth)
    assert not check.grams(None, truth)
    assert not check.grams(train.targets[:5], truth)
    assert "standardised" in output(capsys)
    swapped = train.targets[:5] * train.target_mean + train.target_std
    assert not check.grams(swapped, truth)
    assert "right order" in output(capsys)


def test_baseline(sets: tuple[Penguins, Penguins], capsys: pytest.CaptureFixture[str]) -> None:
    train, valid = sets
    reference, predicted, truth = least_squares(train, valid)
    assert check.baseline(reference, train, valid)
    assert check.baseline(torch.tensor(reference), train, valid, predicted, truth)
    assert not check.baseline(None, train, valid)
    assert not check.baseline(reference / train.target_std, train, valid)
    assert "standardised units" in output(capsys)
    assert not check.baseline(reference + 40, train, valid)
    assert "column of ones" in output(capsys)

    def fitted(fit_on: Penguins, score_on: Penguins, intercept: bool = True) -> float:
        def design(x: Tensor) -> Tensor:
            return with_intercept(x) if intercept else x.double()

        weights = torch.linalg.lstsq(design(fit_on.features), fit_on.targets.double()).solution
        guess = train.unscale_target(design(score_on.features) @ weights)
        return (guess - train.unscale_target(score_on.targets.double())).abs().mean().item()

    # Without the column of ones the one-hot species columns act as the intercept: also right.
    assert check.baseline(fitted(train, valid, intercept=False), train, valid)
    assert not check.baseline(fitted(valid, valid), train, valid)
    assert "fit on train_set" in output(capsys)
    assert not check.baseline(fitted(train, train), train, valid)
    assert "training birds" in output(capsys)
    rmse = (predicted - truth).pow(2).mean().sqrt().item()
    assert not check.baseline(rmse, train, valid)
    assert "root-mean-square" in output(capsys)
    mean_guess = (truth - train.target_mean).abs().mean().item()
    assert not check.baseline(mean_guess, train, valid)
    assert "mean mass" in output(capsys)
    assert not check.baseline(reference, train, valid, predicted.squeeze(1), truth)
    assert "broadcasts" in output(capsys)


def test_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.model(MLP(7, 1, hidden=(64,)), 7)
    assert check.model(nn.Sequential(nn.Linear(7, 64), nn.Tanh(), nn.Linear(64, 1)), 7)
    assert not check.model(None, 7)

    class Flat(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(dim=1)

    assert not check.model(Flat(), 7)
    assert "(N, 1)" in output(capsys)
    assert not check.model(MLP(7, 3), 7)
    assert "out_features=1" in output(capsys)
    assert not check.model(MLP(5, 1), 7)
    assert "in_features must be 7" in output(capsys)
    relu_last = nn.Sequential(nn.Linear(7, 64), nn.ReLU(), nn.Linear(64, 1), nn.ReLU())
    assert not check.model(relu_last, 7)
    assert "negative" in output(capsys)
    assert not check.model(nn.Linear(7, 1), 7)
    assert "least squares again" in output(capsys)


def test_losses_and_mae(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.losses([0.9, 0.3, 0.11])
    assert not check.losses([0.9, 0.9])
    assert check.mae(233.5, 233.0)
    assert not check.mae(240.0, 233.0)
    assert "bar" in output(capsys)
    assert not check.mae(0.29, 233.0)
    assert "grams" in output(capsys)
    assert not check.mae(None, 233.0)


def test_mae_of_predictions(sets: tuple[Penguins, Penguins], capsys: Any) -> None:
    train, valid = sets
    reference, predicted, truth = least_squares(train, valid)
    predicted = predicted.float()
    mae = (predicted.double() - truth).abs().mean().item()
    assert check.mae(mae, reference, predicted, truth)
    rmse = (predicted.double() - truth).pow(2).mean().sqrt().item()
    assert not check.mae(rmse, reference * 1.2, predicted, truth)
    assert "root-mean-square" in output(capsys)
    assert not check.mae(mae, reference, predicted.squeeze(1), truth)
    assert "broadcasts" in output(capsys)
    tracked = predicted.clone().requires_grad_()
    assert not check.mae(mae, reference, tracked, truth)
    assert "no_grad" in output(capsys)


def test_positive(sets: tuple[Penguins, Penguins], capsys: pytest.CaptureFixture[str]) -> None:
    train, valid = sets
    torch.manual_seed(0)
    net = MLP(7, 1, hidden=(16,))
    log_mean, log_std = 8.3, 0.2

    def log_mass(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (net(inputs) * log_std + log_mean).exp()

    assert check.positive(log_mass, valid.features)

    def softplus(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return nn.functional.softplus(net(inputs)) * 4000 + 1

    assert check.positive(softplus, valid.features)
    assert not check.positive(None, valid.features)
    assert not check.positive(stub, valid.features)
    assert "NotImplementedError" in output(capsys)

    def forgot_exp(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(inputs) * log_std + log_mean

    assert not check.positive(forgot_exp, valid.features)
    assert "torch.exp" in output(capsys)

    def unconstrained(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return train.unscale_target(net(inputs) * 3)

    assert not check.positive(unconstrained, valid.features)
    assert "non-positive" in output(capsys)

    def tracked(inputs: torch.Tensor) -> torch.Tensor:
        return (net(inputs) * log_std + log_mean).exp()

    assert not check.positive(tracked, valid.features)
    assert "no_grad" in output(capsys)
    assert not check.positive(lambda inputs: log_mass(inputs).squeeze(1), valid.features)
    assert "(N, 1)" in output(capsys)
