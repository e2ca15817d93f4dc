"""Figures for the course: learning curves, confusion matrices, prediction grids.

Every function returns a matplotlib ``Figure`` and never calls ``plt.show``,
so the same code works in notebooks (the figure displays itself) and in
scripts (save it with ``fig.savefig("name.png")``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from torch import Tensor

if TYPE_CHECKING:  # only for the annotation: importing the loop would pull in torchmetrics
    from practicaltorch.training.history import History

__all__ = [
    "close",
    "panels",
    "plot_confusion_matrix",
    "plot_digits",
    "plot_ellipses",
    "plot_history",
]


def close(fig: Figure) -> None:
    """Release a figure's memory once it is saved."""
    plt.close(fig)


def panels(count: int) -> tuple[Figure, np.ndarray]:
    """Return a figure of ``count`` plots side by side, 5 x 3.5 inches each.

    The margins are fixed, with room for tick labels, axis labels and a title:
    ``fig.tight_layout()`` would measure every label first, which costs more
    than drawing the figure.

    Returns
    -------
    tuple
        The figure, and its axes as an array of shape ``(1, count)``.
    """
    width = 5 * count
    fig, axes = plt.subplots(1, count, figsize=(width, 3.5), squeeze=False)
    fig.subplots_adjust(
        left=0.7 / width, right=1 - 0.15 / width, bottom=0.15, top=0.91, wspace=0.25
    )
    return fig, axes


def plot_history(history: History, metrics: Sequence[str] | None = None) -> Figure:
    """Plot training and validation loss, and validation metrics, per epoch.

    Parameters
    ----------
    history
        As returned by :func:`practicaltorch.training.fit`.
    metrics
        Validation metric names to plot beside the loss, for example
        ``["accuracy"]``; ``None`` plots every recorded ``valid_*`` metric.

    Returns
    -------
    matplotlib.figure.Figure
        Loss on the left (log scale), metrics on the right.
    """
    keys = history.keys()
    if metrics is None:
        metrics = [
            k.removeprefix("valid_") for k in keys if k.startswith("valid_") and k != "valid_loss"
        ]
    fig, axes = panels(2 if metrics else 1)
    epochs = history["epoch"]
    ax = axes[0, 0]
    ax.plot(epochs, history["train_loss"], label="training")
    if "valid_loss" in keys:
        ax.plot(epochs, history["valid_loss"], label="validation")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    if min(history["train_loss"]) > 0:
        ax.set_yscale("log")
    ax.legend()
    if metrics:
        ax = axes[0, 1]
        for name in metrics:
            ax.plot(epochs, history[f"valid_{name}"], label=name)
        ax.set(xlabel="epoch", title="Validation metrics")
        ax.legend()
    return fig


def plot_confusion_matrix(
    matrix: Tensor | np.ndarray, class_names: Sequence[str], normalise: bool = False
) -> Figure:
    """Draw a confusion matrix with counts written in each cell.

    Parameters
    ----------
    matrix
        Square matrix; rows are true classes, columns predicted classes (see
        :func:`practicaltorch.training.confusion_matrix`).
    class_names
        One name per class, in index order.
    normalise
        Show each row as fractions of the true class instead of counts.
    """
    values = matrix.cpu().numpy() if isinstance(matrix, Tensor) else np.asarray(matrix)
    if values.ndim != 2 or values.shape[0] != values.shape[1] or len(values) != len(class_names):
        raise ValueError(
            f"expected a square {len(class_names)}x{len(class_names)} matrix, "
            f"got shape {values.shape}"
        )
    shown = values / values.sum(axis=1, keepdims=True).clip(min=1) if normalise else values
    size = 1.2 + 0.5 * len(class_names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shown, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(class_names))
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            text = f"{shown[i, j]:.2f}" if normalise else f"{int(values[i, j])}"
            colour = "white" if shown[i, j] > threshold else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    fig.tight_layout()
    return fig


def _grid(count: int, columns: int) -> tuple[Figure, np.ndarray]:
    columns = max(1, min(columns, count))
    rows = (count + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows), squeeze=False)
    # Fixed margins with room for a one-line title above each image: cheaper than
    # tight_layout, which measures every title of every axes.
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.25 / rows, hspace=0.25)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def plot_digits(
    images: Tensor, predicted: Tensor, truth: Tensor | None = None, columns: int = 8
) -> Figure:
    """Show digit images with their predicted labels (red when wrong).

    Parameters
    ----------
    images
        Shape ``(N, 1, H, W)`` or ``(N, H, W)``, any scaling.
    predicted
        Predicted class indices, shape ``(N,)``.
    truth
        True class indices; wrong predictions are titled in red.
    columns
        Images per row.
    """
    images = images.detach().cpu().float()
    if images.ndim == 4:
        images = images[:, 0]
    fig, axes = _grid(len(images), columns)
    for k, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(image.numpy(), cmap="gray_r")
        label = int(predicted[k])
        wrong = truth is not None and int(truth[k]) != label
        title = f"{label}" + (f" (true {int(truth[k])})" if wrong and truth is not None else "")
        # A fixed y skips matplotlib's search for room above each axes' (hidden) ticks.
        ax.set_title(title, color="red" if wrong else "black", fontsize=9, y=1.0)
    return fig


def plot_ellipses(
    images: Tensor, predicted: Tensor, truth: Tensor | None = None, columns: int = 4
) -> Figure:
    """Show ellipse images with the predicted outline drawn over each one.

    Parameters
    ----------
    images
        RGB images of shape ``(N, 3, H, W)``, values in [0, 1] or [0, 255].
    predicted
        Normalised targets ``(row, col, row_radius, col_radius)`` per image,
        shape ``(N, 4)``: fractions of the image size.
    truth
        True targets in the same form, drawn dashed in white.
    columns
        Images per row.
    """
    images = images.detach().cpu().float()
    if images.max() > 1.5:
        images = images / 255.0
    size_rows, size_cols = images.shape[-2:]
    scale = torch.tensor([size_rows, size_cols, size_rows, size_cols], dtype=torch.float32)
    fig, axes = _grid(len(images), columns)
    for k, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
        pairs = [(predicted, "-", "black"), (truth, "--", "white")]
        for params, style, colour in pairs:
            if params is None:
                continue
            row, col, r_row, r_col = (params[k].detach().cpu().float() * scale).tolist()
            outline = Ellipse(
                (col - 0.5, row - 0.5),
                2 * r_col,
                2 * r_row,
                fill=False,
                linestyle=style,
                edgecolor=colour,
                linewidth=1.2,
            )
            ax.add_patch(outline)
    return fig
