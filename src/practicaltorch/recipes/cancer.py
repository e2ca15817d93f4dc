"""Reference solution: benign or malignant breast tumours, a first classifier."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from practicaltorch.data.cancer import BreastCancer
from practicaltorch.recipes.base import Bar, Log, Report, Settings
from practicaltorch.recipes.tabular import MLPSettings, begin_mlp, save_mlp, train_mlp
from practicaltorch.training.metrics import binary_inputs, binary_metrics

__all__ = ["BAR", "NAME", "Config", "run"]

NAME = "cancer"
BAR = Bar("roc_auc", 0.99, True, "validation ROC-AUC")
"""Area under the ROC curve of at least 0.99 on the held-out tumours."""


@dataclass
class Config(Settings):
    """Settings of the breast cancer run.

    Attributes
    ----------
    split_seed
        Seed of the stratified train/validation split.
    mlp
        The classifier's hidden width, epochs, learning rate and weight decay.
    """

    split_seed: int = 0
    mlp: MLPSettings = field(
        default_factory=lambda: MLPSettings(
            hidden=(16,), epochs=40, batch_size=32, lr=1e-2, weight_decay=0.1
        )
    )


def run(
    config: Config, out_dir: Path | None = None, *, progress: bool | None = None, log: Log = None
) -> Report:
    """Train the tumour classifier and report ROC-AUC and friends on held-out data.

    The parameters are those of :class:`~practicaltorch.recipes.base.Recipe`; with
    ``out_dir``, weights, ``metrics.json`` and curves are written there.
    """
    device, settings = begin_mlp(config, 3, out_dir)

    train_set = BreastCancer(train=True, split_seed=config.split_seed)
    valid_set = BreastCancer(train=False, split_seed=config.split_seed)
    model, history = train_mlp(
        train_set,
        valid_set,
        1,
        nn.BCEWithLogitsLoss(),
        settings,
        seed=config.seed,
        device=device,
        metrics=binary_metrics(),
        metric_transform=binary_inputs,
        progress=progress,
        log=log,
    )
    report = Report.from_history(NAME, BAR, history, device, config)
    if out_dir is not None:
        metadata = {
            "features": train_set.feature_names,
            "classes": train_set.classes,
            "mean": train_set.mean.tolist(),
            "std": train_set.std.tolist(),
        }
        save_mlp(report, out_dir, model, metadata, history)
    return report
