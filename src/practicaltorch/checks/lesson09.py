"""Self-checks for lesson 09: a neural parameterisation of Lorenz-96, offline and online.

Each check is called in the exercise notebook right after a task and prints one
line: a pass, or a hint naming the likely mistake (a random split instead of a
split in time, a forecast scored against the wrong truth, a network trained on
unscaled data, padding that does not wrap around the ring, an export without the
scaling).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import Hint, call, check, expect_tensor, model_output, number
from practicaltorch.data.lorenz96 import (
    Lorenz96,
    Truth,
    coupling_term,
    forecast_rmse,
    hellinger_distance,
)
from practicaltorch.models.lorenz96 import CubicPolynomial, Scaled

__all__ = [
    "RATIO",
    "coupling",
    "exported",
    "forecast",
    "hellinger",
    "local_net",
    "offline",
    "online_bar",
    "polynomial",
    "scaling",
    "time_split",
]

RATIO = 1.1
"""The network's online scores may be at most this multiple of the polynomial's."""
NONE_FACTOR = 2.0
"""No parameterisation must be at least this many times worse than the polynomial."""


def _rmse(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).pow(2).mean().sqrt())


@check("u0")
def coupling(u: Any, y: Tensor, settings: Lorenz96 | None = None) -> str:
    """Check the coupling term ``U_k = (h c / b) sum_j Y_{j,k}`` of fast variables ``y``."""
    settings = settings or Lorenz96()
    members, k, j = y.shape
    value = expect_tensor(u, name="u0")
    want = coupling_term(y, settings)
    if tuple(value.shape) == (members, j) or tuple(value.shape) == (k, j):
        raise Hint(f"`u0` has shape {tuple(value.shape)}: sum over j, the last axis (dim=-1)")
    expect_tensor(value, shape=(members, k), name="u0")
    got = value.detach().double()
    if torch.allclose(got, -want):
        raise Hint("`u0` has the wrong sign: U_k = +(h c / b) sum_j Y_{j,k}")
    if torch.allclose(got, want / settings.coupling) and settings.coupling != 1:
        raise Hint("`u0` is the plain sum: multiply by settings.coupling (h c / b)")
    if torch.allclose(got, want / j):
        raise Hint("`u0` is a mean over j: U_k is the sum times h c / b")
    if not torch.allclose(got, want, rtol=1e-6, atol=1e-9):
        raise Hint("`u0` differs from (h c / b) * y0.sum(dim=-1)")
    return f"`u0` is the coupling term, shape {tuple(value.shape)}"


def _pairs(truth: Truth, rows: Tensor) -> tuple[Tensor, Tensor]:
    k = truth.settings.K
    return truth.x[rows].reshape(-1, k), truth.u[rows].reshape(-1, k)


@check("x_train", "u_train", "x_valid", "u_valid")
def time_split(
    x_train: Any,
    u_train: Any,
    x_valid: Any,
    u_valid: Any,
    truth: Truth,
    train_until: float,
    gap: float,
) -> str:
    """Check a split in time: training before ``train_until``, validation after the gap."""
    k = truth.settings.K
    for name, value in [("x_train", x_train), ("u_train", u_train)]:
        expect_tensor(value, name=name)
    for name, value in [("x_valid", x_valid), ("u_valid", u_valid)]:
        expect_tensor(value, name=name)
    if x_train.dim() != 2 or x_train.shape[1] != k:
        raise Hint(
            f"`x_train` has shape {tuple(x_train.shape)}; expected (N, {k}): "
            f".reshape(-1, {k}) after choosing the times"
        )
    if x_train.shape != u_train.shape or x_valid.shape != u_valid.shape:
        raise Hint("each x and its u must have the same shape: choose the same rows of both")
    want_train = _pairs(truth, truth.times < train_until)
    want_valid = _pairs(truth, truth.times >= train_until + gap)
    all_states = truth.x.reshape(-1, k)
    if len(x_train) + len(x_valid) == len(all_states) and len(x_valid) > len(want_valid[0]):
        raise Hint(
            "there is no gap: leave out the samples between train_until and train_until + gap"
        )
    if x_train.shape == want_train[0].shape and not torch.equal(x_train, want_train[0]):
        if torch.equal(x_train.sort(dim=0).values, want_train[0].sort(dim=0).values):
            return "the split is in time (rows shuffled, which is fine for training)"
        raise Hint(
            "`x_train` holds states from after train_until: this is a random split. "
            "Choose rows with truth.times < train_until, all members"
        )
    if x_train.shape != want_train[0].shape or x_valid.shape != want_valid[0].shape:
        raise Hint(
            f"expected {len(want_train[0])} training and {len(want_valid[0])} validation "
            f"rows, got {len(x_train)} and {len(x_valid)}: training times < {train_until}, "
            f"validation times >= {train_until + gap}, every member"
        )
    if not torch.equal(x_valid, want_valid[0]):
        raise Hint("`x_valid` is not the states after the gap, in time order")
    if not (torch.equal(u_train, want_train[1]) and torch.equal(u_valid, want_valid[1])):
        raise Hint("the u tensors do not belong to the x tensors: take the same rows of truth.u")
    return f"split in time: {len(x_train)} training and {len(x_valid)} validation states"


@check("poly_coefficients")
def polynomial(coefficients: Any, x_train: Tensor, u_train: Tensor) -> str:
    """Check the least-squares cubic ``(c0, c1, c2, c3)`` fitted on the training pairs."""
    value = expect_tensor(coefficients, name="poly_coefficients")
    if value.numel() == 3:
        raise Hint("3 coefficients: include the column of ones (c0, the constant term)")
    if value.numel() != 4:
        raise Hint(f"`poly_coefficients` has {value.numel()} values; a cubic has 4")
    got = value.detach().reshape(4).double()
    want = CubicPolynomial.fit(x_train, u_train).coefficients
    if torch.allclose(got.flip(0), want, rtol=1e-3, atol=1e-4):
        raise Hint("the coefficients are in reverse order: (c0, c1, c2, c3) for 1, X, X^2, X^3")
    if not torch.allclose(got, want, rtol=1e-3, atol=1e-4):
        raise Hint(
            "these are not the least-squares coefficients on the training pairs: one row per "
            "grid point of x_train (reshape(-1, 1)), columns 1, X, X^2, X^3, targets u_train"
        )
    return "least-squares cubic: " + ", ".join(f"{c:.4g}" for c in got.tolist())


def _roll_problem(outputs: Tensor, rolled_outputs: Tensor) -> bool:
    return not torch.allclose(outputs.roll(1, dims=1), rolled_outputs, atol=1e-5, rtol=1e-4)


@check("local_net")
def local_net(net: Any) -> str:
    """Check a local network: ``(N, K)`` to ``(N, K)`` for any ``K``, periodic on the ring."""
    example = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    output = model_output(net, "local_net", example)
    if output.dim() == 3:
        raise Hint(
            f"`local_net` returns shape {tuple(output.shape)}: drop the channel axis at the "
            "end (nn.Flatten())"
        )
    if output.dim() == 2 and output.shape[1] < 8:
        raise Hint(
            f"`local_net` maps (4, 8) to {tuple(output.shape)}: the ring got shorter. Pad the "
            "first convolution by kernel_size // 2 (padding=2)"
        )
    expect_tensor(output, shape=(4, 8), name="local_net(x)")
    if _roll_problem(output, model_output(net, "local_net", example.roll(1, dims=1))):
        raise Hint(
            "`local_net` treats grid points differently: moving the state one place around "
            'the ring should move the output too. Use padding_mode="circular"'
        )
    longer = model_output(net, "local_net", torch.randn(4, 16))
    if tuple(longer.shape) != (4, 16):
        raise Hint("`local_net` does not run on a ring of 16 points: use convolutions only")
    return "`local_net` is local, periodic, and runs on a ring of any length"


@check("x_mean", "x_std", "u_mean", "u_std")
def scaling(
    x_mean: Any, x_std: Any, u_mean: Any, u_std: Any, x_train: Tensor, u_train: Tensor
) -> str:
    """Check the standardisation statistics: one mean and std each for X and U, from training."""
    got = [
        number(v, n)
        for v, n in zip([x_mean, x_std, u_mean, u_std], ["x_mean", "x_std", "u_mean", "u_std"])
    ]
    if got == [0.0, 1.0, 0.0, 1.0]:
        raise Hint("0 and 1 leave the data unscaled: compute the statistics from x_train, u_train")
    want = [x_train.mean(), x_train.std(), u_train.mean(), u_train.std()]
    for value, expected, name in zip(got, want, ["x_mean", "x_std", "u_mean", "u_std"]):
        if not math.isclose(value, float(expected), rel_tol=0.01, abs_tol=0.01):
            raise Hint(
                f"`{name}` is {value:.4g}, expected {float(expected):.4g}: one number over all "
                "training states and grid points (x_train.mean(), x_train.std(), ...)"
            )
    return f"X: mean {got[0]:.3f}, std {got[1]:.3f}; U: mean {got[2]:.3f}, std {got[3]:.3f}"


@check("net_param")
def offline(net: Any, poly: Any, x_valid: Tensor, u_valid: Tensor) -> str:
    """Check the wrapped network's offline error, in physical units, against the polynomial."""
    predicted = model_output(net, "net_param", x_valid)
    expect_tensor(predicted, shape=tuple(x_valid.shape), name="net_param(x_valid)")
    got = _rmse(predicted, u_valid)
    with torch.no_grad():
        baseline = _rmse(poly(x_valid), u_valid)
    if float(predicted.std()) < 0.5 * float(u_valid.std()) and got > baseline:
        raise Hint(
            f"the network's outputs spread {float(predicted.std()):.3g}, U spreads "
            f"{float(u_valid.std()):.3g}: are they still standardised? Wrap it in Scaled(...)"
        )
    if not got < baseline:
        raise Hint(
            f"offline RMSE {got:.3f} is not below the polynomial's {baseline:.3f}: train on the "
            "standardised pairs, with the circular local network"
        )
    return f"offline RMSE of U: network {got:.3f}, polynomial {baseline:.3f}"


@check("forecast_rmse", "rmse_curves")
def forecast(function: Any, curves: Any, forecasts: Mapping[str, Any], test: Truth) -> str:
    """Check ``forecast_rmse`` on a probe, and every curve against the test truth."""
    generator = torch.Generator().manual_seed(0)
    probe_a = torch.randn(5, 3, 4, generator=generator, dtype=torch.float64)
    probe_b = torch.randn(5, 3, 4, generator=generator, dtype=torch.float64)
    got = expect_tensor(
        call(function, "forecast_rmse", probe_a, probe_b), name="forecast_rmse(...)"
    )
    want = forecast_rmse(probe_a, probe_b)
    if got.numel() == 1:
        raise Hint("`forecast_rmse` returns one number: keep the lead-time axis, mean(dim=(1, 2))")
    if tuple(got.shape) != (5,):
        raise Hint(f"`forecast_rmse` returns shape {tuple(got.shape)}; expected (T,) = (5,)")
    if torch.allclose(got.double(), want**2):
        raise Hint("`forecast_rmse` returns the mean squared error: take the square root")
    if not torch.allclose(got.double(), want):
        raise Hint("`forecast_rmse` is not sqrt(mean over members and k of (forecast - truth)^2)")
    if not isinstance(curves, Mapping) or set(curves) != set(forecasts):
        raise Hint(f"`rmse_curves` should have one curve for each of {sorted(forecasts)}")
    for name, run in forecasts.items():
        curve = expect_tensor(curves[name], name=f"rmse_curves[{name!r}]").double()
        right = forecast_rmse(run.x, test.x)
        if curve.shape == right.shape and torch.allclose(curve, right):
            continue
        if curve.shape == right.shape and torch.allclose(
            curve, forecast_rmse(run.x, run.x[:1].expand_as(run.x))
        ):
            raise Hint(
                f"`rmse_curves[{name!r}]` compares the forecast with its own initial state: "
                "compare with the test truth at the same times, test.x"
            )
        raise Hint(
            f"`rmse_curves[{name!r}]` is not the RMSE against the test truth the forecasts "
            "started from (test.x, sampled at the same times)"
        )
    return "forecast RMSE per lead time, against the test truth"


@check("hellinger")
def hellinger(function: Any) -> str:
    """Check ``hellinger(a, b, edges)`` on samples with a known answer."""
    edges = torch.linspace(-4, 4, 9, dtype=torch.float64)
    a = torch.tensor([-3.5, -2.5, -2.5, 0.5, 0.5, 0.5, 1.5, 2.5], dtype=torch.float64)
    b = torch.tensor([-2.5, 0.5, 1.5, 1.5, 1.5, 2.5, 3.5, 3.5, 3.5, 3.5], dtype=torch.float64)
    same = number(call(function, "hellinger", a, a, edges), "hellinger(a, a, edges)")
    if not math.isclose(same, 0.0, abs_tol=1e-6):
        raise Hint(
            f"`hellinger(a, a, edges)` is {same:.4g}; identical samples must give 0: divide "
            "the counts by their sums, so that each histogram sums to 1"
        )
    got = number(call(function, "hellinger", a, b, edges), "hellinger(a, b, edges)")
    want = hellinger_distance(a, b, edges)
    if math.isclose(got, want**2, rel_tol=1e-4):
        raise Hint("`hellinger` returns 1 - sum(sqrt(p q)): take the square root")
    if got > 1.0 + 1e-9:
        raise Hint(f"`hellinger` gave {got:.4g} > 1: divide the counts by their sums first")
    if not math.isclose(got, want, rel_tol=1e-4):
        raise Hint(f"`hellinger(a, b, edges)` is {got:.4g}, expected {want:.4g}")
    return "`hellinger` is 0 for identical samples and right on a probe"


@check("exported")
def exported(result: Any, net: nn.Module, x_valid: Tensor) -> str:
    """Check the TorchScript file: physical units in and out, like ``net_param``."""
    path = getattr(result, "model_path", None)
    if path is None:
        raise Hint("`exported` should be what export_torchscript(...) returned")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
        loaded = torch.jit.load(str(path))
    states = x_valid[:16].float()
    with torch.no_grad():
        got = loaded(states).double()
        want = net(states).double()
    if got.shape != want.shape:
        raise Hint(f"the exported model returns {tuple(got.shape)}, expected {tuple(want.shape)}")
    scaled_net = getattr(net, "net", None)
    if isinstance(net, Scaled) and scaled_net is not None:
        with torch.no_grad():
            bare = scaled_net(((states - net.x_mean) / net.x_std).float()).double()
        if torch.allclose(got, bare, atol=1e-4) or torch.allclose(
            got, scaled_net(states).double(), atol=1e-4
        ):
            raise Hint(
                "the exported model returns standardised values: export `net_param` (the "
                "network wrapped in Scaled), so Fortran passes and gets physical units"
            )
    error = float((got - want).abs().max() / want.abs().max())
    if error > 1e-5:
        raise Hint(f"the exported model differs from net_param by {error:.2e} (relative)")
    return f"TorchScript with the scaling inside: physical units in and out ({error:.1e})"


@check("rmse_curves", "climate_distance")
def online_bar(
    curves: Mapping[str, Tensor],
    distances: Mapping[str, float],
    at_one: int,
    *,
    floor: float = 0.0,
) -> str:
    """Check the lesson's bar: the network within 1.1x the polynomial online; none far worse.

    Parameters
    ----------
    curves, distances
        Forecast RMSE curves and climate distances of ``"none"``, ``"polynomial"``
        and ``"network"``.
    at_one
        Index of the lead time of one model time unit.
    floor
        The climate distance between two truth runs of the same size: the
        sampling noise. A climate distance above the polynomial's by less than
        this is within the noise, and accepted.
    """
    rmse = {name: float(curves[name][at_one]) for name in ("none", "polynomial", "network")}
    climate = {name: float(distances[name]) for name in ("none", "polynomial", "network")}
    rmse_ratio = rmse["network"] / rmse["polynomial"]
    climate_ratio = climate["network"] / climate["polynomial"]
    within_noise = climate["network"] - climate["polynomial"] <= floor
    none_rmse = rmse["none"] / rmse["polynomial"]
    none_climate = climate["none"] / climate["polynomial"]
    summary = (
        f"network / polynomial: RMSE at 1 MTU {rmse_ratio:.2f}, climate distance "
        f"{climate_ratio:.2f} (bar <= {RATIO}"
        + (f", or within the sampling floor {floor:.3f}" if floor else "")
        + f"); no parameterisation: {none_rmse:.1f}x and {none_climate:.1f}x the polynomial's"
    )
    if rmse_ratio > RATIO or (climate_ratio > RATIO and not within_noise):
        raise Hint(summary)
    if min(none_rmse, none_climate) < NONE_FACTOR:
        raise Hint(summary + ": no parameterisation should be clearly worse")
    return summary
