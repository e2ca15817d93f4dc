"""The Lorenz-96 test bed: the equations, the integrators, the metrics and the parameterisations."""

from __future__ import annotations

import math

import pytest
import torch

from practicaltorch.data import lorenz96
from practicaltorch.data.lorenz96 import (
    Lorenz96,
    Lorenz96Error,
    climate_histogram,
    coupling_term,
    forecast_rmse,
    hellinger_distance,
    initial_states,
    no_parameterisation,
    one_scale_tendency,
    run_one_scale,
    simulate_truth,
    split_in_time,
    two_scale_step,
    two_scale_tendency,
)
from practicaltorch.models import MLP, build_model
from practicaltorch.models.lorenz96 import CubicPolynomial, LocalNet, Scaled

SETTINGS = Lorenz96()


def reference_tendency(x: torch.Tensor, y: torch.Tensor, s: Lorenz96) -> tuple[torch.Tensor, ...]:
    """The two-scale equations of Wilks (2005), written element by element."""
    members, k_count, j_count = y.shape
    ring = y.reshape(members, -1)
    n = ring.shape[1]
    dx = torch.empty_like(x)
    dy = torch.empty_like(ring)
    for k in range(k_count):
        advection = -x[:, k - 1] * (x[:, k - 2] - x[:, (k + 1) % k_count])
        dx[:, k] = advection - x[:, k] + s.F - s.h * s.c / s.b * y[:, k].sum(dim=1)
    for i in range(n):
        advection = -s.c * s.b * ring[:, (i + 1) % n] * (ring[:, (i + 2) % n] - ring[:, i - 1])
        dy[:, i] = advection - s.c * ring[:, i] + s.h * s.c / s.b * x[:, i // j_count]
    return dx, dy.reshape(y.shape)


def test_tendency_matches_the_equations_written_out() -> None:
    x, y = initial_states(3, SETTINGS, seed=1)
    y = y * 10
    dx, dy = two_scale_tendency(x, y, SETTINGS)
    want_dx, want_dy = reference_tendency(x, y, SETTINGS)
    assert torch.allclose(dx, want_dx, atol=1e-10)
    assert torch.allclose(dy, want_dy, atol=1e-10)


def test_coupling_term_damps_the_slow_variables() -> None:
    """U = (h c / b) sum_j Y is subtracted: positive fast variables slow X down."""
    x = torch.full((1, 8), 5.0, dtype=torch.float64)
    y = torch.full((1, 8, 32), 0.5, dtype=torch.float64)
    assert torch.allclose(coupling_term(y, SETTINGS), torch.full((1, 8), 16.0, dtype=torch.float64))
    dx, _ = two_scale_tendency(x, y, SETTINGS)
    assert torch.allclose(dx, torch.full_like(x, SETTINGS.F - 5.0 - 16.0))


def test_advection_conserves_energy() -> None:
    x = torch.randn(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    advection = one_scale_tendency(x, 0.0, torch.zeros_like(x)) + x
    assert torch.allclose((x * advection).sum(dim=1), torch.zeros(4, dtype=torch.float64))


def test_ensemble_members_evolve_independently() -> None:
    x, y = initial_states(3, SETTINGS, seed=2)
    bx, by = x.clone(), y.clone()
    sx, sy = x[1:2].clone(), y[1:2].clone()
    for _ in range(20):
        bx, by = two_scale_step(bx, by, 0.001, SETTINGS)
        sx, sy = two_scale_step(sx, sy, 0.001, SETTINGS)
    assert torch.allclose(bx[1:2], sx, rtol=1e-12, atol=1e-12)


def test_truth_is_deterministic_given_a_seed() -> None:
    a = simulate_truth(2, 0.05, spin_up=0.05, seed=3)
    b = simulate_truth(2, 0.05, spin_up=0.05, seed=3)
    c = simulate_truth(2, 0.05, spin_up=0.05, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.u, b.u)
    assert not torch.equal(a.x, c.x)
    assert a.x.shape == (11, 2, 8) and a.u.shape == (11, 2, 8)
    assert torch.allclose(a.times, torch.arange(11, dtype=torch.float64) * 0.005)


def stepped_truth(n_members: int, steps: int, every: int, seed: int) -> tuple[torch.Tensor, ...]:
    """The truth's samples computed with the plain, allocating ``two_scale_step``."""
    x, y = initial_states(n_members, SETTINGS, seed=seed)
    xs, us = [x], [coupling_term(y, SETTINGS)]
    for step in range(1, steps + 1):
        x, y = two_scale_step(x, y, 0.001, SETTINGS)
        if step % every == 0:
            xs.append(x)
            us.append(coupling_term(y, SETTINGS))
    return torch.stack(xs), torch.stack(us)


@pytest.mark.parametrize("block", [2, 200])
def test_truth_integrator_agrees_with_the_plain_rk4_step(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fused integrator, in blocks of members or all at once, is the same RK4 to round-off."""
    monkeypatch.setattr(lorenz96, "MEMBERS_PER_BLOCK", block)
    truth = simulate_truth(5, 0.02, spin_up=0.0, sample_dt=0.002, seed=7)
    want_x, want_u = stepped_truth(5, 20, 2, seed=7)
    assert truth.x.shape == want_x.shape == (11, 5, 8)
    assert torch.allclose(truth.x, want_x, rtol=0, atol=1e-12)
    assert torch.allclose(truth.u, want_u, rtol=0, atol=1e-12)
    assert not torch.allclose(truth.x[-1], want_x[0], atol=1e-3)  # the states did move


def test_truth_after_a_spin_up_agrees_with_the_plain_rk4_step() -> None:
    truth = simulate_truth(3, 0.01, spin_up=0.02, seed=1)
    want_x, want_u = stepped_truth(3, 30, 5, seed=1)
    assert torch.allclose(truth.x, want_x[4:], rtol=0, atol=1e-12)
    assert torch.allclose(truth.u, want_u[4:], rtol=0, atol=1e-12)


def test_one_scale_rk4_is_fourth_order() -> None:
    x0 = simulate_truth(2, 0.0, spin_up=0.5, seed=0).x[0]
    exact = run_one_scale(x0, duration=0.2, dt=0.0005).x[-1]
    coarse = run_one_scale(x0, duration=0.2, dt=0.01).x[-1]
    fine = run_one_scale(x0, duration=0.2, dt=0.005).x[-1]
    ratio = float((coarse - exact).abs().max() / (fine - exact).abs().max())
    assert 10 < ratio < 25  # 2^4 = 16 for a fourth-order method


def plain_one_scale_step(x: torch.Tensor, u: torch.Tensor, dt: float) -> torch.Tensor:
    """One RK4 step of ``one_scale_tendency`` as the equations read, ``u`` held fixed."""
    k1 = one_scale_tendency(x, SETTINGS.F, u)
    k2 = one_scale_tendency(x + 0.5 * dt * k1, SETTINGS.F, u)
    k3 = one_scale_tendency(x + 0.5 * dt * k2, SETTINGS.F, u)
    k4 = one_scale_tendency(x + dt * k3, SETTINGS.F, u)
    return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


@pytest.mark.parametrize("k", [8, 16])
def test_one_scale_run_agrees_with_the_plain_rk4_step(k: int) -> None:
    """``run_one_scale``'s fused step is the RK4 of ``one_scale_tendency`` to round-off."""
    x = simulate_truth(3, 0.0, settings=Lorenz96(K=k), spin_up=0.2, seed=5).x[0]
    poly = CubicPolynomial(torch.tensor([0.75, 1.1, 0.001, -0.003]))
    run = run_one_scale(x, poly, 0.1)
    want = [x]
    for _ in range(20):
        want.append(plain_one_scale_step(want[-1], poly(want[-1]), 0.005))
    assert torch.allclose(run.x, torch.stack(want), rtol=0, atol=1e-12)
    assert not torch.allclose(run.x[-1], x, atol=1e-2)  # the states did move


def test_split_in_time_keeps_a_gap() -> None:
    truth = simulate_truth(2, 0.1, spin_up=0.05, seed=0)
    (x_train, u_train), (x_valid, _) = split_in_time(truth, 0.05, gap=0.02)
    assert x_train.shape == (10 * 2, 8) and u_train.shape == x_train.shape
    assert torch.equal(x_train[:2], truth.x[0]) and torch.equal(x_valid[:2], truth.x[14])
    assert len(x_valid) == (21 - 14) * 2
    with pytest.raises(Lorenz96Error, match="no validation samples"):
        split_in_time(truth, 0.09, gap=0.02)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: simulate_truth(1, 0.1, dt=0.005), "too large for the two-scale"),
        (lambda: simulate_truth(1, 0.1, dt=-0.001), "must be positive"),
        (lambda: simulate_truth(1, 0.0103), "not a whole number"),
        (lambda: simulate_truth(0, 0.1), "at least one member"),
        (lambda: run_one_scale(torch.zeros(2, 8), dt=0.1), "too large for the one-scale"),
        (lambda: run_one_scale(torch.zeros(8)), "shape \\(members, K\\)"),
        (lambda: Lorenz96(K=3), "at least 4"),
    ],
)
def test_bad_settings_are_explained(call: object, message: str) -> None:
    with pytest.raises(Lorenz96Error, match=message):
        call()  # type: ignore[operator]


def test_a_network_for_another_k_is_refused_clearly() -> None:
    dense = MLP(8, 8, hidden=(16,))
    with pytest.raises(Lorenz96Error, match="another K"):
        run_one_scale(torch.zeros(3, 16), dense, 0.1)
    with pytest.raises(Lorenz96Error, match="same shape"):
        run_one_scale(torch.zeros(3, 8), lambda x: x.sum(dim=1), 0.1)


def test_members_that_blow_up_are_recorded_and_the_rest_continue() -> None:
    x0 = torch.tensor([[1.0] * 8, [8.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)

    def unstable(x: torch.Tensor) -> torch.Tensor:
        # anti-damping on the non-uniform member; the uniform one stays uniform, and bounded
        return torch.where(x.std(dim=1, keepdim=True) > 0.1, -30 * x, torch.zeros_like(x))

    run = run_one_scale(x0, unstable, 1.0, output_dt=0.05)
    assert run.n_blown_up == 1 and math.isfinite(float(run.blown_up[1]))
    assert torch.isnan(run.x[-1, 1]).all() and torch.isfinite(run.x[:, 0]).all()
    assert math.isinf(forecast_rmse(run.x, torch.zeros_like(run.x))[-1])
    assert climate_histogram(run.x)[-1] > 0  # counted beyond the last bin, not hidden


def test_forecast_rmse_and_its_shape_check() -> None:
    a = torch.zeros(3, 2, 4, dtype=torch.float64)
    b = torch.ones(3, 2, 4, dtype=torch.float64) * torch.tensor([0.0, 1.0, 2.0]).reshape(3, 1, 1)
    assert torch.allclose(forecast_rmse(a, b), torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))
    with pytest.raises(Lorenz96Error, match="same times"):
        forecast_rmse(a, b[:2])


def test_hellinger_distance_bounds() -> None:
    a = torch.randn(5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert hellinger_distance(a, a) == 0.0
    assert hellinger_distance(a - 10, a + 20) == pytest.approx(1.0)
    assert hellinger_distance(a, a + 1) == pytest.approx(hellinger_distance(a + 1, a))
    assert 0 < hellinger_distance(a, a + 1) < 1


def test_cubic_polynomial_recovers_a_cubic() -> None:
    x = torch.linspace(-10, 15, 400, dtype=torch.float64).reshape(50, 8)
    u = 0.5 + 1.2 * x - 0.03 * x**2 + 0.002 * x**3
    poly = CubicPolynomial.fit(x, u)
    assert torch.allclose(
        poly.coefficients, torch.tensor([0.5, 1.2, -0.03, 0.002], dtype=torch.float64)
    )
    assert torch.allclose(poly(x), u)


def test_local_net_is_periodic_and_runs_on_any_ring() -> None:
    torch.manual_seed(0)
    net = LocalNet(5, (8, 8)).eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.allclose(net(x.roll(2, dims=1)), net(x).roll(2, dims=1), atol=1e-6)
        assert net(torch.randn(3, 16)).shape == (3, 16)
        zeros = LocalNet(5, (8, 8), padding_mode="zeros").eval()
        assert not torch.allclose(zeros(x.roll(2, dims=1)), zeros(x).roll(2, dims=1), atol=1e-6)
    assert isinstance(build_model("LocalNet", net.config), LocalNet)
    with pytest.raises(ValueError, match="odd width"):
        LocalNet(4)


def test_scaled_network_speaks_physical_units_and_scripts() -> None:
    net = Scaled(torch.nn.Identity(), x_mean=2.0, x_std=4.0, u_mean=1.0, u_std=3.0)
    x = torch.tensor([[6.0, 2.0, -2.0, 10.0]], dtype=torch.float64)
    out = net(x)
    assert out.dtype == torch.float64
    assert torch.allclose(out, (x - 2.0) / 4.0 * 3.0 + 1.0)
    scripted = torch.jit.script(Scaled(LocalNet(3, (4,)), 2.0, 4.0, 1.0, 3.0).eval())
    assert scripted(x).shape == x.shape
    with pytest.raises(ValueError, match="positive"):
        Scaled(torch.nn.Identity(), 0.0, 0.0, 0.0, 1.0)


def test_no_parameterisation_is_zero() -> None:
    x = torch.randn(2, 8)
    assert torch.equal(no_parameterisation(x), torch.zeros_like(x))
