"""Reference solution: penguin species from body measurements with an MLP."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from practicaltorch import plots
from practicaltorch.data.penguins import SPECIES_FEATURES, Penguins
from practicaltorch.recipes.base import Bar, Log, Report, Settings, save_figure
from practicaltorch.recipes.physical import penguin_scaling
from practicaltorch.recipes.tabular import MLPSettings, begin_mlp, save_mlp, train_mlp
from practicaltorch.training.metrics import confusion_matrix, multiclass_metrics

__all__ = ["BAR", "NAME", "Config", "run"]

NAME = "penguins-species"
BAR = Bar("accuracy", 59 / 60 - 1e-9, True, "validation accuracy (60 birds)", "%")
"""At most one of the 60 held-out birds misclassified (98.3%)."""


@dataclass
class Config(Settings):
    """Settings of the penguin species run.

    Attributes
    ----------
    features
        The body measurements the network classifies from.
    mlp
        Widths, epochs, batch size and learning rate of the classifier.
    """

    features: tuple[str, ...] = SPECIES_FEATURES
    mlp: MLPSettings = field(
        default_factory=lambda: MLPSettings(hidden=(32, 32), epochs=60, batch_size=32, lr=1e-2)
    )


def run(
    config: Config, out_dir: Path | None = None, *, progress: bool | None = None, log: Log = None
) -> Report:
    """Train the species classifier and report its validation accuracy.

    The parameters are those of :class:`~practicaltorch.recipes.base.Recipe`; with
    ``out_dir``, weights, ``metrics.json``, curves and a confusion matrix are written there.
    """
    device, settings = begin_mlp(config, 5, out_dir)

    train_set = Penguins(train=True, features=config.features)
    valid_set = Penguins(train=False, features=config.features)
    model, history = train_mlp(
        train_set,
        valid_set,
        len(train_set.classes),
        nn.CrossEntropyLoss(),
        settings,
        seed=config.seed,
        device=device,
        metrics=multiclass_metrics(len(train_set.classes)),
        progress=progress,
        log=log,
    )
    report = Report.from_history(NAME, BAR, history, device, config)
    if out_dir is not None:
        with torch.no_grad():
            logits = model(valid_set.features.to(device))
        matrix = confusion_matrix(logits, valid_set.targets.to(device), len(train_set.classes))
        figure = plots.plot_confusion_matrix(matrix, train_set.classes)
        save_figure(figure, out_dir, "confusion_matrix.png", report)
        save_mlp(
            report, out_dir, model, {**train_set.metadata(), **penguin_scaling(train_set)}, history
        )
    return report
