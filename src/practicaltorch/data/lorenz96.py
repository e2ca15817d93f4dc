"""The two-scale Lorenz-96 system: a test bed for machine-learned parameterisations.

Lorenz (1996) coupled ``K`` slow variables ``X_k`` on a ring to ``J`` fast
variables ``Y_{j,k}`` each. In the formulation of Wilks (2005) and Arnold et al.
(2013), with every index periodic and the fast variables forming one ring of
``J K`` values (``Y_{J+1,k} = Y_{1,k+1}``)::

    dX_k/dt     = X_{k-1} (X_{k+1} - X_{k-2}) - X_k + F - U_k
    dY_{j,k}/dt = c b Y_{j+1,k} (Y_{j-1,k} - Y_{j+2,k}) - c Y_{j,k} + (h c / b) X_k
    U_k         = (h c / b) sum_j Y_{j,k}

So ``U_k`` is the *coupling term* and it is **subtracted** from the slow
tendency: a positive ``U_k`` damps ``X_k``. (Some papers, for example Rasp 2020,
call ``-U_k`` the subgrid tendency instead; the physics is the same.)

A *parameterisation* replaces the fast variables by a function of the slow ones,
``U ~ P(X)``. The one-scale model :func:`run_one_scale` steps only ``X``, with
any callable ``P`` mapping a batch of states ``(E, K)`` to ``(E, K)``.

Everything is batched over an ensemble of states (the first dimension), runs in
float64 and is deterministic given a seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "MAX_DT_ONE_SCALE",
    "MAX_DT_TWO_SCALE",
    "MODEL_DT",
    "TRUTH_DT",
    "Lorenz96",
    "Lorenz96Error",
    "OneScaleRun",
    "Parameterisation",
    "Truth",
    "climate_histogram",
    "coupling_term",
    "forecast_rmse",
    "hellinger_distance",
    "initial_states",
    "no_parameterisation",
    "one_scale_tendency",
    "run_one_scale",
    "simulate_truth",
    "split_in_time",
    "two_scale_step",
    "two_scale_tendency",
]

TRUTH_DT = 0.001
"""The usual time step of the two-scale truth, in model time units (MTU)."""
MODEL_DT = 0.005
"""The usual time step of the one-scale model (five times coarser than the truth)."""
MAX_DT_TWO_SCALE = 0.002
"""Larger steps than this make explicit RK4 on the fast variables unreliable."""
MAX_DT_ONE_SCALE = 0.05
"""Larger steps than this make explicit RK4 on the slow variables unreliable."""
CLIMATE_EDGES = (-15.0, 25.0, 41)
"""Default histogram bins for the climate of ``X``: ``torch.linspace(-15, 25, 41)``."""
BLOW_UP = 1e3
"""A state with any ``|X|`` above this (or not finite) has blown up."""

Parameterisation = Callable[[Tensor], Tensor]
"""Any function from slow states ``(E, K)`` to coupling terms ``(E, K)``."""


class Lorenz96Error(ValueError):
    """Bad settings for a Lorenz-96 run, or a parameterisation that does not fit it."""


@dataclass(frozen=True)
class Lorenz96:
    """Parameters of the two-scale Lorenz-96 system.

    Parameters
    ----------
    K
        Number of slow variables ``X_k`` on the ring.
    J
        Number of fast variables ``Y_{j,k}`` per slow variable.
    F
        Forcing of the slow variables.
    h
        Coupling strength.
    b
        Amplitude ratio of slow to fast variables.
    c
        Time-scale ratio of fast to slow variables.
    """

    K: int = 8
    J: int = 32
    F: float = 20.0
    h: float = 1.0
    b: float = 10.0
    c: float = 10.0

    def __post_init__(self) -> None:
        if int(self.K) != self.K or self.K < 4:
            raise Lorenz96Error(f"K={self.K}: the ring needs at least 4 slow variables")
        if int(self.J) != self.J or self.J < 1:
            raise Lorenz96Error(f"J={self.J}: each slow variable needs at least 1 fast variable")
        if self.b <= 0 or self.c <= 0:
            raise Lorenz96Error(f"b={self.b} and c={self.c} must both be positive")

    @property
    def coupling(self) -> float:
        """The coupling factor ``h c / b``."""
        return self.h * self.c / self.b


def _check_dt(dt: float, limit: float, which: str, usual: float) -> None:
    """Raise a clear error if ``dt`` is not a usable time step."""
    if not math.isfinite(dt) or dt <= 0:
        raise Lorenz96Error(f"the time step must be positive, got dt={dt}")
    if dt > limit:
        raise Lorenz96Error(
            f"dt={dt} is too large for the {which}: explicit RK4 becomes unstable above "
            f"about {limit} (the usual choice is {usual})"
        )


def _steps(duration: float, dt: float, name: str) -> int:
    """Return how many steps of ``dt`` make ``duration``, which must be a multiple."""
    steps = round(duration / dt)
    if steps < 0 or abs(steps * dt - duration) > 1e-9 * max(1.0, duration):
        raise Lorenz96Error(f"{name}={duration} is not a whole number of time steps dt={dt}")
    return steps


def _advection(z: Tensor) -> Tensor:
    """Return ``z_{i-1} (z_{i+1} - z_{i-2})`` on a ring (the last dimension)."""
    n = z.shape[-1]
    padded = torch.cat([z[..., -2:], z, z[..., :1]], dim=-1)  # padded[i + 2] = z[i]
    return padded[..., 1 : n + 1] * (padded[..., 3 : n + 3] - padded[..., :n])


def _fast_advection(z: Tensor) -> Tensor:
    """Return ``z_{i+1} (z_{i-1} - z_{i+2})`` on a ring (the last dimension)."""
    n = z.shape[-1]
    padded = torch.cat([z[..., -1:], z, z[..., :2]], dim=-1)  # padded[i + 1] = z[i]
    return padded[..., 2 : n + 2] * (padded[..., :n] - padded[..., 3 : n + 3])


def coupling_term(y: Tensor, settings: Lorenz96) -> Tensor:
    """Return ``U_k = (h c / b) sum_j Y_{j,k}`` for fast variables ``y`` of shape ``(E, K, J)``."""
    return settings.coupling * y.sum(dim=-1)


def one_scale_tendency(x: Tensor, forcing: float, u: Tensor) -> Tensor:
    """Return ``dX/dt`` of the slow variables ``x`` given the coupling term ``u``."""
    return _advection(x) - x + forcing - u


def two_scale_tendency(x: Tensor, y: Tensor, settings: Lorenz96) -> tuple[Tensor, Tensor]:
    """Return ``(dX/dt, dY/dt)`` of the two-scale system.

    Parameters
    ----------
    x
        Slow variables, shape ``(E, K)``.
    y
        Fast variables, shape ``(E, K, J)``.
    settings
        The system's parameters.
    """
    s = settings
    ring = y.reshape(*y.shape[:-2], s.K * s.J)
    dy = _fast_advection(ring).mul_(s.c * s.b).sub_(ring, alpha=s.c).reshape(y.shape)
    dy.add_(x.unsqueeze(-1), alpha=s.coupling)
    return one_scale_tendency(x, s.F, coupling_term(y, s)), dy


def two_scale_step(x: Tensor, y: Tensor, dt: float, settings: Lorenz96) -> tuple[Tensor, Tensor]:
    """Advance the two-scale system by one fourth-order Runge-Kutta step of ``dt``."""
    kx1, ky1 = two_scale_tendency(x, y, settings)
    kx2, ky2 = two_scale_tendency(x + 0.5 * dt * kx1, y.add(ky1, alpha=0.5 * dt), settings)
    kx3, ky3 = two_scale_tendency(x + 0.5 * dt * kx2, y.add(ky2, alpha=0.5 * dt), settings)
    kx4, ky4 = two_scale_tendency(x + dt * kx3, y.add(ky3, alpha=dt), settings)
    x = x + dt / 6 * (kx1 + 2 * kx2 + 2 * kx3 + kx4)
    y = y.add(ky1.add_(ky2, alpha=2).add_(ky3, alpha=2).add_(ky4), alpha=dt / 6)
    return x, y


def initial_states(
    n_members: int, settings: Lorenz96 = Lorenz96(), *, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Return random initial states ``x (E, K)`` and ``y (E, K, J)``, in float64.

    The slow variables are drawn with about the spread of the climate
    (``F / 5 + (F / 4) z``, for standard normal ``z``), and each fast variable
    starts near its share of a coupling term equal to ``X_k``, plus noise. States
    that start this close to the attractor need only about one model time unit of
    spin-up; states that all start alike (for example all near ``F``) take about
    two, and synchronise the ensemble's transient.
    """
    if n_members < 1:
        raise Lorenz96Error(f"n_members={n_members}: the ensemble needs at least one member")
    generator = torch.Generator().manual_seed(seed)
    shape = (n_members, settings.K)
    z = torch.randn(shape, generator=generator, dtype=torch.float64)
    x = settings.F / 5 + settings.F / 4 * z
    noise = torch.randn(*shape, settings.J, generator=generator, dtype=torch.float64)
    share = settings.coupling * settings.J if settings.coupling else 1.0
    y = x.unsqueeze(-1) / share + 0.3 * noise
    return x, y


@dataclass
class Truth:
    """Samples of a two-scale run: states and coupling terms, every ``sample_dt``.

    Attributes
    ----------
    times
        Sample times ``(T,)`` in model time units, starting at 0 after the spin-up.
    x
        Slow variables ``(T, E, K)``.
    u
        Coupling terms ``(T, E, K)``, as defined in this module.
    settings
        The system's parameters.
    sample_dt
        Time between samples.
    """

    times: Tensor
    x: Tensor
    u: Tensor
    settings: Lorenz96
    sample_dt: float

    @property
    def n_members(self) -> int:
        """Ensemble size ``E``."""
        return int(self.x.shape[1])

    def pairs(self, start: float = 0.0, stop: float = math.inf) -> tuple[Tensor, Tensor]:
        """Return the training pairs ``(X, U)``, each ``(N, K)``, of samples ``start <= t < stop``.

        Rows are ordered by time, then by member.
        """
        keep = (self.times >= start - 1e-9) & (self.times < stop - 1e-9)
        if not bool(keep.any()):
            raise Lorenz96Error(
                f"no samples between t={start} and t={stop}; the run covers "
                f"0..{float(self.times[-1]):.3f}"
            )
        k = self.settings.K
        return self.x[keep].reshape(-1, k), self.u[keep].reshape(-1, k)


def split_in_time(
    truth: Truth, train_until: float, gap: float = 0.1
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Split a run's pairs in time: training before ``train_until``, validation after a gap.

    Consecutive samples are nearly the same state, so a random split would put
    near-copies of the validation samples into the training set. A gap of a
    few decorrelation times keeps the two apart.

    Returns
    -------
    (x_train, u_train), (x_valid, u_valid)
        Each ``(N, K)``.
    """
    end = float(truth.times[-1])
    if not 0 < train_until < end - gap:
        raise Lorenz96Error(
            f"train_until={train_until} with gap={gap} leaves no validation samples in a run "
            f"of 0..{end:.3f}"
        )
    return truth.pairs(0.0, train_until), truth.pairs(train_until + gap)


def _check_finite(x: Tensor, time: float, what: str) -> None:
    """Raise if the state has blown up."""
    if not bool(torch.isfinite(x).all()) or float(x.abs().max()) > BLOW_UP:
        raise Lorenz96Error(
            f"the {what} blew up at t={time:.3f}: use a smaller time step or check the settings"
        )


@dataclass(frozen=True)
class _Rings:
    """Views of one state array of :class:`_Integrator`: each ring and its shifts.

    The array holds the fast ring ``Y`` (``K J`` rows) with a periodic halo of
    one row before and two after, then the slow ring ``X`` (``K`` rows) with
    two halo rows before and one after; members are the last dimension. So
    every shift of a ring is a contiguous block of rows, and a shifted view
    ``y_next[i]`` is ``Y_{i+1}``.
    """

    whole: Tensor
    y: Tensor
    y_cells: Tensor
    y_prev: Tensor
    y_next: Tensor
    y_next2: Tensor
    x: Tensor
    x_prev: Tensor
    x_prev2: Tensor
    x_next: Tensor

    @classmethod
    def of(cls, a: Tensor, settings: Lorenz96) -> _Rings:
        """Return the views of the array ``a``, of ``K J + K + 6`` rows."""
        n, k = settings.K * settings.J, settings.K
        x0 = n + 5  # the row of X_0
        y = a[1 : n + 1]
        return cls(
            *(a, y, y.view(k, settings.J, -1), a[0:n], a[2 : n + 2], a[3 : n + 3]),
            *(a[x0 : x0 + k], a[x0 - 1 : x0 + k - 1], a[x0 - 2 : x0 + k - 2]),
            a[x0 + 1 : x0 + k + 1],
        )


class _Integrator:
    """Fourth-order Runge-Kutta steps of the two-scale system, on preallocated buffers.

    :func:`two_scale_step` reads as the equations do but allocates a dozen
    arrays per stage; this class computes the same steps with a few fused,
    in-place operations on arrays laid out as :class:`_Rings` describes.
    """

    def __init__(self, x: Tensor, y: Tensor, dt: float, settings: Lorenz96) -> None:
        self.s, self.dt = settings, dt
        n, k, members = settings.K * settings.J, settings.K, x.shape[0]

        def rings() -> _Rings:
            return _Rings.of(torch.zeros(n + k + 6, members, dtype=torch.float64), settings)

        self.state, self.stage, self.slope, self.next = rings(), rings(), rings(), rings()
        self.state.y.copy_(y.reshape(members, n).T)
        self.state.x.copy_(x.T)
        x0 = n + 5
        self.halo = torch.tensor([0, n + 1, n + 2, x0 - 2, x0 - 1, x0 + k])
        self.wrapped = torch.tensor([n, 1, 2, x0 + k - 2, x0 + k - 1, x0])
        self.halo_values = torch.empty(len(self.halo), members, dtype=torch.float64)
        self.sums = torch.empty(k, members, dtype=torch.float64)
        self.forced = torch.empty(k, 1, members, dtype=torch.float64)

    def x(self) -> Tensor:
        """Return a copy of the slow variables, ``(E, K)``."""
        return self.state.x.T.contiguous()

    def u(self) -> Tensor:
        """Return the coupling terms, ``(E, K)``."""
        return self.state.y_cells.sum(dim=1).T.mul(self.s.coupling)

    def _tendency(self, a: _Rings) -> None:
        """Write the tendencies of the state ``a`` into ``self.slope``."""
        s, slope = self.s, self.slope
        torch.index_select(a.whole, 0, self.wrapped, out=self.halo_values)  # fill the halos
        a.whole.index_copy_(0, self.halo, self.halo_values)
        # dY_i = c b Y_{i+1} (Y_{i-1} - Y_{i+2}) - c Y_i + (h c / b) X_k
        torch.mul(a.x, s.coupling, out=self.forced[:, 0])
        torch.add(self.forced, a.y_cells, alpha=-s.c, out=slope.y_cells)
        slope.y.addcmul_(a.y_next, a.y_prev, value=s.c * s.b)
        slope.y.addcmul_(a.y_next, a.y_next2, value=-s.c * s.b)
        # dX_k = X_{k-1} (X_{k+1} - X_{k-2}) - X_k + F - (h c / b) sum_j Y_{j,k}
        torch.sum(a.y_cells, dim=1, out=self.sums)
        dx = torch.sub(a.x_next, a.x_prev2, out=slope.x)
        dx.mul_(a.x_prev).sub_(a.x).sub_(self.sums, alpha=s.coupling).add_(s.F)

    def step(self) -> None:
        """Advance the state by one RK4 step."""
        dt, state, stage, after = self.dt, self.state, self.stage, self.next
        slope = self.slope.whole
        self._tendency(state)
        torch.add(state.whole, slope, alpha=dt / 6, out=after.whole)
        for weight, advance in [(dt / 3, dt / 2), (dt / 3, dt / 2), (dt / 6, dt)]:
            torch.add(state.whole, slope, alpha=advance, out=stage.whole)
            self._tendency(stage)
            after.whole.add_(slope, alpha=weight)
        self.state, self.next = after, state


MEMBERS_PER_BLOCK = 200
"""Ensembles are integrated in blocks of at most this many members, so their arrays fit in cache."""


def _integrate(
    x: Tensor, y: Tensor, settings: Lorenz96, dt: float, spin_up: int, every: int, n_samples: int
) -> tuple[Tensor, Tensor]:
    """Spin up ``spin_up`` steps, then sample ``X`` and ``U`` every ``every`` steps."""
    integrator = _Integrator(x, y, dt, settings)
    for step in range(spin_up):
        integrator.step()
        if step % 1000 == 999:
            _check_finite(integrator.x(), (step + 1 - spin_up) * dt, "two-scale truth")
    xs = torch.empty(n_samples, *x.shape, dtype=torch.float64)
    us = torch.empty_like(xs)
    xs[0], us[0] = integrator.x(), integrator.u()
    for sample in range(1, n_samples):
        for _ in range(every):
            integrator.step()
        xs[sample], us[sample] = integrator.x(), integrator.u()
        if sample % 200 == 0:
            _check_finite(xs[sample], sample * every * dt, "two-scale truth")
    _check_finite(xs[-1], (n_samples - 1) * every * dt, "two-scale truth")
    return xs, us


def simulate_truth(
    n_members: int,
    duration: float,
    *,
    settings: Lorenz96 = Lorenz96(),
    sample_dt: float = MODEL_DT,
    spin_up: float = 2.0,
    dt: float = TRUTH_DT,
    seed: int = 0,
) -> Truth:
    """Integrate an ensemble of the two-scale system and sample ``X`` and ``U``.

    Parameters
    ----------
    n_members
        Ensemble size ``E``: independent runs, integrated together in blocks of at most
        :data:`MEMBERS_PER_BLOCK` members (the blocks change the results by round-off only).
    duration
        Model time units to sample after the spin-up.
    settings
        The system's parameters.
    sample_dt
        Time between samples; a whole number of steps ``dt``.
    spin_up
        Model time units run and discarded first, so the states lie on the attractor.
    dt
        The truth's RK4 time step.
    seed
        Seed of the random initial states.

    Returns
    -------
    Truth
        ``duration / sample_dt + 1`` samples, the first at the end of the spin-up.
    """
    _check_dt(dt, MAX_DT_TWO_SCALE, "two-scale truth", TRUTH_DT)
    every = _steps(sample_dt, dt, "sample_dt")
    if every < 1:
        raise Lorenz96Error(f"sample_dt={sample_dt} must be at least one step dt={dt}")
    n_samples = _steps(duration, sample_dt, "duration") + 1
    x, y = initial_states(n_members, settings, seed=seed)
    spin_up_steps = _steps(spin_up, dt, "spin_up")
    size = math.ceil(n_members / math.ceil(n_members / MEMBERS_PER_BLOCK))  # equal blocks
    blocks = [
        _integrate(x[i : i + size], y[i : i + size], settings, dt, spin_up_steps, every, n_samples)
        for i in range(0, n_members, size)
    ]
    xs = torch.cat([block[0] for block in blocks], dim=1)
    us = torch.cat([block[1] for block in blocks], dim=1)
    times = torch.arange(n_samples, dtype=torch.float64) * sample_dt
    return Truth(times, xs, us, settings, sample_dt)


def no_parameterisation(x: Tensor) -> Tensor:
    """Return a coupling term of zero: the slow variables on their own."""
    return torch.zeros_like(x)


@dataclass
class OneScaleRun:
    """A one-scale ensemble run.

    Attributes
    ----------
    times
        Output times ``(T,)`` in model time units.
    x
        Slow variables ``(T, E, K)``; members that blew up are NaN from then on.
    blown_up
        Per member, the time it blew up, or ``inf`` if it never did.
    """

    times: Tensor
    x: Tensor
    blown_up: Tensor

    @property
    def n_blown_up(self) -> int:
        """How many members blew up."""
        return int(torch.isfinite(self.blown_up).sum())


def _parameterised(parameterisation: Parameterisation, x: Tensor, *, check: bool = False) -> Tensor:
    """Call the parameterisation in float64 without gradients; check its shape once."""
    with torch.no_grad():
        try:
            u = parameterisation(x)
        except RuntimeError as error:
            if not check:
                raise
            raise Lorenz96Error(
                f"the parameterisation failed on states of shape {tuple(x.shape)} (K="
                f"{x.shape[-1]}): {str(error).splitlines()[0]}. A network built for another "
                "K cannot run on this ring; a local network (a convolution) can"
            ) from error
    if not isinstance(u, Tensor) or u.shape != x.shape:
        shape = tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__
        raise Lorenz96Error(
            f"the parameterisation returned {shape} for states of shape {tuple(x.shape)}: it "
            "must return one coupling term per slow variable, the same shape as its input"
        )
    return u.to(x.dtype)


def _ring_index(k: int) -> Tensor:
    """Return the indices that pad a ring of ``k`` values: ``padded[:, i + 2]`` is ``z[:, i]``."""
    return torch.tensor([k - 2, k - 1, *range(k), 0])


def _one_scale_step(x: Tensor, forced: Tensor, dt: float, ring: Tensor) -> Tensor:
    """Advance ``x`` by one RK4 step of :func:`one_scale_tendency`, with fewer operations.

    ``forced`` is ``F - U``, held fixed over the four stages; ``ring`` is
    :func:`_ring_index`. The arithmetic is that of :func:`one_scale_tendency` (a
    test keeps the two in agreement to round-off), in four operations per stage
    instead of eight: at a few hundred members the cost is the number of
    operations, not their size.
    """
    n = x.shape[1]

    def tendency(z: Tensor) -> Tensor:
        padded = z.index_select(1, ring)
        return torch.addcmul(forced - z, padded[:, 1 : n + 1], padded[:, 3:] - padded[:, :n])

    k1 = tendency(x)
    k2 = tendency(torch.add(x, k1, alpha=0.5 * dt))
    k3 = tendency(torch.add(x, k2, alpha=0.5 * dt))
    k4 = tendency(torch.add(x, k3, alpha=dt))
    return x.add(k1.add_(k2, alpha=2).add_(k3, alpha=2).add_(k4), alpha=dt / 6)


def run_one_scale(
    x0: Tensor,
    parameterisation: Parameterisation = no_parameterisation,
    duration: float = 1.0,
    *,
    forcing: float = Lorenz96.F,
    dt: float = MODEL_DT,
    output_dt: float | None = None,
) -> OneScaleRun:
    """Run the one-scale model ``dX/dt = X_{k-1}(X_{k+1} - X_{k-2}) - X + F - P(X)``.

    Parameters
    ----------
    x0
        Initial slow states, shape ``(E, K)``.
    parameterisation
        Any callable mapping states ``(E, K)`` to coupling terms ``(E, K)`` (for
        example a fitted polynomial or a trained network). It is called once
        per step, without gradients, and its coupling term is held fixed over
        the four RK4 stages, as a climate model calls its parameterisations
        once per time step.
    duration
        Model time units to run.
    forcing
        ``F``.
    dt
        RK4 time step.
    output_dt
        Time between stored states; ``None`` stores every step.

    Returns
    -------
    OneScaleRun
        Members that blow up are recorded and continue as NaN, so one unstable
        member does not stop the others.
    """
    _check_dt(dt, MAX_DT_ONE_SCALE, "one-scale model", MODEL_DT)
    if x0.dim() != 2:
        raise Lorenz96Error(f"x0 must have shape (members, K); got {tuple(x0.shape)}")
    if x0.shape[1] < 4:
        raise Lorenz96Error(f"K={x0.shape[1]}: the ring needs at least 4 slow variables")
    every = _steps(output_dt if output_dt is not None else dt, dt, "output_dt")
    n_out = _steps(duration, every * dt, "duration") + 1
    x = x0.to(torch.float64).clone()
    _parameterised(parameterisation, x, check=True)
    blown_up = torch.full((x.shape[0],), math.inf, dtype=torch.float64)
    alive = torch.ones(x.shape[0], dtype=torch.bool)
    ring = _ring_index(x.shape[1])

    out = [x.clone()]
    for sample in range(1, n_out):
        for _ in range(every):
            x = _one_scale_step(x, forcing - _parameterised(parameterisation, x), dt, ring)
        bad = alive & ~(torch.isfinite(x).all(dim=1) & (x.abs().amax(dim=1) <= BLOW_UP))
        if bool(bad.any()):
            blown_up[bad] = sample * every * dt
            alive &= ~bad
            x = torch.where(alive.unsqueeze(1), x, torch.zeros_like(x))
        out.append(torch.where(alive.unsqueeze(1), x, torch.full_like(x, math.nan)))
    times = torch.arange(n_out, dtype=torch.float64) * every * dt
    return OneScaleRun(times, torch.stack(out), blown_up)


def forecast_rmse(forecast: Tensor, truth: Tensor) -> Tensor:
    """Return the root-mean-square error at each lead time, over members and grid points.

    Parameters
    ----------
    forecast, truth
        States ``(T, E, K)`` at the same times, both starting from the same
        initial states. Members that blew up (NaN) count as infinitely wrong.

    Returns
    -------
    Tensor
        ``(T,)``, starting at 0 for the shared initial state.
    """
    if forecast.shape != truth.shape:
        raise Lorenz96Error(
            f"forecast {tuple(forecast.shape)} and truth {tuple(truth.shape)} must be sampled "
            "at the same times: pass output_dt equal to the truth's sample_dt"
        )
    squared = (forecast - truth).pow(2).nan_to_num(nan=math.inf)
    return squared.mean(dim=(1, 2)).sqrt()


def climate_histogram(x: Tensor, edges: Tensor | None = None) -> Tensor:
    """Return the fraction of values of ``x`` in each bin, plus one below and one above.

    Non-finite values (blown-up members) count in the bin above, so a run that
    blew up has a distant climate rather than a hidden gap.

    Parameters
    ----------
    x
        Any tensor of slow-variable values, all grid points pooled.
    edges
        Increasing bin edges; by default ``CLIMATE_EDGES``.

    Returns
    -------
    Tensor
        ``len(edges) + 1`` fractions summing to 1, in float64.
    """
    if edges is None:
        edges = torch.linspace(*CLIMATE_EDGES, dtype=torch.float64)
    values = x.detach().reshape(-1).to(torch.float64)
    if values.numel() == 0:
        raise Lorenz96Error("no values to make a histogram of")
    values = values.nan_to_num(nan=math.inf)
    index = torch.bucketize(values, edges.to(torch.float64))
    counts = torch.bincount(index, minlength=len(edges) + 1).to(torch.float64)
    return counts / counts.sum()


def hellinger_distance(a: Tensor, b: Tensor, edges: Tensor | None = None) -> float:
    """Return the Hellinger distance between the histograms of ``a`` and ``b``.

    ``H = sqrt(1 - sum_i sqrt(p_i q_i))``: 0 for identical distributions, 1 for
    distributions with no bin in common. It is bounded and symmetric, and it
    accepts empty bins, unlike the Kullback-Leibler divergence.

    Parameters
    ----------
    a, b
        Values of ``X`` from two runs (any shapes, pooled).
    edges
        Bin edges, as in :func:`climate_histogram`.
    """
    p, q = climate_histogram(a, edges), climate_histogram(b, edges)
    overlap = float((p * q).sqrt().sum())
    return math.sqrt(max(0.0, 1.0 - overlap))
