"""Draw the figures used by the slide decks, with matplotlib and PyTorch.

Every figure in the decks is made here, from numbers computed here, so the slides
need no third-party images and no network. Run it before rendering the decks with
Quarto::

    python slides/figures.py slides/figures
    quarto render slides/teaching.qmd

``python -m authoring site build`` calls :func:`draw_all` itself.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

__all__ = ["FIGURES", "draw_all"]

DPI = 120
BLUE = "#1f77b4"
ORANGE = "#ff7f0e"
GREY = "#7f7f7f"
GREEN = "#2ca02c"

# The three points fitted on the gradient-descent slides.
LINE_X = np.array([1.0, 2.0, 3.0])
LINE_Y = np.array([2.1, 3.9, 6.2])


def _gradient_descent(steps: int, lr: float) -> tuple[np.ndarray, np.ndarray]:
    """Fit y = m x + c to the slide's points; return the (m, c) path and the losses."""
    m, c = 0.0, 0.0
    path, losses = [(m, c)], []
    n = len(LINE_X)
    for _ in range(steps):
        residual = LINE_Y - (m * LINE_X + c)
        losses.append(float(np.mean(residual**2)))
        dl_dm = -2.0 / n * float(np.sum(residual * LINE_X))
        dl_dc = -2.0 / n * float(np.sum(residual))
        m, c = m - lr * dl_dm, c - lr * dl_dc
        path.append((m, c))
    return np.array(path), np.array(losses)


def line_fit() -> Figure:
    """Straight line fitted by gradient descent, with the loss falling step by step."""
    path, losses = _gradient_descent(steps=200, lr=0.05)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    xs = np.linspace(0.0, 3.5, 50)
    shown = [0, 1, 3, 10, 200]
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, len(shown)))
    for step, colour in zip(shown, colours):
        m, c = path[step]
        left.plot(xs, m * xs + c, color=colour, lw=2, label=f"step {step}: m={m:.2f}, c={c:.2f}")
    left.scatter(LINE_X, LINE_Y, color="black", zorder=3, s=40, label="data")
    left.set(xlabel="x", ylabel="y", title="y = m x + c, fitted by gradient descent")
    left.legend(fontsize=7, loc="upper left")
    right.plot(np.arange(1, len(losses) + 1), losses, color=BLUE, lw=2)
    right.set(xscale="log", yscale="log", xlabel="step", ylabel="mean squared error")
    right.set_title("The loss falls as the parameters move downhill")
    right.grid(True, which="both", alpha=0.3)
    return fig


def activations() -> Figure:
    """Draw common activation functions, evaluated with ``torch.nn.functional``."""
    x = torch.linspace(-4.0, 4.0, 401)
    functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "ReLU": torch.relu,
        "LeakyReLU (0.1)": lambda t: torch.nn.functional.leaky_relu(t, 0.1),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "GELU": torch.nn.functional.gelu,
    }
    fig, axes = plt.subplots(1, len(functions), figsize=(11, 2.6), layout="constrained")
    for ax, (name, function) in zip(axes, functions.items()):
        ax.axhline(0.0, color=GREY, lw=0.8)
        ax.axvline(0.0, color=GREY, lw=0.8)
        ax.plot(x.numpy(), function(x).numpy(), color=BLUE, lw=2.5)
        ax.set_title(name)
        ax.set_xlim(-4, 4)
        ax.set_ylim(-1.5, 4)
        ax.set_xlabel("input")
    axes[0].set_ylabel("output")
    return fig


def _cells(ax: Axes, values: np.ndarray, x0: float, y0: float, highlight: range = range(0)) -> None:
    """Draw a row of numbered cells with its lower-left corner at ``(x0, y0)``."""
    for i, value in enumerate(values):
        face = "#ffe0b3" if i in highlight else "white"
        ax.add_patch(Rectangle((x0 + i, y0), 1, 1, facecolor=face, edgecolor="black"))
        ax.text(x0 + i + 0.5, y0 + 0.5, f"{value:g}", ha="center", va="center", fontsize=12)


def conv1d() -> Figure:
    """Slide a kernel of width 3 along a sequence, computed with ``torch.conv1d``."""
    signal = torch.tensor([0.0, 1.0, 3.0, 2.0, 0.0, -1.0, 1.0, 2.0])
    kernel = torch.tensor([1.0, 0.0, -1.0])
    out = torch.nn.functional.conv1d(signal.view(1, 1, -1), kernel.view(1, 1, -1)).view(-1)
    position = 2  # the highlighted output
    fig, ax = plt.subplots(figsize=(9, 3.4), layout="constrained")
    _cells(ax, signal.numpy(), 0, 3, range(position, position + 3))
    _cells(ax, kernel.numpy(), position, 1.5)
    _cells(ax, out.numpy(), 1, 0, range(position, position + 1))
    ax.text(-0.3, 3.5, "input", ha="right", va="center", fontsize=12)
    ax.text(-0.3, 2.0, "kernel (weights)", ha="right", va="center", fontsize=12)
    ax.text(-0.3, 0.5, "output", ha="right", va="center", fontsize=12)
    terms = " + ".join(
        f"({a:g})({b:g})" for a, b in zip(signal[position : position + 3].tolist(), kernel.tolist())
    )
    ax.text(
        8.4,
        1.0,
        f"{terms}\n= {out[position].item():g}",
        ha="left",
        va="center",
        fontsize=11,
        color=ORANGE,
    )
    ax.add_patch(
        FancyArrowPatch(
            (position + 1.5, 1.45), (position + 1.5, 1.05), arrowstyle="-|>", mutation_scale=15
        )
    )
    title = "1-D convolution: 3 weights slide along 8 inputs to give 6 outputs (no padding)"
    return _diagram(fig, ax, (-4.5, 13.5), (-0.3, 4.3), title)


def _diagram(
    fig: Figure, ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], title: str
) -> Figure:
    """Frame a drawn diagram: its limits, equal scales, no axes, and a title."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)
    return fig


def _grid(
    ax: Axes, values: np.ndarray, x0: float, y0: float, box: tuple[int, int, int] | None = None
) -> None:
    """Draw a square grid of numbers; ``box`` = (row, column, size) is shaded."""
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            inside = (
                box is not None
                and (box[0] <= r < box[0] + box[2])
                and (box[1] <= c < box[1] + box[2])
            )
            face = "#ffe0b3" if inside else "white"
            ax.add_patch(
                Rectangle((x0 + c, y0 + rows - 1 - r), 1, 1, facecolor=face, edgecolor="black")
            )
            ax.text(
                x0 + c + 0.5, y0 + rows - 0.5 - r, f"{values[r, c]:g}", ha="center", va="center"
            )


def conv2d() -> Figure:
    """Slide a 3x3 kernel over a 5x5 image, computed with ``torch.conv2d``."""
    image = torch.tensor(
        [
            [0.0, 0.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 0.0, 1.0],
        ]
    )
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])
    out = torch.nn.functional.conv2d(image.view(1, 1, 5, 5), kernel.view(1, 1, 3, 3)).view(3, 3)
    fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    _grid(ax, image.numpy(), 0, 0, box=(1, 0, 3))
    _grid(ax, kernel.numpy(), 7, 1)
    _grid(ax, out.numpy(), 12.5, 1, box=(1, 0, 1))
    ax.text(2.5, 5.4, "input image (5x5)", ha="center", fontsize=12)
    ax.text(8.5, 4.4, "kernel (3x3)", ha="center", fontsize=12)
    ax.text(14.0, 4.4, "feature map (3x3)", ha="center", fontsize=12)
    ax.text(6.0, 2.5, "*", ha="center", va="center", fontsize=24)
    ax.text(11.2, 2.5, "=", ha="center", va="center", fontsize=24)
    title = "2-D convolution: this kernel responds to a vertical edge (dark to light)"
    return _diagram(fig, ax, (-0.5, 16), (-0.5, 6), title)


def translation() -> Figure:
    """Show that shifting an input shifts the feature map, and rotating it changes it."""
    size = 16
    base = np.zeros((size, size), dtype=np.float32)
    base[3:11, 4] = 1.0  # a vertical bar
    shifted = np.roll(base, (3, 6), axis=(0, 1))
    rotated = np.rot90(base).copy()
    kernel = torch.tensor([[-1.0, 2.0, -1.0]] * 3).view(1, 1, 3, 3)  # likes vertical lines
    fig, axes = plt.subplots(2, 3, figsize=(8, 5.2), layout="constrained")
    titles = ["input", "shifted input", "rotated input"]
    for column, (title, image) in enumerate(zip(titles, [base, shifted, rotated])):
        response = torch.nn.functional.conv2d(
            torch.from_numpy(image).view(1, 1, size, size), kernel, padding=1
        )
        axes[0, column].imshow(image, cmap="gray_r", vmin=0, vmax=1)
        axes[0, column].set_title(title)
        axes[1, column].imshow(response.view(size, size).numpy(), cmap="RdBu_r", vmin=-6, vmax=6)
        axes[1, column].set_title("feature map", color=GREEN if column < 2 else ORANGE)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("The same kernel: shifting moves the response, rotating changes it")
    return fig


@functools.cache
def _lorenz96_results() -> Any:
    """Return a small run of the lorenz96 recipe (lesson 09), shared by its two figures."""
    from practicaltorch.recipes.lorenz96 import Config, simulate_and_score

    config = Config(
        train_members=20,
        test_members=20,
        climate_members=40,
        climate_truth_duration=4.0,
    )
    torch.manual_seed(0)
    return simulate_and_score(config, epochs=5, device=torch.device("cpu"), progress=False)


def lorenz96_rmse() -> Figure:
    """Draw forecast RMSE against lead time: no parameterisation, the cubic, the network."""
    from practicaltorch.recipes.lorenz96 import plot_forecast_rmse

    return plot_forecast_rmse(_lorenz96_results().scores)


def lorenz96_climate() -> Figure:
    """Draw the distribution of X in long runs of each model, against the truth's."""
    from practicaltorch.recipes.lorenz96 import plot_climate

    results = _lorenz96_results()
    return plot_climate(results.scores, results.climate_truth.x)


FIGURES: dict[str, Callable[[], Figure]] = {
    "line_fit": line_fit,
    "activations": activations,
    "conv1d": conv1d,
    "conv2d": conv2d,
    "translation": translation,
    "lorenz96_rmse": lorenz96_rmse,
    "lorenz96_climate": lorenz96_climate,
}
"""Every figure the decks use: file stem -> function that draws it."""


def draw_all(folder: Path) -> list[Path]:
    """Draw every figure in :data:`FIGURES` as a PNG in ``folder``.

    Parameters
    ----------
    folder
        Where to write ``<name>.png``; created if needed.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with plt.rc_context({"font.size": 10, "svg.hashsalt": "practicaltorch"}):
        for name, draw in FIGURES.items():
            figure = draw()
            target = folder / f"{name}.png"
            figure.savefig(target, dpi=DPI, metadata={"Software": None})
            plt.close(figure)
            written.append(target)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "figures"
    for path in draw_all(out):
        print(path)
