"""Reference solution: penguin body mass from other measurements, with a baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from practicaltorch.data.penguins import MASS_FEATURES, Penguins
from practicaltorch.devices import pick_device, seed_everything
from practicaltorch.recipes.base import Bar, Report, save_run
from practicaltorch.recipes.tabular import MLPSettings, train_mlp
from practicaltorch.training.metrics import regression_metrics

__all__ = ["BAR", "NAME", "Config", "least_squares_mae", "run"]

NAME = "penguins-mass"
BAR = Bar("mae", 230.0, False, "validation MAE", "g")
"""Mean absolute error of at most 230 g on the 60 held-out birds."""


@dataclass
class Config:
    """Settings of the penguin body-mass run.

    Attributes
    ----------
    seed
        Seed of weights and shuffling.
    epochs
        Training epochs; ``None`` uses the default.
    device
        ``None`` picks the best available device.
    quick
        A few epochs only, for smoke tests.
    features
        Input columns.
    mlp
        Network and optimiser settings. A wide single hidden layer with strong
        weight decay: the relationship is nearly linear, and with 273 birds an
        unregularised net fits their noise.
    """

    seed: int = 0
    epochs: int | None = None
    device: str | None = None
    quick: bool = False
    features: tuple[str, ...] = MASS_FEATURES
    mlp: MLPSettings = field(
        default_factory=lambda: MLPSettings(
            hidden=(64,), epochs=150, batch_size=32, lr=3e-3, weight_decay=1.0
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


def run(
    config: Config,
    out_dir: Path | None = None,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Train the body-mass regressor; report its MAE beside the least-squares baseline.

    Parameters
    ----------
    config
        The settings.
    out_dir
        If given, weights, ``metrics.json`` and curves are written there.
    progress, log
        Passed to :func:`practicaltorch.training.fit`.

    Returns
    -------
    Report
        Metrics ``mae`` and ``rmse`` in grams, and ``baseline_mae`` of least squares.
    """
    seed_everything(config.seed)
    device = pick_device(config.device)
    default_epochs = 5 if config.quick else config.mlp.epochs
    settings = replace(config.mlp, epochs=config.epochs or default_epochs)

    kwargs = {"features": config.features, "target": "body_mass_g", "standardise_target": True}
    train_set = Penguins(train=True, **kwargs)  # type: ignore[arg-type]
    valid_set = Penguins(train=False, **kwargs)  # type: ignore[arg-type]

    def in_grams(outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return train_set.unscale_target(outputs), train_set.unscale_target(targets)

    model, history = train_mlp(
        train_set,
        valid_set,
        1,
        nn.MSELoss(),
        settings,
        seed=config.seed,
        device=device,
        metrics=regression_metrics(),
        metric_transform=in_grams,
        progress=progress,
        log=log,
    )
    report = Report.from_history(NAME, BAR, history, device, config)
    report.metrics["baseline_mae"] = least_squares_mae(train_set, valid_set)
    if out_dir is not None:
        save_run(
            report,
            out_dir,
            model,
            "MLP",
            dict(model.config),
            train_set.metadata(),
            history,
            input_shape=[len(train_set.feature_names)],
        )
    return report
