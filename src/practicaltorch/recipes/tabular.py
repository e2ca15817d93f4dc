"""Training an MLP on a tabular dataset: the part the three tabular recipes share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torchmetrics import MetricCollection

from practicaltorch.data.batches import TensorBatches
from practicaltorch.data.tabular import TabularDataset
from practicaltorch.models.mlp import MLP
from practicaltorch.recipes.base import RecipeConfig, Report, begin, save_run
from practicaltorch.training.callbacks import standard_callbacks
from practicaltorch.training.history import History
from practicaltorch.training.loop import LossFn, MetricTransform, fit

__all__ = ["MLPSettings", "begin_mlp", "save_mlp", "train_mlp"]


@dataclass
class MLPSettings:
    """Hyperparameters of a tabular MLP run.

    Attributes
    ----------
    hidden
        Hidden layer widths.
    epochs
        Passes over the training data.
    batch_size
        Samples per step.
    lr
        Peak learning rate of the one-cycle schedule.
    weight_decay
        AdamW weight decay (regularisation).
    batch_norm, dropout
        As in :class:`~practicaltorch.models.MLP`.
    """

    hidden: Sequence[int] = (32, 32)
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-2
    weight_decay: float = 0.0
    batch_norm: bool = False
    dropout: float = 0.0


def train_mlp(
    train_set: TabularDataset,
    valid_set: TabularDataset,
    out_features: int,
    loss_fn: LossFn,
    settings: MLPSettings,
    *,
    seed: int,
    device: torch.device,
    metrics: MetricCollection,
    metric_transform: MetricTransform | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[MLP, History]:
    """Build an MLP and train it with AdamW and a one-cycle learning-rate schedule.

    Both splits are small, so they stay in memory as tensors and are batched by
    slicing (:class:`~practicaltorch.data.TensorBatches`).

    Returns
    -------
    model : MLP
        The trained network, on ``device``.
    history : History
        Per-epoch losses and validation metrics.
    """
    model = MLP(
        train_set.features.shape[1],
        out_features,
        settings.hidden,
        batch_norm=settings.batch_norm,
        dropout=settings.dropout,
    ).to(device)
    train_batches = TensorBatches(
        *train_set.tensors(),
        batch_size=settings.batch_size,
        shuffle=True,
        drop_last=settings.batch_norm,  # a batch of one breaks batch norm
        seed=seed,
        device=device,
    )
    valid_batches = TensorBatches(*valid_set.tensors(), batch_size=1024, device=device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.lr, total_steps=settings.epochs * len(train_batches)
    )
    history = fit(
        model,
        train_batches,
        valid_batches,
        loss_fn,
        optimizer,
        epochs=settings.epochs,
        device=device,
        metrics=metrics,
        metric_transform=metric_transform,
        scheduler=scheduler,
        callbacks=standard_callbacks(progress, log),
    )
    return model, history


class _TabularConfig(RecipeConfig, Protocol):
    mlp: MLPSettings


def begin_mlp(
    config: _TabularConfig, quick_epochs: int, out_dir: Path | None
) -> tuple[torch.device, MLPSettings]:
    """Open a tabular recipe's run (see :func:`~practicaltorch.recipes.base.begin`).

    Returns the device and ``config.mlp`` with the epochs to train: ``config.epochs``,
    else ``quick_epochs`` in quick mode, else ``config.mlp.epochs``.
    """
    device, epochs = begin(config, quick_epochs if config.quick else config.mlp.epochs, out_dir)
    return device, replace(config.mlp, epochs=epochs)


def save_mlp(
    report: Report,
    out_dir: Path,
    model: MLP,
    metadata: dict[str, Any],
    history: History,
) -> Report:
    """Save a tabular run with :func:`~practicaltorch.recipes.base.save_run`."""
    return save_run(
        report,
        out_dir,
        model,
        "MLP",
        dict(model.config),
        metadata,
        history,
        input_shape=list(model.input_shape),
    )
