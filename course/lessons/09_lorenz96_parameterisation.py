# %% [markdown]
# # Lesson 09: A neural network inside a physical model
#
# Weather and climate models cannot resolve everything: clouds, turbulence and gravity waves
# are smaller than a grid box, yet they change the large-scale flow. A *parameterisation*
# estimates their net effect from the resolved variables. Parameterisations are expensive and
# uncertain, so replacing them by networks trained on high-resolution data is an active field
# of research. This lesson does it end to end, on the standard test bed of that field, the
# two-scale Lorenz-96 system: from data to an offline fit, to *online* runs in which the
# network drives a model, to a Fortran model that calls the network through
# [FTorch](https://github.com/Cambridge-ICCS/FTorch). It closes the workshop: it uses the
# training loop, scaling, baselines, validation and export of the earlier lessons together.
#
# **By the end you will be able to**
#
# - say what a parameterisation is, and measure what it saves;
# - split time series in time, and show with a number why a random split leaks;
# - fit a least-squares polynomial baseline, and a local network shared across the grid (a
#   1-D convolution with periodic padding);
# - run a model with a learned parameterisation and score it online: forecast error against
#   lead time, and the climate as a distribution;
# - recognise a model that looks excellent offline and fails online, and detect it;
# - explain why a dense network is locked to its grid while a local one is not;
# - export the network with its scaling inside, run it from Fortran through FTorch, and
#   compare the Fortran and Python runs properly.
#
# **Time:** about 80 minutes for the core sections; about 90 minutes with the optional one.
#
# **You should know:** the training loop and `fit` (lessons 02-03), standardising inputs and
# targets (lesson 03), convolutions (lesson 04), TorchScript export (lesson 06).

# %% [markdown]
# ## Setup
#
# The integrations run on the CPU in float64: the states are small (8 or 264 numbers per
# ensemble member), so a GPU would gain nothing. Files this lesson writes go into a fresh
# temporary folder, `workdir`.

# %%
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

from practicaltorch import MLP, TensorBatches, configure_threads, fit, seed_everything
from practicaltorch.checks import lesson09 as check
from practicaltorch.data.lorenz96 import (
    Lorenz96,
    Lorenz96Error,
    hellinger_distance,
    initial_states,
    no_parameterisation,
    run_one_scale,
    simulate_truth,
    two_scale_step,
)
from practicaltorch.export import TorchScriptDeprecationWarning, export_torchscript
from practicaltorch.models.lorenz96 import CubicPolynomial, Scaled

warnings.filterwarnings("ignore", category=TorchScriptDeprecationWarning)
seed_everything(0)
configure_threads()
device = torch.device("cpu")
workdir = Path(tempfile.mkdtemp(prefix="lesson09-"))
print(f"{torch.get_num_threads()} CPU thread(s); files go to {workdir}")

# %% [markdown]
# ## 1. What a parameterisation is (core)
#
# Lorenz-96 has `K = 8` slow variables `X_k` on a ring (think: a quantity around a circle of
# latitude), each coupled to `J = 32` fast variables `Y_{j,k}` (the small-scale weather in
# that sector). With the usual settings `F = 20`, `h = 1`, `b = c = 10`:
#
# ```
# dX_k/dt     = X_{k-1} (X_{k+1} - X_{k-2}) - X_k + F - U_k
# dY_{j,k}/dt = c b Y_{j+1,k} (Y_{j-1,k} - Y_{j+2,k}) - c Y_{j,k} + (h c / b) X_k
# U_k         = (h c / b) sum_j Y_{j,k}
# ```
#
# All indices are periodic, and the fast variables form one ring of `J K = 256` values. `U_k`
# is the *coupling term*: everything the slow variable `X_k` feels of its fast variables. It
# is subtracted, so a positive `U_k` damps `X_k` (this is the sign convention of Wilks 2005
# and Arnold et al. 2013). The fast variables are ten times faster (`c = 10`), so they need a
# time step ten times smaller, and there are 32 times more of them.
#
# A parameterisation replaces them by a function of the slow state: `U ~ P(X)`. The model
# then has only the 8 slow variables and can take a larger time step.
#
# **Task.** `y0` holds fast variables of shape `(members, K, J)`. Compute their coupling
# term `u0`, of shape `(members, K)`, with the factor `settings.coupling` (that is `h c / b`).

# %%
settings = Lorenz96()
x0, y0 = initial_states(4, settings, seed=0)
print(f"x0 {tuple(x0.shape)}, y0 {tuple(y0.shape)}, h c / b = {settings.coupling}")
### BEGIN SOLUTION
u0 = settings.coupling * y0.sum(dim=-1)
### END SOLUTION

# %%
check.coupling(u0, y0)

# %% [markdown]
# How much does the parameterisation save? Time one model time unit (MTU) of each model for an
# ensemble of 40 members: the two-scale model with the truth's step of 0.001, and the
# one-scale model with a step of 0.005 (here with no parameterisation at all, so we time
# the dynamics alone).

# %%
x, y = initial_states(40, settings, seed=0)
start = time.perf_counter()
for _ in range(200):
    x, y = two_scale_step(x, y, 0.001, settings)
two_scale_seconds = 5 * (time.perf_counter() - start)
start = time.perf_counter()
run_one_scale(x, no_parameterisation, 1.0)
one_scale_seconds = time.perf_counter() - start
print(
    f"one MTU, 40 members: two-scale {two_scale_seconds:.2f} s, one-scale {one_scale_seconds:.3f} s"
)
print(f"the one-scale model is {two_scale_seconds / one_scale_seconds:.0f} times cheaper")

# %% [markdown]
# In a real climate model the ratio is far larger: resolving clouds everywhere would need a
# grid thousands of times finer. That is why parameterisations exist.

# %% [markdown]
# ## 2. The data, and a split in time (core)
#
# `simulate_truth` integrates an ensemble of the two-scale model (all members at once, as one
# batch of tensors), throws away a spin-up so the states lie on the attractor, and samples
# `X` and `U` every 0.005 MTU. We make two independent truths: one to train and validate on,
# and one to test forecasts against later.

# %%
start = time.perf_counter()
truth = simulate_truth(40, 3.0, spin_up=1.0, seed=0)
test = simulate_truth(40, 2.0, spin_up=1.0, seed=1)
print(
    f"truth: x {tuple(truth.x.shape)} (times, members, K), in {time.perf_counter() - start:.1f} s"
)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.plot(truth.times, truth.x[:, 0, 0], label="X_1")
left.plot(truth.times, truth.u[:, 0, 0], label="U_1")
left.set(xlabel="time (MTU)", title="One member")
left.legend()
right.scatter(truth.x[::10].flatten(), truth.u[::10].flatten(), s=1, alpha=0.3)
right.set(xlabel="X_k", ylabel="U_k", title="The coupling term against X_k")
fig.tight_layout()
plt.show()

# %% [markdown]
# The scatter plot is the whole problem: `U_k` grows with `X_k`, but with a wide spread, since
# the fast variables do not follow `X_k` exactly.
#
# Consecutive samples are 0.005 MTU apart, and the state hardly changes in that time: the
# samples are strongly *autocorrelated*. If you split them at random, almost every validation
# sample has a near-copy in the training set, one step earlier or later, and a model that
# memorises looks brilliant. So split in **time**: train on the first 2 MTU, leave a gap of
# 0.1 MTU, and validate on the rest.
#
# **Task.** Make the training pairs `x_train`, `u_train` (samples with `truth.times < 2.0`)
# and the validation pairs `x_valid`, `u_valid` (samples with `truth.times >= 2.1`), each of
# shape `(N, K)`: every member at every chosen time is one row.

# %%
train_until, gap = 2.0, 0.1
K = settings.K
### BEGIN SOLUTION
train_rows = truth.times < train_until
valid_rows = truth.times >= train_until + gap
x_train, u_train = truth.x[train_rows].reshape(-1, K), truth.u[train_rows].reshape(-1, K)
x_valid, u_valid = truth.x[valid_rows].reshape(-1, K), truth.u[valid_rows].reshape(-1, K)
### END SOLUTION
print(f"{len(x_train)} training and {len(x_valid)} validation states")

# %%
check.time_split(x_train, u_train, x_valid, u_valid, truth, train_until, gap)

# %% [markdown]
# Now the leak, measured. The most flexible model there is, the *nearest neighbour*, predicts
# `U` of the training state closest to the input. On a random split it is scored on states
# whose neighbours in time it has memorised; on the time split it is not. The cubic
# polynomial of the next section cannot memorise, so a random split barely flatters it.
# (A subset of 8 members keeps the distance matrix small.)


# %%
def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root-mean-square difference."""
    return (a - b).pow(2).mean().sqrt().item()


def nearest_neighbour_rmse(
    x_fit: torch.Tensor, u_fit: torch.Tensor, x_score: torch.Tensor, u_score: torch.Tensor
) -> float:
    """RMSE of predicting each scored state's U by that of the nearest fitted state."""
    nearest = torch.cdist(x_score.float(), x_fit.float()).argmin(dim=1)
    return rmse(u_fit[nearest], u_score)


subset = truth.x[:, :8].reshape(-1, K), truth.u[:, :8].reshape(-1, K)
shuffled = torch.randperm(len(subset[0]), generator=torch.Generator().manual_seed(0))
cut = 2 * len(shuffled) // 3
random_train, random_valid = shuffled[:cut], shuffled[cut:]
times = truth.times.repeat_interleave(8)
time_train = torch.nonzero(times < train_until).flatten()
time_valid = torch.nonzero(times >= train_until + gap).flatten()
for split, (fit_rows, score_rows) in {
    "random split": (random_train, random_valid),
    "time split": (time_train, time_valid),
}.items():
    x_fit, u_fit = subset[0][fit_rows], subset[1][fit_rows]
    x_score, u_score = subset[0][score_rows], subset[1][score_rows]
    leak_poly = CubicPolynomial.fit(x_fit, u_fit)
    neighbour = nearest_neighbour_rmse(x_fit, u_fit, x_score, u_score)
    print(
        f"{split:>12}: nearest neighbour RMSE {neighbour:.2f}, "
        f"cubic polynomial RMSE {rmse(leak_poly(x_score), u_score):.2f}"
    )

# %% [markdown]
# On the random split the nearest neighbour seems several times better than the polynomial;
# on the time split it is worse. Nothing about the model changed, only the honesty of the
# test. Any autocorrelated data (time series, neighbouring grid points, repeated measurements
# of one patient) needs a split that respects the correlation.

# %% [markdown]
# ## 3. A classical baseline: a cubic polynomial (core)
#
# The usual baseline in the literature (Wilks 2005, Arnold et al. 2013) is a cubic polynomial
# in the local value, `U_k = c0 + c1 X_k + c2 X_k^2 + c3 X_k^3`, the same at every `k`, fitted
# by least squares. As in lesson 03,
# [`torch.linalg.lstsq`](https://pytorch.org/docs/stable/generated/torch.linalg.lstsq.html)
# solves it exactly: one row per grid point of every training state, columns `1, X, X^2, X^3`.
#
# **Task.** Compute `poly_coefficients`, a tensor of the four coefficients `(c0, c1, c2, c3)`,
# from the training pairs, in float64.

# %%
### BEGIN SOLUTION
values = x_train.reshape(-1, 1).double()
columns = torch.cat([torch.ones_like(values), values, values**2, values**3], dim=1)
poly_coefficients = torch.linalg.lstsq(columns, u_train.reshape(-1, 1).double()).solution.flatten()
### END SOLUTION
poly = CubicPolynomial(poly_coefficients)
poly_rmse = rmse(poly(x_valid), u_valid)
print(f"coefficients {poly_coefficients.tolist()}")
print(f"polynomial: validation RMSE of U {poly_rmse:.3f}")

# %%
check.polynomial(poly_coefficients, x_train, u_train)

# %% [markdown]
# ## 4. A neural parameterisation: one local network for every grid point (core)
#
# A network could take all 8 values of `X` and return all 8 of `U`. But the physics is the same
# at every `k`: the ring has no special place. So use one small network that looks at `X_k`
# and a few neighbours and predicts `U_k`, and apply it with the *same weights* at every `k`.
# That is exactly a 1-D convolution over the ring,
# [`nn.Conv1d`](https://pytorch.org/docs/stable/generated/torch.nn.Conv1d.html), with kernel
# size 5 (neighbours `k-2 ... k+2`), followed by layers of kernel size 1 (point by point). At
# `k = 1` the neighbours `k-1, k-2` are `X_8, X_7`: the padding must wrap around the ring,
# `padding_mode="circular"`. Zero padding would tell the network that the ring has an edge.
#
# **Task.** Build `local_net`, a module mapping states `(N, K)` to coupling terms `(N, K)`:
# `nn.Unflatten(1, (1, -1))` (add the channel axis), a circular `Conv1d(1, 32, 5, padding=2)`,
# ReLU, `Conv1d(32, 32, 1)`, ReLU, `Conv1d(32, 1, 1)`, and `nn.Flatten()` (drop the channel
# axis). The library's `LocalNet` is the same network.

# %%
seed_everything(0)
### BEGIN SOLUTION
local_net = nn.Sequential(
    nn.Unflatten(1, (1, -1)),
    nn.Conv1d(1, 32, 5, padding=2, padding_mode="circular"),
    nn.ReLU(),
    nn.Conv1d(32, 32, 1),
    nn.ReLU(),
    nn.Conv1d(32, 1, 1),
    nn.Flatten(),
)
### END SOLUTION

# %%
check.local_net(local_net)

# %% [markdown]
# Networks learn best on standardised numbers (lesson 03). The ring is homogeneous, so one mean
# and one standard deviation for `X`, and one pair for `U`, computed on the **training** pairs,
# are enough.
#
# **Task.** Compute `x_mean`, `x_std`, `u_mean` and `u_std` as Python floats from `x_train`
# and `u_train`.

# %%
### BEGIN SOLUTION
x_mean, x_std = x_train.mean().item(), x_train.std().item()
u_mean, u_std = u_train.mean().item(), u_train.std().item()
### END SOLUTION
print(f"X: mean {x_mean:.2f}, std {x_std:.2f};  U: mean {u_mean:.2f}, std {u_std:.2f}")

# %%
check.scaling(x_mean, x_std, u_mean, u_std, x_train, u_train)

# %% [markdown]
# Train with `fit`, as in lesson 03. `Scaled` wraps the trained network so that it takes and
# returns physical units: `Scaled(net, ...)(x) = net((x - x_mean) / x_std) * u_std + u_mean`,
# with the four numbers stored as buffers inside the module. That is the form a physical model
# wants, and the one we will export.


# %%
def standardised(x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs in the network's units, as float32."""
    return ((x - x_mean) / x_std).float(), ((u - u_mean) / u_std).float()


def train_network(
    net: nn.Module,
    x_fit: torch.Tensor,
    u_fit: torch.Tensor,
    x_check: torch.Tensor,
    u_check: torch.Tensor,
    epochs: int = 5,
    lr: float = 1e-2,
) -> nn.Module:
    """Train `net` on standardised pairs with AdamW and a one-cycle schedule; return it."""
    batches = TensorBatches(*standardised(x_fit, u_fit), batch_size=256, shuffle=True, seed=0)
    checks = TensorBatches(*standardised(x_check, u_check), batch_size=4096)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * len(batches)
    )
    history = fit(
        net,
        batches,
        checks,
        nn.MSELoss(),
        optimizer,
        epochs=epochs,
        device=device,
        scheduler=scheduler,
    )
    print(f"trained {epochs} epochs in {history.last['seconds']:.1f} s")
    return net.eval()


seed_everything(0)
train_network(local_net, x_train, u_train, x_valid, u_valid)
net_param = Scaled(local_net, x_mean, x_std, u_mean, u_std).eval()
with torch.no_grad():
    net_rmse = rmse(net_param(x_valid), u_valid)
print(f"offline validation RMSE of U: network {net_rmse:.3f}, polynomial {poly_rmse:.3f}")

# %%
check.offline(net_param, poly, x_valid, u_valid)

# %% [markdown]
# Offline, the network is clearly better: it sees the neighbours, and the neighbours carry
# information about the fast variables (which drift around the ring). Offline skill is what a
# loss curve shows. What we care about is a model run with it.

# %% [markdown]
# ## 5. Online: the parameterisation drives the model (core)
#
# `run_one_scale(x0, parameterisation, duration)` steps the slow variables with the coarse
# step of 0.005, calling the parameterisation once per step (as climate models call theirs)
# and holding its `U` fixed over the four Runge-Kutta stages. Any callable from `X` to `U`
# works: the polynomial, the wrapped network, or `no_parameterisation` (`U = 0`).
#
# All three start from the same ensemble of 40 states, the first states of the `test` truth,
# and run for 2 MTU, storing the state at the truth's sampling times.

# %%
candidates: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": no_parameterisation,
    "polynomial": poly,
    "network": net_param,
}
forecasts = {
    name: run_one_scale(test.x[0], p, 2.0, output_dt=test.sample_dt)
    for name, p in candidates.items()
}
lead_times = forecasts["network"].times
print(f"forecasts: {tuple(forecasts['network'].x.shape)} (lead times, members, K)")

# %% [markdown]
# **Task.** Write `forecast_rmse(forecast, reference)`: for states `(T, members, K)` return the
# root-mean-square error at each lead time, shape `(T,)`, averaged over members and grid
# points. Then fill `rmse_curves`, a dictionary from each name in `forecasts` to its curve
# against the truth it must be compared with.


# %%
### BEGIN SOLUTION
def forecast_rmse(forecast: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """RMSE over members and grid points at each lead time."""
    return (forecast - reference).pow(2).mean(dim=(1, 2)).sqrt()


rmse_curves = {name: forecast_rmse(run.x, test.x) for name, run in forecasts.items()}
### END SOLUTION

# %%
check.forecast(forecast_rmse, rmse_curves, forecasts, test)

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.8))
for name, curve in rmse_curves.items():
    ax.plot(lead_times, curve, label=name)
ax.set(xlabel="lead time (MTU)", ylabel="RMSE of X", title="Forecast error")
ax.legend()
plt.show()
at_one = round(1.0 / test.sample_dt)
for name, curve in rmse_curves.items():
    print(f"{name:>10}: RMSE at 1 MTU {curve[at_one]:.2f}")

# %% [markdown]
# Every forecast of a chaotic system loses its skill eventually; the question is how soon.
# Without a parameterisation the model has no damping from the fast variables and is wrong
# within a fraction of a time unit. Both parameterisations keep the forecast useful for
# about a time unit, the network longer.
#
# Forecast skill is not everything: a climate model must also get the *statistics* right over
# long runs, long after any forecast skill is gone. We run each model from 160 states of the
# training truth (every member, every MTU) for 3 MTU, drop the first MTU, and compare the
# distribution of `X` (all `k` pooled) with that of the independent test truth, by the
# **Hellinger distance** between histograms: `H = sqrt(1 - sum_i sqrt(p_i q_i))` for bin
# fractions `p` and `q`. It is 0 for identical histograms and 1 for histograms with no bin in
# common, and, unlike the Kullback-Leibler divergence, it copes with empty bins.
#
# **Task.** Write `hellinger(a, b, edges)`: the Hellinger distance between the histograms of
# the values of `a` and `b` on the bin edges `edges`, as a float. `torch.histogram(values,
# edges)` counts the values in each bin; remember to turn counts into fractions.

# %%
edges = torch.linspace(-15, 25, 41, dtype=torch.float64)


### BEGIN SOLUTION
def hellinger(a: torch.Tensor, b: torch.Tensor, edges: torch.Tensor) -> float:
    """Hellinger distance between the histograms of `a` and `b`."""
    p = torch.histogram(a.flatten().double(), edges).hist
    q = torch.histogram(b.flatten().double(), edges).hist
    p, q = p / p.sum(), q / q.sum()
    return (1 - (p * q).sqrt().sum()).clamp(min=0).sqrt().item()


### END SOLUTION

# %%
check.hellinger(hellinger)

# %%
starts = truth.x[::200].reshape(-1, K)
climates = {
    name: run_one_scale(starts, p, 3.0, output_dt=0.05).x[20:] for name, p in candidates.items()
}
climate_distance = {name: hellinger(x, test.x, edges) for name, x in climates.items()}
climate_floor = hellinger(truth.x, test.x, edges)
print(f"two truths differ by H = {climate_floor:.3f}: differences below that are sampling noise")
fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.hist(test.x.flatten(), bins=edges.tolist(), density=True, color="lightgrey", label="truth")
for name, x in climates.items():
    label = f"{name} (H = {climate_distance[name]:.3f})"
    ax.hist(x.flatten(), bins=edges.tolist(), density=True, histtype="step", lw=1.5, label=label)
ax.set(xlabel="X", ylabel="density", title="Climate: the distribution of X")
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# Both parameterisations give a climate close to the truth's; without one the distribution
# is far too wide. But look at the sampling floor printed above: two *truth* runs of this
# size differ by about as much as the models differ from the truth, so this notebook can
# rank the network and the polynomial by their climate only loosely. The recipe
# `practicaltorch run lorenz96` repeats the comparison with 800 climate runs against an
# independent truth of 200 members; there the network's climate distance is about half the
# polynomial's (0.011 to 0.014 against 0.023, over three seeds). Measure the floor before
# ranking models by a climate score.
#
# ### Offline skill does not guarantee online skill
#
# Here is a network that looks *excellent* offline. Besides `X`, it is given the coupling
# term of the previous time step, `U(t - 0.005)`. In the truth data that is always available,
# and since `U` changes slowly over one step it is a superb predictor: the offline error drops
# several times below the polynomial's. Online, though, the previous `U` is the network's own
# last output. Its errors are fed back to it, step after step, and nothing pulls it back to the
# truth. The class `WithMemory` keeps the last output and hands it back at the next call.


# %%
class TwoInputNet(nn.Module):
    """A local network on two channels: X and the previous step's U (both standardised)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(2, 32, 5, padding=2, padding_mode="circular"),
            nn.ReLU(),
            nn.Conv1d(32, 32, 1),
            nn.ReLU(),
            nn.Conv1d(32, 1, 1),
            nn.Flatten(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map (N, 2, K) inputs to (N, K) coupling terms."""
        return self.layers(z)


def memory_pairs(start: float, stop: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return inputs (X(t), U(t - dt)) and targets U(t), standardised, for start <= t < stop."""
    rows = torch.nonzero((truth.times >= start) & (truth.times < stop)).flatten()
    rows = rows[rows > 0]
    x, u = standardised(truth.x[rows].reshape(-1, K), truth.u[rows].reshape(-1, K))
    previous = ((truth.u[rows - 1].reshape(-1, K) - u_mean) / u_std).float()
    return torch.stack([x, previous], dim=1), u


class WithMemory:
    """Online use of TwoInputNet: its previous output becomes its next input."""

    def __init__(self, net: nn.Module, first: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.net, self.first = net, first
        self.last: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Return U for states x, feeding the last output back as an input."""
        previous = self.first(x) if self.last is None else self.last
        z = torch.stack([(x - x_mean) / x_std, (previous - u_mean) / u_std], dim=1)
        with torch.no_grad():
            self.last = (self.net(z.float()) * u_std + u_mean).double()
        return self.last


seed_everything(0)
memory_net = TwoInputNet()
(z_fit, u_fit), (z_check, u_check) = memory_pairs(0, train_until), memory_pairs(2.1, 99)
batches = TensorBatches(z_fit, u_fit, batch_size=256, shuffle=True, seed=0)
optimizer = torch.optim.AdamW(memory_net.parameters(), lr=1e-2, weight_decay=1e-4)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 1e-2, total_steps=3 * len(batches))
fit(
    memory_net,
    batches,
    TensorBatches(z_check, u_check, 4096),
    nn.MSELoss(),
    optimizer,
    epochs=3,
    device=device,
    scheduler=scheduler,
)
memory_net.eval()
with torch.no_grad():
    memory_rmse = u_std * rmse(memory_net(z_check), u_check)
# One run serves both scores: the 40 test states for the forecast, the 160 climate starts after
# them (members do not interact, and one step of 200 members costs about as much as one of 40).
memory = run_one_scale(torch.cat([test.x[0], starts]), WithMemory(memory_net, poly), 3.0)
memory_curve = forecast_rmse(memory.x[:401, :40], test.x)
memory_distance = hellinger(memory.x[200::10, 40:], test.x, edges)
print(f"{'':>22} {'offline RMSE':>12} {'RMSE at 1 MTU':>14} {'climate H':>10}")
for name, offline, curve, distance in [
    ("polynomial", poly_rmse, rmse_curves["polynomial"], climate_distance["polynomial"]),
    ("network", net_rmse, rmse_curves["network"], climate_distance["network"]),
    ("network with memory", memory_rmse, memory_curve, memory_distance),
]:
    print(f"{name:>22} {offline:12.2f} {curve[at_one]:14.2f} {distance:10.3f}")
if memory.n_blown_up:  # a member that blows up is NaN from then on, and so are the scores
    print(f"{memory.n_blown_up} of {len(memory.blown_up)} members with memory blew up")

# %% [markdown]
# The network with memory is by far the best offline and by far the worst online: its
# forecast error at one time unit is about three times the polynomial's, and so is its
# climate distance. Offline, every input came from the truth; online, one
# of them came from itself. The same trap awaits any input that the parameterisation itself
# influences (a tendency, a previous output, a variable it feeds back on).
#
# ### Question 1
#
# How would you detect such a model before trusting it, and what helps?
#
# ### BEGIN SOLUTION
# Detect it online, not offline: run every candidate inside the model, from many initial
# states, and score forecasts at several lead times and the long-run climate against a
# truth it was not trained on, as above. Watch for drift (the ensemble mean moving away),
# growing spread, members that blow up (`run_one_scale` records them in `blown_up`), and
# inputs leaving the range seen in training. A candidate that ranks differently offline and
# online is the warning sign. What helps: give the parameterisation only inputs the model
# produces independently of it (here `X` alone); if memory is needed, train it on its own
# rollouts (feed it its own outputs during training, "online learning" in the sense of
# Rasp 2020) or add noise to those inputs so it learns not to trust them blindly; and keep
# a simple baseline (the polynomial) to compare with. In our measurements the honest local
# network beat the polynomial offline and in its forecasts, and matched it in the climate.
# ### END SOLUTION

# %% [markdown]
# ## 6. Locked to a grid (optional)
#
# A dense network, `MLP(8, 8)`, sees all eight values at once. It can learn the same thing, and
# on this ring its offline error is only a little worse than the local network's. But its
# first layer has exactly 8 inputs, each with its own weights: it is locked to a grid of 8
# points. Double the resolution, `K = 16`, and it cannot even run; the local network runs
# unchanged, because a convolution does not care how long the ring is. (This is the
# redeployability point of the applications slides: a parameterisation that is local, like
# the physics, can move to another grid or model.)

# %%
seed_everything(0)
dense_net = train_network(MLP(K, K, hidden=(64, 64)), x_train, u_train, x_valid, u_valid)
dense_param = Scaled(dense_net, x_mean, x_std, u_mean, u_std).eval()
with torch.no_grad():
    print(f"offline RMSE: dense {rmse(dense_param(x_valid), u_valid):.3f}, local {net_rmse:.3f}")

fine = simulate_truth(20, 1.0, settings=Lorenz96(K=16), spin_up=1.0, seed=2)
try:
    run_one_scale(fine.x[0], dense_param, 1.0)
except Lorenz96Error as error:
    print(f"dense network at K=16: {error}")
fine_rmse = {}
on_fine_grid: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "polynomial": poly,
    "local network": net_param,
}
for name, p in on_fine_grid.items():
    run = run_one_scale(fine.x[0], p, 1.0, output_dt=fine.sample_dt)
    fine_rmse[name] = forecast_rmse(run.x, fine.x)[-1].item()
    print(f"K=16, {name}: forecast RMSE at 1 MTU {fine_rmse[name]:.2f}")

# %% [markdown]
# The local network, trained at `K = 8`, forecasts the 16-point ring better than the
# polynomial too. The dense one would have to be retrained for every new grid, and could
# never be tested on one it has not seen.

# %% [markdown]
# ## 7. Coupling to Fortran through FTorch (core)
#
# Climate models are mostly Fortran. FTorch lets Fortran load a TorchScript file and call it
# like a subroutine. Export the *wrapped* network, so the scaling travels inside it and the
# Fortran model passes and receives physical units: no constants to copy by hand, no chance
# of scaling twice or forgetting to.
#
# **Task.** Export `net_param` with `export_torchscript(model, example_input, out_dir)` into
# `workdir / "export"`, with an example batch of two states, and keep the result as
# `exported` (its `model_path` is the TorchScript file).

# %%
### BEGIN SOLUTION
exported = export_torchscript(net_param, x_valid[:2].float(), workdir / "export")
### END SOLUTION
print(exported.model_path)

# %%
check.exported(exported, net_param, x_valid)

# %% [markdown]
# `course/fortran/lorenz96_coupled.f90` is the one-scale model in Fortran: the same RK4 step,
# the network called once per step through `torch_model_forward` on all members at once. The
# next cell builds it with CMake (`find_package(FTorch)`) and runs it for 400 steps (2 MTU) from
# the test states, keeping every step, when a Fortran compiler and FTorch are available here.
# Python has already run the same 2 MTU: the network's forecast of section 5 started from
# these states and kept every step, so we reuse it rather than run it again, and compare the
# first 100 steps. FTorch's default layout keeps Fortran's indices, so the Fortran array
# `x(member, k)` is the tensor `x[member, k]`.

# %%
course = Path.cwd().resolve().parent
sys.path.insert(0, str(course / "fortran"))
try:
    import coupled
except ImportError:
    coupled = None
cmake_args, message = coupled.find_ftorch() if coupled else (None, "course/fortran is missing")
fortran = None
if cmake_args is None:
    print(f"The Fortran part cannot run here: {message}.")
    print("Expected: agreement to about 1e-7 or better over 100 steps, then matching statistics.")
else:
    print(message)
    executable = coupled.build(workdir / "fortran-build", cmake_args)
    start = time.perf_counter()
    fortran = torch.from_numpy(coupled.run(executable, exported.model_path, test.x[0].numpy(), 400))
    print(f"Fortran: 400 steps of 40 members in {time.perf_counter() - start:.2f} s")
python_run = forecasts["network"].x  # section 5: the same model from the same states, every step
if fortran is not None:
    difference = (fortran[:101] - python_run[:101]).abs().amax(dim=(1, 2))
    relative = (difference / python_run[:101].abs().amax()).max()
    print(f"largest relative difference over the first 100 steps: {relative:.2e}")

# %% [markdown]
# Over 100 steps the two agree far inside 1e-4; on this machine to about 1e-15, since both
# call the same LibTorch network on the same numbers, and only the order of a few additions
# in the Runge-Kutta step differs. But do not expect trajectories to agree for long in
# general: another compiler, another CPU, or a fused multiply-add changes the last bit, and
# chaos amplifies any difference exponentially. Here
# is a relative difference of 1e-7 in the initial states (the rounding error of float32),
# growing in Python alone:

# %%
pair = torch.cat([test.x[:4, 0], test.x[:4, 0] * (1 + 1e-7)])
apart = run_one_scale(pair, net_param, 8.0, output_dt=0.05).x
separation = (apart[:, 4:] - apart[:, :4]).abs().amax(dim=(1, 2))
crossed = torch.nonzero(separation > 1.0).flatten()
when = f"{0.05 * int(crossed[0]):.1f} MTU" if len(crossed) else "more than 8 MTU"
print(f"a relative difference of 1e-7 grows to order 1 after {when}")
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(torch.arange(len(separation)) * 0.05, separation.log10())
ax.set(xlabel="time (MTU)", ylabel="log10 of the largest |difference|", title="Two runs 1e-7 apart")
plt.show()

# %% [markdown]
# So after the first time units, compare the Fortran and Python runs by their *statistics*,
# as we compared the models with the truth: the distributions of `X` in the two 2 MTU runs
# above, every 0.05 MTU after the first MTU.

# %%
python_long = python_run[200::10]
if fortran is not None:
    fortran_long = fortran[200::10]
    print(
        f"mean X: Fortran {fortran_long.mean():.3f}, Python {python_long.mean():.3f}; "
        f"std: {fortran_long.std():.3f} and {python_long.std():.3f}; "
        f"Hellinger distance {hellinger_distance(fortran_long, python_long):.4f}"
    )
else:
    print(f"Python only: mean X {python_long.mean():.3f}, std {python_long.std():.3f}")

# %% [markdown]
# ### Question 2
#
# The network was trained in float32, the Fortran model steps in float64. Where exactly are
# the conversions, and could they matter?
#
# ### BEGIN SOLUTION
# `Scaled.forward` converts the state to float32 before scaling and converts the coupling
# term back to the input's dtype; the Fortran program does the same with `real(x, sp)` and
# `real(u_net, dp)`. The network's float32 rounding (relative 1e-7) is far below its error
# as a parameterisation (more than 10%), so it cannot matter for the physics; it changes
# trajectories only the way any tiny perturbation does, by chaos, and leaves the statistics
# alone. What would matter is a mismatch between the two sides, for example Fortran passing
# float64 to a model that expects float32, or the state transposed: those are caught by
# comparing the first steps, as above.
# ### END SOLUTION

# %% [markdown]
# ## The quality bar
#
# The network's forecast RMSE at 1 MTU must be at most 1.1 times the polynomial's, and its
# climate distance at most 1.1 times the polynomial's, or above it by less than the sampling
# floor that this notebook's runs can resolve. The model without a parameterisation must be
# clearly worse than both.

# %%
assert check.online_bar(rmse_curves, climate_distance, at_one, floor=climate_floor)
