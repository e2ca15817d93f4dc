"""The course's figures: what each panel shows, and that each one saves."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
import torch

from practicaltorch import plots
from practicaltorch.training.history import History

matplotlib.use("Agg")


def _history(epochs: int = 5) -> History:
    records = [
        {
            "epoch": float(e),
            "train_loss": 1.0 / e,
            "valid_loss": 1.2 / e,
            "valid_accuracy": 1 - 0.5 / e,
            "valid_f1": 1 - 0.6 / e,
            "seconds": float(e),
        }
        for e in range(1, epochs + 1)
    ]
    return History(records=records)


def test_history_has_a_log_loss_panel_and_the_asked_metrics(tmp_path: Path) -> None:
    figure = plots.plot_history(_history(), ["accuracy"])
    loss_axes, metric_axes = figure.axes
    assert loss_axes.get_yscale() == "log"
    assert [line.get_label() for line in metric_axes.get_lines()] == ["accuracy"]
    figure.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    plots.close(figure)


def test_history_without_metrics_draws_every_recorded_one_or_only_the_loss() -> None:
    every = plots.plot_history(_history())
    assert [line.get_label() for line in every.axes[1].get_lines()] == ["accuracy", "f1"]
    history = History(records=[{"epoch": 1.0, "train_loss": 0.0, "seconds": 1.0}])
    only_loss = plots.plot_history(history)
    assert len(only_loss.axes) == 1
    assert only_loss.axes[0].get_yscale() == "linear"  # a zero loss cannot be drawn on a log axis
    plots.close(every)
    plots.close(only_loss)


def test_digits_are_titled_with_the_prediction_and_red_when_wrong(tmp_path: Path) -> None:
    images = torch.rand(5, 1, 28, 28)
    predicted = torch.tensor([3, 1, 4, 1, 5])
    truth = torch.tensor([3, 7, 4, 1, 5])
    figure = plots.plot_digits(images, predicted, truth, columns=3)
    titles = [ax.title for ax in figure.axes]
    assert len(figure.axes) == 6  # two rows of three; the last is left empty
    assert [t.get_text() for t in titles[:5]] == ["3", "1 (true 7)", "4", "1", "5"]
    assert [t.get_color() for t in titles[:2]] == ["black", "red"]
    figure.savefig(tmp_path / "digits.png")
    plots.close(figure)


def test_ellipses_draw_a_predicted_and_a_true_outline_per_image(tmp_path: Path) -> None:
    images = torch.rand(3, 3, 32, 32)
    targets = torch.tensor([[0.5, 0.5, 0.2, 0.3]]).repeat(3, 1)
    figure = plots.plot_ellipses(images, targets, targets, columns=2)
    assert [len(ax.patches) for ax in figure.axes] == [2, 2, 2, 0]
    figure.savefig(tmp_path / "ellipses.png")
    plots.close(figure)


def test_confusion_matrix_writes_each_count_and_rejects_a_wrong_shape() -> None:
    matrix = torch.tensor([[5, 1], [0, 4]])
    figure = plots.plot_confusion_matrix(matrix, ["cat", "dog"])
    assert sorted(t.get_text() for t in figure.axes[0].texts) == ["0", "1", "4", "5"]
    plots.close(figure)
    with pytest.raises(ValueError, match="square 3x3"):
        plots.plot_confusion_matrix(matrix, ["a", "b", "c"])


def test_panels_are_side_by_side_with_room_for_their_labels(tmp_path: Path) -> None:
    figure, axes = plots.panels(3)
    assert axes.shape == (1, 3)
    assert tuple(figure.get_size_inches()) == (15.0, 3.5)
    for ax in axes.flat:
        ax.set(xlabel="epoch", ylabel="loss", title="Loss")
        ax.plot([1, 2, 3], [1000.0, 100.0, 10.0])
    figure.savefig(tmp_path / "panels.png")  # draws the labels, so their extents are known
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    inside = figure.bbox
    for ax in axes.flat:
        box = ax.get_tightbbox(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1
    plots.close(figure)
