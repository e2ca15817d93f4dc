"""Ellipse regression with a CoordConv CNN: the reference solution of the regression lesson.

The network (:class:`~practicaltorch.models.EllipseCNN`) estimates the centre
and radii of one ellipse on a plain background. Two choices make it reach
sub-pixel error in about half a minute on one CPU core (see
``benchmarks/bench_ellipses.py`` for the figures by seed):

- the model averages 4x4 blocks of its input, which keeps sub-pixel edge
  information while the convolutions visit sixteen times fewer positions, and
  appends the difference from the (border-estimated) background colour and
  coordinate channels;
- every epoch trains on *fresh* images (:class:`~practicaltorch.data.ellipses.EllipseBatches`):
  the generator draws over 10,000 images a second, so new data costs a few
  percent of the training time and the network cannot overfit.

The training images come from seed ``2 * seed`` and the validation images from
seed ``2 * seed + 1``, so the two sets never share an image, for any seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from practicaltorch.data.batches import TensorBatches
from practicaltorch.data.ellipses import RADIUS_RANGE, EllipseBatches, ellipse_tensors
from practicaltorch.models.coordconv import EllipseCNN
from practicaltorch.recipes.base import Bar, Log, Report, Settings, begin, save_figure, save_run
from practicaltorch.recipes.physical import ellipse_scaling
from practicaltorch.training.callbacks import standard_callbacks
from practicaltorch.training.loop import fit
from practicaltorch.training.metrics import regression_metrics

__all__ = ["BAR", "NAME", "QUICK_BAR", "Config", "run"]

NAME = "ellipses"
BAR = Bar("mae_px", 1.0, False, "mean abs error", "px", strict=True)
"""The quality bar: centre and radii within one pixel on average, on 128x128 images."""

QUICK_BAR = Bar("mae_px", 7.0, False, "mean abs error", "px", strict=True)
"""The sanity bar of quick mode: half the error of always predicting the mean
ellipse (about 14 px). Quick mode's few seconds of training reach about 5 px."""

DEFAULT_EPOCHS = 5
QUICK_EPOCHS = 2
QUICK_PER_EPOCH = 1024
QUICK_BATCH = 32
QUICK_VALID = 256

_MEAN_RADIUS = sum(RADIUS_RANGE) / 2
_MEAN_TARGET = (0.5, 0.5, _MEAN_RADIUS, _MEAN_RADIUS)
"""The mean ellipse: centred (by symmetry), with the mean radius."""


@dataclass
class Config(Settings):
    """Settings of the ellipse recipe.

    Attributes
    ----------
    seed
        Seeds the weights; training images come from ``2 * seed`` and
        validation images from ``2 * seed + 1``.
    epochs
        Epochs of fresh images; ``None`` for the default (5, or 2 when ``quick``).
    device
        ``"cpu"``, ``"cuda"``, ``"mps"``, or ``None`` for the best available.
    quick
        A smoke test of a few seconds: few, small epochs, checked against the
        loose :data:`QUICK_BAR` instead of :data:`BAR`.
    size
        Image height and width in pixels; a multiple of ``pool * 2**len(channels)``.
    per_epoch
        Fresh training images per epoch (1024 when ``quick``).
    valid_size
        Held-out validation images (256 when ``quick``).
    batch_size
        Images per training step (32 when ``quick``).
    lr
        Peak learning rate of the one-cycle schedule (AdamW).
    weight_decay
        AdamW weight decay.
    channels
        Width of each stride-2 stage of the CNN.
    convs_per_stage
        Convolutions per stage.
    pool
        Average-pool the prepared input by this factor before the convolutions.
    hidden
        Width of the hidden layer of the head.
    """

    size: int = 128
    per_epoch: int = 4096
    valid_size: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    channels: tuple[int, ...] = (24, 48, 96)
    convs_per_stage: int = 2
    pool: int = 4
    hidden: int = 128


class _PixelHuber:
    """Huber loss in pixels between normalised predictions and targets.

    Quadratic for errors under one pixel, linear above: the linear part keeps
    the early, large errors from dominating, and the quadratic part gives
    smooth gradients near the target. It reached a lower mean absolute error
    than the squared error in the same time (0.48 vs 0.52 px when tuning).
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return nn.functional.smooth_l1_loss(outputs * self.size, targets * self.size, beta=1.0)


@torch.no_grad()
def _predict(model: nn.Module, images: Tensor, device: torch.device) -> Tensor:
    """Return the model's normalised predictions for ``images``, on the CPU."""
    model.eval()
    parts = [
        model(images[i : i + 256].to(device)).float().cpu() for i in range(0, len(images), 256)
    ]
    return torch.cat(parts)


def run(
    config: Config, out_dir: Path | None = None, *, progress: bool | None = None, log: Log = None
) -> Report:
    """Train the ellipse CNN and report its validation error in pixels.

    The parameters are those of :class:`~practicaltorch.recipes.base.Recipe`; with
    ``out_dir``, it writes ``model.pt``, ``metrics.json``, ``curves.png`` and
    ``predictions.png`` (validation images with predicted outlines in black and true
    ones dashed in white) there.

    Returns
    -------
    Report
        Metrics ``mae_px`` and ``rmse_px`` over the four quantities,
        ``mae_centre_px`` and ``mae_radius_px`` separately, and
        ``baseline_mae_px``: the error of always predicting the mean ellipse.
    """
    device, epochs = begin(config, QUICK_EPOCHS if config.quick else DEFAULT_EPOCHS, out_dir)
    size = config.size
    per_epoch = QUICK_PER_EPOCH if config.quick else config.per_epoch
    batch_size = QUICK_BATCH if config.quick else config.batch_size
    valid_size = QUICK_VALID if config.quick else config.valid_size

    train = EllipseBatches(per_epoch, batch_size, size, seed=2 * config.seed)
    valid_images, valid_targets = ellipse_tensors(valid_size, size, seed=2 * config.seed + 1)
    valid = TensorBatches(valid_images, valid_targets, batch_size=256)

    model = EllipseCNN(
        size=size,
        channels=config.channels,
        convs_per_stage=config.convs_per_stage,
        hidden=config.hidden,
        pool=config.pool,
    )
    with torch.no_grad():  # start from the mean ellipse: centred, mean radius
        model.output.bias.copy_(torch.tensor(_MEAN_TARGET))
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=epochs * len(train), pct_start=0.2
    )

    def in_pixels(outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return outputs * size, targets * size

    history = fit(
        model,
        train,
        valid,
        _PixelHuber(size),
        optimizer,
        epochs=epochs,
        device=device,
        metrics=regression_metrics(),
        metric_transform=in_pixels,
        scheduler=scheduler,
        callbacks=standard_callbacks(progress, log, out_dir, config),
    )

    predicted = _predict(model, valid_images, device)
    errors = (predicted - valid_targets).abs() * size
    metrics = {
        "mae_px": float(errors.mean()),
        "rmse_px": float(errors.pow(2).mean().sqrt()),
        "mae_centre_px": float(errors[:, :2].mean()),
        "mae_radius_px": float(errors[:, 2:].mean()),
        "baseline_mae_px": float(
            ((valid_targets - torch.tensor(_MEAN_TARGET)).abs() * size).mean()
        ),
    }
    report = Report(
        name="ellipses",
        metrics=metrics,
        bar=QUICK_BAR if config.quick else BAR,
        seconds=history.last["seconds"],
        epochs=len(history),
        device=str(device),
        history=history.to_list(),
        config=asdict(config),
    )
    if out_dir is not None:
        from practicaltorch import plots  # matplotlib is imported only when saving

        shown = slice(0, 12)
        figure = plots.plot_ellipses(valid_images[shown], predicted[shown], valid_targets[shown])
        save_figure(figure, out_dir, "predictions.png", report)
        save_run(
            report,
            out_dir,
            model,
            "EllipseCNN",
            model.config,
            metadata={
                "size": size,
                "targets": ["row", "col", "row_radius", "col_radius"],
                "target_scale": "fraction of the image size",
                **ellipse_scaling(size, ["row", "col", "row_radius", "col_radius"]),
            },
            history=history,
            input_shape=[3, size, size],
        )
    return report
