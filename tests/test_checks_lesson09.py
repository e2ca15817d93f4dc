"""Lesson 09 self-checks: pass on the solution, fail with a hint on stubs and on common mistakes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from practicaltorch.checks import lesson09 as check
from practicaltorch.data.lorenz96 import (
    Truth,
    hellinger_distance,
    initial_states,
    no_parameterisation,
    run_one_scale,
    simulate_truth,
    split_in_time,
)
from practicaltorch.export import TorchScriptDeprecationWarning, export_torchscript
from practicaltorch.models import MLP
from practicaltorch.models.lorenz96 import CubicPolynomial, LocalNet, Scaled

K = 8


def stub(*args: Any) -> Any:
    raise NotImplementedError()


@pytest.fixture(scope="module")
def truth() -> Truth:
    return simulate_truth(4, 0.3, spin_up=0.2, seed=0)


@pytest.fixture(scope="module")
def pairs(truth: Truth) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    return split_in_time(truth, 0.2, 0.02)


def test_coupling(capsys: pytest.CaptureFixture[str]) -> None:
    _, y = initial_states(3, seed=0)
    assert check.coupling(y.sum(dim=-1), y)
    assert not check.coupling(None, y)
    assert not check.coupling(y.sum(dim=1), y)
    assert "sum over j" in capsys.readouterr().out
    assert not check.coupling(-y.sum(dim=-1), y)
    assert "sign" in capsys.readouterr().out
    assert not check.coupling(y.mean(dim=-1), y)
    assert "mean over j" in capsys.readouterr().out


def test_time_split(truth: Truth, capsys: pytest.CaptureFixture[str]) -> None:
    (x_train, u_train), (x_valid, u_valid) = split_in_time(truth, 0.2, 0.02)
    assert check.time_split(x_train, u_train, x_valid, u_valid, truth, 0.2, 0.02)
    assert not check.time_split(None, u_train, x_valid, u_valid, truth, 0.2, 0.02)
    every_x, every_u = truth.x.reshape(-1, K), truth.u.reshape(-1, K)
    order = torch.randperm(len(every_x), generator=torch.Generator().manual_seed(0))
    train_rows, valid_rows = order[: len(x_train)], order[len(x_train) :]
    assert not check.time_split(
        every_x[train_rows], every_u[train_rows], every_x[valid_rows][: len(x_valid)],
        every_u[valid_rows][: len(x_valid)], truth, 0.2, 0.02,
    )  # fmt: skip
    assert "random split" in capsys.readouterr().out
    no_gap = truth.pairs(0.2)
    assert not check.time_split(x_train, u_train, *no_gap, truth, 0.2, 0.02)
    assert "no gap" in capsys.readouterr().out
    assert not check.time_split(x_train, u_train.flip(0), x_valid, u_valid, truth, 0.2, 0.02)
    assert "belong" in capsys.readouterr().out


def test_polynomial(pairs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (x_train, u_train), (x_valid, u_valid) = pairs
    right = CubicPolynomial.fit(x_train, u_train).coefficients
    assert check.polynomial(right, x_train, u_train)
    assert not check.polynomial(None, x_train, u_train)
    assert not check.polynomial(right[1:], x_train, u_train)
    assert "column of ones" in capsys.readouterr().out
    assert not check.polynomial(right.flip(0), x_train, u_train)
    assert "reverse" in capsys.readouterr().out
    on_validation = CubicPolynomial.fit(x_valid, u_valid).coefficients
    assert not check.polynomial(on_validation, x_train, u_train)
    assert "training pairs" in capsys.readouterr().out


def sequential(padding: int = 2, mode: str = "circular", flatten: bool = True) -> nn.Module:
    layers: list[nn.Module] = [
        nn.Unflatten(1, (1, -1)),
        nn.Conv1d(1, 8, 5, padding=padding, padding_mode=mode),  # type: ignore[arg-type]
        nn.ReLU(),
        nn.Conv1d(8, 1, 1),
    ]
    return nn.Sequential(*layers, *([nn.Flatten()] if flatten else []))


def test_local_net(capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    assert check.local_net(sequential())
    assert check.local_net(LocalNet())
    assert not check.local_net(None)
    assert not check.local_net(sequential(padding=0))
    assert "padding=2" in capsys.readouterr().out
    assert not check.local_net(sequential(mode="zeros"))
    assert "circular" in capsys.readouterr().out
    assert not check.local_net(sequential(flatten=False))
    assert "channel axis" in capsys.readouterr().out
    assert not check.local_net(MLP(K, K, hidden=(16,)))
    assert "grid points differently" in capsys.readouterr().out


def test_scaling(pairs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (x_train, u_train), (x_valid, u_valid) = pairs
    stats = [x_train.mean(), x_train.std(), u_train.mean(), u_train.std()]
    assert check.scaling(*[float(s) for s in stats], x_train, u_train)
    assert not check.scaling(None, 1.0, 0.0, 1.0, x_train, u_train)
    assert not check.scaling(0.0, 1.0, 0.0, 1.0, x_train, u_train)
    assert "unscaled" in capsys.readouterr().out
    valid_stats = [float(s) for s in (x_valid.mean(), x_valid.std(), u_valid.mean(), u_valid.std())]
    assert not check.scaling(*valid_stats, x_train, u_train)
    assert "training states" in capsys.readouterr().out


class Lookup(nn.Module):
    """Returns ``blend * truth + (1 - blend) * polynomial`` for the validation states."""

    def __init__(self, x: Tensor, u: Tensor, poly: nn.Module, blend: float, scale: bool = False):
        super().__init__()
        self.x, self.u, self.poly, self.blend, self.scale = x, u, poly, blend, scale

    def forward(self, x: Tensor) -> Tensor:
        rows = torch.cdist(x.double(), self.x.double()).argmin(dim=1)
        out = self.blend * self.u[rows] + (1 - self.blend) * self.poly(x)
        return (out - self.u.mean()) / self.u.std() if self.scale else out


def test_offline(pairs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (x_train, u_train), (x_valid, u_valid) = pairs
    poly = CubicPolynomial.fit(x_train, u_train)
    assert check.offline(Lookup(x_valid, u_valid, poly, 0.5), poly, x_valid, u_valid)
    assert not check.offline(None, poly, x_valid, u_valid)
    standardised = Lookup(x_valid, u_valid, poly, 0.5, scale=True)
    assert not check.offline(standardised, poly, x_valid, u_valid)
    assert "Scaled" in capsys.readouterr().out
    worse = Lookup(x_valid, u_valid, poly, -0.3)  # an unscaled network: worse than the cubic
    assert not check.offline(worse, poly, x_valid, u_valid)
    assert "not below the polynomial" in capsys.readouterr().out


@pytest.fixture(scope="module")
def forecasts() -> tuple[dict[str, Any], Truth]:
    test = simulate_truth(3, 0.2, spin_up=0.2, seed=1)
    runs = {
        name: run_one_scale(test.x[0], p, 0.2, output_dt=test.sample_dt)
        for name, p in [("none", no_parameterisation), ("half", lambda x: 0.5 * x)]
    }
    return runs, test


def right_rmse(forecast: Tensor, reference: Tensor) -> Tensor:
    return (forecast - reference).pow(2).mean(dim=(1, 2)).sqrt()


def test_forecast(forecasts: Any, truth: Truth, capsys: pytest.CaptureFixture[str]) -> None:
    runs, test = forecasts
    curves = {name: right_rmse(run.x, test.x) for name, run in runs.items()}
    assert check.forecast(right_rmse, curves, runs, test)
    assert not check.forecast(None, curves, runs, test)
    assert not check.forecast(stub, curves, runs, test)
    assert "NotImplementedError" in capsys.readouterr().out
    scalar = lambda f, r: (f - r).pow(2).mean().sqrt()  # noqa: E731
    assert not check.forecast(scalar, curves, runs, test)
    assert "lead-time axis" in capsys.readouterr().out
    mse = lambda f, r: (f - r).pow(2).mean(dim=(1, 2))  # noqa: E731
    assert not check.forecast(mse, curves, runs, test)
    assert "square root" in capsys.readouterr().out
    own_start = {name: right_rmse(run.x, run.x[:1].expand_as(run.x)) for name, run in runs.items()}
    assert not check.forecast(right_rmse, own_start, runs, test)
    assert "initial state" in capsys.readouterr().out
    training_truth = {
        name: right_rmse(run.x, truth.x[: len(run.x), :3]) for name, run in runs.items()
    }
    assert not check.forecast(right_rmse, training_truth, runs, test)
    assert "test truth" in capsys.readouterr().out


def solution_hellinger(a: Tensor, b: Tensor, edges: Tensor) -> float:
    p = torch.histogram(a.flatten().double(), edges).hist
    q = torch.histogram(b.flatten().double(), edges).hist
    p, q = p / p.sum(), q / q.sum()
    return float((1 - (p * q).sqrt().sum()).clamp(min=0).sqrt())


def test_hellinger(capsys: pytest.CaptureFixture[str]) -> None:
    a = torch.randn(1000, dtype=torch.float64)
    edges = torch.linspace(-4, 4, 17, dtype=torch.float64)
    assert solution_hellinger(a, a + 0.5, edges) == pytest.approx(
        hellinger_distance(a, a + 0.5, edges), abs=0.02
    )  # the library adds a bin below and above
    assert check.hellinger(solution_hellinger)
    assert not check.hellinger(None)
    assert not check.hellinger(stub)

    def squared(a: Tensor, b: Tensor, edges: Tensor) -> float:
        return solution_hellinger(a, b, edges) ** 2

    assert not check.hellinger(squared)
    assert "square root" in capsys.readouterr().out

    def counts(a: Tensor, b: Tensor, edges: Tensor) -> float:
        p = torch.histogram(a.double(), edges).hist
        q = torch.histogram(b.double(), edges).hist
        return float((1 - (p * q).sqrt().sum()).abs().sqrt())

    assert not check.hellinger(counts)
    assert "divide the counts" in capsys.readouterr().out


def test_exported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    net = LocalNet(5, (8,)).eval()
    wrapped = Scaled(net, 3.7, 5.0, 3.9, 4.6).eval()
    states = 3.7 + 5.0 * torch.randn(20, K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorchScriptDeprecationWarning)
        good = export_torchscript(wrapped, states[:2].float(), tmp_path / "good")
        bare = export_torchscript(net, states[:2].float(), tmp_path / "bare")
    assert check.exported(good, wrapped, states)
    assert not check.exported(None, wrapped, states)
    assert not check.exported(bare, wrapped, states)
    assert "standardised" in capsys.readouterr().out


def test_online_bar(capsys: pytest.CaptureFixture[str]) -> None:
    def curves(none: float, poly: float, net: float) -> dict[str, Tensor]:
        return {
            n: torch.tensor([0.0, v])
            for n, v in [("none", none), ("polynomial", poly), ("network", net)]
        }

    climate = {"none": 0.25, "polynomial": 0.03, "network": 0.031}
    assert check.online_bar(curves(9.0, 2.0, 1.7), climate, 1)
    assert not check.online_bar(None, climate, 1)
    assert not check.online_bar(curves(9.0, 2.0, 2.3), climate, 1)
    assert "bar <= 1.1" in capsys.readouterr().out
    assert not check.online_bar(curves(9.0, 2.0, 1.7), {**climate, "network": 0.04}, 1)
    assert check.online_bar(curves(9.0, 2.0, 1.7), {**climate, "network": 0.04}, 1, floor=0.02)
    assert not check.online_bar(curves(9.0, 2.0, 1.7), {**climate, "network": 0.06}, 1, floor=0.02)
    assert not check.online_bar(curves(2.5, 2.0, 1.7), climate, 1)
    assert "clearly worse" in capsys.readouterr().out
