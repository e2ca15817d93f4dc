"""Reference solution: a neural parameterisation of the two-scale Lorenz-96 system.

Truth comes from the two-scale model; a cubic polynomial and a local network
(one small network shared by every grid point, a circular convolution) learn the
coupling term ``U`` from ``X`` on a time split; then each runs *online*, inside
the one-scale model, from the same ensemble of initial states. The bar: the
network's forecast RMSE at one model time unit and its climate distance (the
Hellinger distance between the histograms of ``X`` and the truth's) are each at
most 1.1 times the polynomial's. The run with no parameterisation is reported
beside them, as the floor both must clear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from practicaltorch.data.batches import TensorBatches
from practicaltorch.data.lorenz96 import (
    Parameterisation,
    Truth,
    forecast_rmse,
    hellinger_distance,
    no_parameterisation,
    run_one_scale,
    simulate_truth,
    split_in_time,
)
from practicaltorch.export.scaling import describe
from practicaltorch.models.lorenz96 import CubicPolynomial, LocalNet, Scaled
from practicaltorch.recipes.base import Bar, Log, Report, Settings, begin, save_figure, save_run
from practicaltorch.training.callbacks import standard_callbacks
from practicaltorch.training.loop import History, fit

__all__ = [
    "BAR",
    "NAME",
    "RATIO",
    "Config",
    "OnlineScores",
    "Results",
    "plot_climate",
    "plot_forecast_rmse",
    "run",
    "score_online",
    "simulate_and_score",
    "train_local_net",
]

NAME = "lorenz96"
RATIO = 1.1
"""The network's online scores may be at most this multiple of the polynomial's."""
BAR = Bar(
    "worst_ratio",
    RATIO,
    False,
    "network / polynomial (worse of forecast RMSE at 1 MTU and climate distance)",
)
LEAD = 1.0
"""Lead time, in model time units, at which forecasts are scored."""


@dataclass
class Config(Settings):
    """Settings of the Lorenz-96 run.

    Attributes
    ----------
    seed
        Seed of the truth's initial states, the weights and the shuffling.
    epochs
        Training epochs; ``None`` uses the default.
    device
        ``None`` picks the best available device (the integrations stay on the CPU).
    quick
        Small ensembles, short runs and two epochs, for smoke tests.
    train_members, train_duration
        Ensemble size and length (model time units) of the training truth; the
        last third is the validation period.
    test_members, forecast_duration
        Ensemble and length of the independent test truth the forecasts start from.
    climate_members, climate_truth_duration
        Ensemble and length of a third, independent truth: the reference climate.
        Every state of it one model time unit apart starts a one-scale climate run.
    climate_duration
        Length of those one-scale runs; the first time unit is left out.
    spin_up
        Model time units each truth runs, and discards, before its first sample
        (:func:`~practicaltorch.data.lorenz96.initial_states` starts close enough to
        the attractor for one to suffice).
    width, hidden
        The local network's stencil and hidden channels.
    lr, weight_decay, batch_size
        Optimiser and batching.
    """

    train_members: int = 100
    train_duration: float = 3.0
    test_members: int = 100
    forecast_duration: float = 2.0
    climate_members: int = 200
    climate_truth_duration: float = 3.0
    climate_duration: float = 3.0
    spin_up: float = 1.0
    width: int = 5
    hidden: tuple[int, ...] = (32, 32)
    lr: float = 1e-2
    weight_decay: float = 1e-4
    batch_size: int = 256
    default_epochs: int = field(default=5, repr=False)


@dataclass
class OnlineScores:
    """How one parameterisation does inside the one-scale model.

    Attributes
    ----------
    lead_times
        ``(T,)`` model time units.
    rmse
        Forecast RMSE against the truth at each lead time, ``(T,)``.
    climate_distance
        Hellinger distance between the run's histogram of ``X`` and the truth's.
    climate
        Values of ``X`` from the long run (for histograms).
    blown_up
        Members of the forecast and climate runs that blew up.
    """

    lead_times: Tensor
    rmse: Tensor
    climate_distance: float
    climate: Tensor
    blown_up: int

    def rmse_at(self, lead: float) -> float:
        """Return the forecast RMSE at ``lead`` model time units."""
        index = int(torch.argmin((self.lead_times - lead).abs()))
        return float(self.rmse[index])


def train_local_net(
    train: tuple[Tensor, Tensor],
    valid: tuple[Tensor, Tensor],
    config: Config,
    *,
    epochs: int,
    device: torch.device,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Scaled, LocalNet, History]:
    """Train a :class:`LocalNet` on standardised pairs; return it wrapped in physical units.

    The statistics come from the training pairs only, one number each for ``X``
    and ``U`` (every grid point is statistically the same).
    """
    (x_train, u_train), (x_valid, u_valid) = train, valid
    x_mean, x_std = float(x_train.mean()), float(x_train.std())
    u_mean, u_std = float(u_train.mean()), float(u_train.std())

    def scaled(x: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        return ((x - x_mean) / x_std).float(), ((u - u_mean) / u_std).float()

    net = LocalNet(config.width, config.hidden).to(device)
    batches = TensorBatches(
        *scaled(x_train, u_train),
        batch_size=config.batch_size,
        shuffle=True,
        seed=config.seed,
        device=device,
    )
    valid_batches = TensorBatches(*scaled(x_valid, u_valid), batch_size=4096, device=device)
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=epochs * len(batches)
    )
    history = fit(
        net,
        batches,
        valid_batches,
        nn.MSELoss(),
        optimizer,
        epochs=epochs,
        device=device,
        scheduler=scheduler,
        callbacks=standard_callbacks(progress, log),
    )
    net = net.cpu().eval()
    return Scaled(net, x_mean, x_std, u_mean, u_std).eval(), net, history


def score_online(
    parameterisation: Parameterisation,
    test: Truth,
    climate_truth: Truth,
    climate_duration: float,
) -> OnlineScores:
    """Forecast from the test truth's first states, and run the climate from many states.

    Parameters
    ----------
    parameterisation
        Any callable from ``X`` to ``U``.
    test
        The truth the forecasts start from (its first sample) and are scored against.
    climate_truth
        An independent truth: its states one model time unit apart start the
        climate runs, and all its values of ``X`` are the reference climate.
    climate_duration
        Length of each climate run; the first model time unit is left out.
    """
    duration = float(test.times[-1])
    forecast = run_one_scale(test.x[0], parameterisation, duration, output_dt=test.sample_dt)
    rmse = forecast_rmse(forecast.x, test.x)
    every = max(1, round(1.0 / climate_truth.sample_dt))
    starts = climate_truth.x[::every].reshape(-1, climate_truth.settings.K)
    climate = run_one_scale(starts, parameterisation, climate_duration, output_dt=0.05)
    values = climate.x[20:]  # leave out the first model time unit: adjustment
    return OnlineScores(
        forecast.times,
        rmse,
        hellinger_distance(values, climate_truth.x),
        values,
        forecast.n_blown_up + climate.n_blown_up,
    )


def plot_forecast_rmse(scores: Mapping[str, OnlineScores]) -> Figure:
    """Plot forecast RMSE against lead time, one line per parameterisation."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, score in scores.items():
        ax.plot(score.lead_times, score.rmse, label=name)
    ax.set(xlabel="lead time (model time units)", ylabel="RMSE of X", title="Forecast error")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_climate(scores: Mapping[str, OnlineScores], truth: Tensor) -> Figure:
    """Plot the distribution of ``X`` of each run against the truth's."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    bins = torch.linspace(-15, 25, 41).tolist()
    ax.hist(truth.flatten().numpy(), bins=bins, density=True, color="lightgrey", label="truth")
    for name, score in scores.items():
        values = score.climate[torch.isfinite(score.climate)].flatten().numpy()
        label = f"{name} (H = {score.climate_distance:.3f})"
        ax.hist(values, bins=bins, density=True, histtype="step", lw=1.5, label=label)
    ax.set(xlabel="X", ylabel="density", title="Climate: the distribution of X")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _settings(config: Config) -> Config:
    """Shrink the run for quick mode."""
    if not config.quick:
        return config
    from dataclasses import replace

    return replace(
        config,
        train_members=12,
        train_duration=1.5,
        test_members=8,
        forecast_duration=1.0,
        climate_members=8,
        climate_truth_duration=2.0,
        climate_duration=2.0,
        default_epochs=2,
    )


def _metrics(scores: Mapping[str, OnlineScores], offline: Mapping[str, float]) -> dict[str, float]:
    """Collect the report's numbers: offline RMSEs, online scores, and their ratios."""
    metrics: dict[str, float] = {f"offline_rmse_{k}": v for k, v in offline.items()}
    for name, score in scores.items():
        metrics[f"rmse_1mtu_{name}"] = score.rmse_at(LEAD)
        metrics[f"climate_{name}"] = score.climate_distance
        metrics[f"blown_up_{name}"] = float(score.blown_up)
    poly, net, none = scores["polynomial"], scores["network"], scores["none"]
    metrics["rmse_ratio"] = net.rmse_at(LEAD) / poly.rmse_at(LEAD)
    metrics["climate_ratio"] = net.climate_distance / poly.climate_distance
    metrics["worst_ratio"] = max(metrics["rmse_ratio"], metrics["climate_ratio"])
    metrics["none_rmse_ratio"] = none.rmse_at(LEAD) / poly.rmse_at(LEAD)
    metrics["none_climate_ratio"] = none.climate_distance / poly.climate_distance
    return metrics


@dataclass
class Results:
    """Everything a run computes, before it is reported.

    Attributes
    ----------
    scores
        Online scores of ``"none"``, ``"polynomial"`` and ``"network"``.
    offline
        Validation RMSE of ``U`` of the polynomial and the network.
    climate_truth
        The independent truth whose values of ``X`` are the reference climate.
    polynomial, network, bare
        The fitted cubic, the network in physical units, and the bare network.
    history
        The network's training history.
    """

    scores: dict[str, OnlineScores]
    offline: dict[str, float]
    climate_truth: Truth
    polynomial: CubicPolynomial
    network: Scaled
    bare: LocalNet
    history: History


def simulate_and_score(
    config: Config,
    *,
    epochs: int,
    device: torch.device,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Results:
    """Generate the three truths, fit both parameterisations and score all three online."""
    spin_up = config.spin_up
    truth = simulate_truth(
        config.train_members, config.train_duration, spin_up=spin_up, seed=config.seed
    )
    test = simulate_truth(
        config.test_members, config.forecast_duration, spin_up=spin_up, seed=config.seed + 1000
    )
    climate_truth = simulate_truth(
        config.climate_members,
        config.climate_truth_duration,
        sample_dt=0.05,
        spin_up=spin_up,
        seed=config.seed + 2000,
    )
    train_until = 2 * config.train_duration / 3
    train, valid = split_in_time(truth, train_until)

    polynomial = CubicPolynomial.fit(*train)
    network, bare, history = train_local_net(
        train, valid, config, epochs=epochs, device=device, progress=progress, log=log
    )
    x_valid, u_valid = valid
    with torch.no_grad():
        offline = {
            name: float((model(x_valid) - u_valid).pow(2).mean().sqrt())
            for name, model in [("polynomial", polynomial), ("network", network)]
        }
    candidates: dict[str, Parameterisation] = {
        "none": no_parameterisation,
        "polynomial": polynomial,
        "network": network,
    }
    scores = {
        name: score_online(p, test, climate_truth, config.climate_duration)
        for name, p in candidates.items()
    }
    return Results(scores, offline, climate_truth, polynomial, network, bare, history)


def run(
    config: Config, out_dir: Path | None = None, *, progress: bool | None = None, log: Log = None
) -> Report:
    """Generate truth, fit both parameterisations, run them online and score them.

    The parameters are those of :class:`~practicaltorch.recipes.base.Recipe`; with
    ``out_dir``, it writes ``model.pt`` (the local network, with its scaling recorded
    so ``practicaltorch export`` builds it in), ``forecast_rmse.png``, ``climate.png``
    and ``metrics.json`` there.

    Returns
    -------
    Report
        Metrics include ``rmse_1mtu_<model>`` and ``climate_<model>`` for
        ``none``, ``polynomial`` and ``network``, their ratios, and ``worst_ratio``
        (the bar's metric).
    """
    config = _settings(config)
    device, epochs = begin(config, config.default_epochs, out_dir)
    results = simulate_and_score(config, epochs=epochs, device=device, progress=progress, log=log)
    scores, history, network, bare = results.scores, results.history, results.network, results.bare
    report = Report.from_history(NAME, BAR, history, device, config)
    report.metrics = _metrics(scores, results.offline)
    if out_dir is not None:
        save_figure(plot_forecast_rmse(scores), out_dir, "forecast_rmse.png", report)
        save_figure(plot_climate(scores, results.climate_truth.x), out_dir, "climate.png", report)
        k = results.climate_truth.settings.K
        names = [f"X_{i + 1}" for i in range(k)]
        metadata: dict[str, Any] = {
            "inputs": describe(names, "1", float(network.x_mean), float(network.x_std)),
            "outputs": describe(
                [f"U_{i + 1}" for i in range(k)], "1", float(network.u_mean), float(network.u_std)
            ),
            "polynomial": results.polynomial.coefficients.tolist(),
        }
        save_run(report, out_dir, bare, "LocalNet", dict(bare.config), metadata, history, [k])
    return report
