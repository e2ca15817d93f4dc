"""Self-checks for lesson 09: a neural parameterisation of Lorenz-96, offline and online."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import mse_loss

from practicaltorch.checks import Hint, call, check, expect_shape, expect_tensor, number
from practicaltorch.checks._core import model_output
from practicaltorch.data import lorenz96
from practicaltorch.data.lorenz96 import Lorenz96, Truth
from practicaltorch.models.lorenz96 import CubicPolynomial, Scaled

RATIO = 1.1  # the network's online scores may be at most this multiple of the polynomial's
NONE_FACTOR = 2.0  # no parameterisation must be at least this many times worse than the polynomial


@check("u0")
def coupling(u: Any, y: Tensor, settings: Lorenz96 | None = None) -> str:
    """Check the coupling term ``U_k = (h c / b) sum_j Y_{j,k}`` of fast variables ``y``."""
    settings = settings or Lorenz96()
    members, k, j = y.shape
    got = expect_tensor(u, name="u0").detach().double()
    axis = "`u0` sums over the wrong axis: sum over j, the last axis (dim=-1)"
    expect_shape(got, (members, k), name="u0", slips={(members, j): axis, (k, j): axis})
    want = lorenz96.coupling_term(y, settings)
    if torch.allclose(got, want, rtol=1e-6, atol=1e-9):
        return f"`u0` is the coupling term, shape {tuple(got.shape)}"
    slips = {
        "has the wrong sign: U_k = +(h c / b) sum_j Y_{j,k}": -want,
        "is the plain sum: multiply by settings.coupling (h c / b)": want / settings.coupling,
        "is a mean over j: U_k is the sum times h c / b": want / j,
    }
    other = "differs from (h c / b) * y0.sum(dim=-1)"
    raise Hint(f"`u0` {next((h for h, v in slips.items() if torch.allclose(got, v)), other)}")


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
    named = {"x_train": x_train, "u_train": u_train, "x_valid": x_valid, "u_valid": u_valid}
    for name, value in named.items():
        expect_tensor(value, name=name)
    if x_train.dim() != 2 or x_train.shape[1] != k:
        raise Hint(f"`x_train` has shape {tuple(x_train.shape)}, not (N, {k}): .reshape(-1, {k})")
    if x_train.shape != u_train.shape or x_valid.shape != u_valid.shape:
        raise Hint("each x and its u must have the same shape: choose the same rows of both")
    want_train, want_valid = (
        (truth.x[rows].reshape(-1, k), truth.u[rows].reshape(-1, k))
        for rows in (truth.times < train_until, truth.times >= train_until + gap)
    )
    if len(x_train) + len(x_valid) == truth.x[..., 0].numel() and len(x_valid) > len(want_valid[0]):
        raise Hint("there is no gap: leave out the samples from train_until to train_until + gap")
    if x_train.shape == want_train[0].shape and not torch.equal(x_train, want_train[0]):
        if torch.equal(x_train.sort(dim=0).values, want_train[0].sort(dim=0).values):
            return "the split is in time (rows shuffled, which is fine for training)"
        raise Hint("`x_train` holds later states: a random split. Keep truth.times < train_until")
    if x_train.shape != want_train[0].shape or x_valid.shape != want_valid[0].shape:
        raise Hint(
            f"expected {len(want_train[0])} training and {len(want_valid[0])} validation rows: "
            f"every member at times < {train_until}, then >= {train_until + gap}"
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
        raise Hint("not the least squares of the training pairs: fit u_train on 1, X, X^2, X^3")
    return "least-squares cubic: " + ", ".join(f"{c:.4g}" for c in got.tolist())


@check("local_net")
def local_net(net: Any) -> str:
    """Check a local network: ``(N, K)`` to ``(N, K)`` for any ``K``, periodic on the ring."""
    example = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    output = model_output(net, "local_net", example)
    if output.dim() == 3:
        raise Hint(f"`local_net` gives {tuple(output.shape)}: drop the channel axis, nn.Flatten()")
    if output.dim() == 2 and output.shape[1] < 8:
        raise Hint("`local_net` shortens the ring: pad by kernel_size // 2 (padding=2)")
    expect_tensor(output, shape=(4, 8), name="local_net(x)")
    rolled = model_output(net, "local_net", example.roll(1, dims=1))
    if not torch.allclose(output.roll(1, dims=1), rolled, atol=1e-5, rtol=1e-4):
        raise Hint('`local_net` treats grid points differently: pad with padding_mode="circular"')
    if tuple(model_output(net, "local_net", example.repeat(1, 2)).shape) != (4, 16):
        raise Hint("`local_net` does not run on a ring of 16 points: use convolutions only")
    return "`local_net` is local, periodic, and runs on a ring of any length"


@check("x_mean", "x_std", "u_mean", "u_std")
def scaling(
    x_mean: Any, x_std: Any, u_mean: Any, u_std: Any, x_train: Tensor, u_train: Tensor
) -> str:
    """Check the standardisation statistics: one mean and std each for X and U, from training."""
    names = ["x_mean", "x_std", "u_mean", "u_std"]
    got = [number(v, n) for v, n in zip([x_mean, x_std, u_mean, u_std], names)]
    if got == [0.0, 1.0, 0.0, 1.0]:
        raise Hint("0 and 1 leave the data unscaled: compute the statistics from x_train, u_train")
    want = [float(t) for t in (x_train.mean(), x_train.std(), u_train.mean(), u_train.std())]
    for value, expected, name in zip(got, want, names):
        if not math.isclose(value, expected, rel_tol=0.01, abs_tol=0.01):
            raise Hint(f"`{name}` is {value:.4g}, not {expected:.4g}: use all training states")
    return f"X: mean {got[0]:.3f}, std {got[1]:.3f}; U: mean {got[2]:.3f}, std {got[3]:.3f}"


@check("net_param")
def offline(net: Any, poly: Any, x_valid: Tensor, u_valid: Tensor) -> str:
    """Check the wrapped network's offline error, in physical units, against the polynomial."""
    predicted = model_output(net, "net_param", x_valid)
    expect_tensor(predicted, shape=tuple(x_valid.shape), name="net_param(x_valid)")
    got = float(mse_loss(predicted.double(), u_valid.double()).sqrt())
    with torch.no_grad():
        baseline = float(mse_loss(poly(x_valid).double(), u_valid.double()).sqrt())
    spread, u_spread = float(predicted.std()), float(u_valid.std())
    if spread < 0.5 * u_spread and got > baseline:
        raise Hint(f"outputs spread {spread:.3g}, U {u_spread:.3g}: standardised? Use Scaled(...)")
    if not got < baseline:
        raise Hint(f"RMSE {got:.3f} is not below the polynomial's {baseline:.3f}: train longer")
    return f"offline RMSE of U: network {got:.3f}, polynomial {baseline:.3f}"


@check("forecast_rmse", "rmse_curves")
def forecast(function: Any, curves: Any, forecasts: Mapping[str, Any], test: Truth) -> str:
    """Check ``forecast_rmse`` on a probe, and every curve against the test truth."""
    probe = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = expect_tensor(call(function, "forecast_rmse", *probe), name="forecast_rmse(...)")
    want = lorenz96.forecast_rmse(*probe)
    one = "`forecast_rmse` returns one number: keep the lead-time axis, mean(dim=(1, 2))"
    expect_shape(got, (5,), name="forecast_rmse(...)", slips={(): one, (1,): one})
    if torch.allclose(got.double(), want**2):
        raise Hint("`forecast_rmse` returns the mean squared error: take the square root")
    if not torch.allclose(got.double(), want):
        raise Hint("`forecast_rmse` is not sqrt(mean over members and k of (forecast - truth)^2)")
    if not isinstance(curves, Mapping) or set(curves) != set(forecasts):
        raise Hint(f"`rmse_curves` should have one curve for each of {sorted(forecasts)}")
    for name, run in forecasts.items():
        curve = expect_tensor(curves[name], name=f"rmse_curves[{name!r}]").double()
        own_start = lorenz96.forecast_rmse(run.x, run.x[:1].expand_as(run.x))
        right = lorenz96.forecast_rmse(run.x, test.x)
        if curve.shape == right.shape and torch.allclose(curve, right):
            continue
        if curve.shape == right.shape and torch.allclose(curve, own_start):
            raise Hint(f"`rmse_curves[{name!r}]` compares with the initial state: use test.x")
        raise Hint(f"`rmse_curves[{name!r}]` is not the RMSE against the test truth, test.x")
    return "forecast RMSE per lead time, against the test truth"


@check("hellinger")
def hellinger(function: Any) -> str:
    """Check ``hellinger(a, b, edges)`` on samples with a known answer."""
    edges = torch.linspace(-4, 4, 9, dtype=torch.float64)
    a = torch.tensor([-3.5, -2.5, -2.5, 0.5, 0.5, 0.5, 1.5, 2.5], dtype=torch.float64)
    b = torch.tensor([-2.5, 0.5, 1.5, 1.5, 1.5, 2.5, 3.5, 3.5, 3.5, 3.5], dtype=torch.float64)
    same = number(call(function, "hellinger", a, a, edges), "hellinger(a, a, edges)")
    if not math.isclose(same, 0.0, abs_tol=1e-6):
        raise Hint(f"`hellinger(a, a)` is {same:.4g}, not 0: divide the counts by their sums")
    got = number(call(function, "hellinger", a, b, edges), "hellinger(a, b, edges)")
    want = lorenz96.hellinger_distance(a, b, edges)
    if math.isclose(got, want**2, rel_tol=1e-4):
        raise Hint("`hellinger` returns 1 - sum(sqrt(p q)): take the square root")
    if got > 1.0 + 1e-9:
        raise Hint(f"`hellinger` gave {got:.4g}, but sqrt(1 - sum(sqrt(p q))) is at most 1")
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
    bare: list[Tensor] = []
    with torch.no_grad():
        got, want = loaded(states).double(), net(states).double()
        if isinstance(net, Scaled):
            bare = [net.net(states), net.net((states - net.x_mean) / net.x_std)]
    if got.shape != want.shape:
        raise Hint(f"the exported model returns {tuple(got.shape)}, expected {tuple(want.shape)}")
    if any(torch.allclose(got, b.double(), atol=1e-4) for b in bare):
        raise Hint("the exported model returns standardised values: export `net_param` (Scaled)")
    error = float((got - want).abs().max() / want.abs().max())
    if error > 1e-5:
        raise Hint(f"the exported model differs from net_param by {error:.2e} (relative)")
    return f"TorchScript with the scaling inside: physical units in and out ({error:.1e})"


@check("rmse_curves", "climate_distance")
def online_bar(
    curves: Mapping[str, Tensor], distances: Mapping[str, float], at_one: int, *, floor: float = 0.0
) -> str:
    """Check the network is within ``RATIO`` of the polynomial online, and none clearly worse.

    ``at_one`` indexes the lead time of one model time unit; a climate distance above the
    polynomial's by at most ``floor`` (two truth runs' distance: sampling noise) is accepted.
    """
    rmse = {n: float(curves[n][at_one] / curves["polynomial"][at_one]) for n in ("network", "none")}
    climate = {n: float(distances[n] / distances["polynomial"]) for n in ("network", "none")}
    within_noise = float(distances["network"] - distances["polynomial"]) <= floor
    noise = f", or within the sampling floor {floor:.3f}" if floor else ""
    summary = (
        f"network / polynomial: RMSE at 1 MTU {rmse['network']:.2f}, climate distance "
        f"{climate['network']:.2f} (bar <= {RATIO}{noise}); no parameterisation: "
        f"{rmse['none']:.1f}x and {climate['none']:.1f}x the polynomial's"
    )
    if rmse["network"] > RATIO or (climate["network"] > RATIO and not within_noise):
        raise Hint(summary)
    if min(rmse["none"], climate["none"]) < NONE_FACTOR:
        raise Hint(summary + ": no parameterisation should be clearly worse")
    return summary
