"""Reference solution: penguin body mass from other measurements, beside least squares.

The bar is relative: the network is trained with each of the seeds 0-4, and its
mean validation MAE must be at most :data:`BASELINE_FACTOR` times the MAE of an
ordinary least-squares fit on the same split. A fixed number of grams would say
more about the split than about the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from practicaltorch.data.penguins import MASS_FEATURES, Penguins
from practicaltorch.devices import seed_everything
from practicaltorch.models.mlp import MLP
from practicaltorch.recipes.base import Bar, Log, Report, Settings
from practicaltorch.recipes.physical import penguin_scaling
from practicaltorch.recipes.tabular import MLPSettings, begin_mlp, save_mlp, train_mlp
from practicaltorch.training.history import History
from practicaltorch.training.metrics import regression_metrics

__all__ = [
    "BAR",
    "BAR_SEEDS",
    "BASELINE_FACTOR",
    "NAME",
    "Config",
    "bar_metrics",
    "least_squares_mae",
    "run",
]

NAME = "penguins-mass"
BASELINE_FACTOR = 1.02
"""The networks' mean validation MAE may exceed least squares' by at most 2%."""
BAR_SEEDS = (0, 1, 2, 3, 4)
"""The seeds whose networks are averaged for the bar."""
BAR = Bar(
    "mae_ratio", BASELINE_FACTOR, False, "mean validation MAE of seeds 0-4", "x least squares"
)
"""Mean validation MAE over :data:`BAR_SEEDS`, divided by the least-squares MAE: at most 1.02."""


@dataclass
class Config(Settings):
    """Settings of the penguin body-mass run.

    Attributes
    ----------
    features
        The measurements the body mass is predicted from.
    mlp
        The regressor: a wide single hidden layer with strong
        weight decay: the relationship is nearly linear, and with 273 birds an
        unregularised net fits their noise. Fifty epochs give the same mean
        MAE over seeds 0-4 as 150 (231.1 g against 231.4 g).
    """

    features: tuple[str, ...] = MASS_FEATURES
    mlp: MLPSettings = field(
        default_factory=lambda: MLPSettings(
            hidden=(64,), epochs=50, batch_size=32, lr=3e-3, weight_decay=1.0
        )
    )


def least_squares_mae(train_set: Penguins, valid_set: Penguins) -> float:
    """Return the validation MAE of an ordinary least-squares fit on the same inputs.

    The baseline any network must beat: if it does not, the simpler method wins.

    Returns
    -------
    float
        Mean absolute error in the target's units (grams).
    """

    def with_bias(x: Tensor) -> Tensor:
        return torch.cat([x, torch.ones(len(x), 1)], dim=1).double()

    solution = torch.linalg.lstsq(
        with_bias(train_set.features), train_set.targets.double()
    ).solution
    predicted = train_set.unscale_target(with_bias(valid_set.features) @ solution)
    truth = valid_set.unscale_target(valid_set.targets.double())
    return float((predicted - truth).abs().mean())


def bar_metrics(maes: Mapping[int, float], baseline_mae: float) -> dict[str, float]:
    """Return the figures the bar is judged on, from each seed's validation MAE.

    Parameters
    ----------
    maes
        Validation MAE in grams of the network trained with each seed; must
        include every seed of :data:`BAR_SEEDS`.
    baseline_mae
        Least squares' validation MAE on the same split, in grams.

    Returns
    -------
    dict
        ``baseline_mae``, ``mean_mae`` (over :data:`BAR_SEEDS`), ``mae_ratio``
        (their quotient, the bar's metric) and ``mae_seed<N>`` for each seed.

    Raises
    ------
    ValueError
        If a seed of :data:`BAR_SEEDS` is missing from ``maes``.

    Examples
    --------
    >>> figures = bar_metrics({0: 230.0, 1: 232.0, 2: 234.0, 3: 228.0, 4: 231.0}, 233.0)
    >>> round(figures["mean_mae"], 1), round(figures["mae_ratio"], 4)
    (231.0, 0.9914)
    >>> BAR.passed(figures["mae_ratio"])
    True
    """
    missing = [seed for seed in BAR_SEEDS if seed not in maes]
    if missing:
        raise ValueError(f"the bar needs the MAE of every seed in {BAR_SEEDS}; missing {missing}")
    mean_mae = sum(maes[seed] for seed in BAR_SEEDS) / len(BAR_SEEDS)
    figures = {"baseline_mae": baseline_mae, "mean_mae": mean_mae}
    figures["mae_ratio"] = mean_mae / baseline_mae
    figures.update({f"mae_seed{seed}": float(mae) for seed, mae in sorted(maes.items())})
    return figures


def run(
    config: Config, out_dir: Path | None = None, *, progress: bool | None = None, log: Log = None
) -> Report:
    """Train the body-mass network; report its MAE beside the least-squares baseline.

    The network is trained with ``config.seed`` (the one saved) and with each
    other seed of :data:`BAR_SEEDS`, for the bar.

    The parameters are those of :class:`~practicaltorch.recipes.base.Recipe`; with
    ``out_dir``, weights, ``metrics.json`` and curves are written there.

    Returns
    -------
    Report
        Metrics ``mae`` and ``rmse`` in grams of the saved network (seed
        ``config.seed``); ``baseline_mae`` of least squares; and, over the
        networks of seeds 0-4, ``mean_mae``, ``mae_seed<N>`` and ``mae_ratio``,
        the bar's metric.
    """
    device, settings = begin_mlp(config, 5, out_dir)

    kwargs = {"features": config.features, "target": "body_mass_g", "standardise_target": True}
    train_set = Penguins(train=True, **kwargs)  # type: ignore[arg-type]
    valid_set = Penguins(train=False, **kwargs)  # type: ignore[arg-type]

    def in_grams(outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return train_set.unscale_target(outputs), train_set.unscale_target(targets)

    def train(seed: int) -> tuple[MLP, History]:
        seed_everything(seed)
        return train_mlp(
            train_set,
            valid_set,
            1,
            nn.MSELoss(),
            settings,
            seed=seed,
            device=device,
            metrics=regression_metrics(),
            metric_transform=in_grams,
            progress=progress,
            log=log,
        )

    model, history = train(config.seed)
    report = Report.from_history(NAME, BAR, history, device, config)
    maes = {config.seed: report.metrics["mae"]}
    for seed in BAR_SEEDS:
        if seed not in maes:
            other = train(seed)[1].last
            maes[seed] = other["valid_mae"]
            report.seconds += other["seconds"]  # the time of every network trained
    report.metrics.update(bar_metrics(maes, least_squares_mae(train_set, valid_set)))
    report.detail = (
        f"validation MAE: network {report.metrics['mean_mae']:.1f} g (mean of seeds 0-4), "
        f"least squares {report.metrics['baseline_mae']:.1f} g"
    )
    if out_dir is not None:
        save_mlp(
            report, out_dir, model, {**train_set.metadata(), **penguin_scaling(train_set)}, history
        )
    return report
