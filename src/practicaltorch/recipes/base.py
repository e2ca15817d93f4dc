"""What every recipe shares: the quality bar, the report, and saving results.

A recipe is one lesson's reference solution as a function: a ``Config``
dataclass of settings and ``run(config) -> Report``. Recipes compose the data,
model and training building blocks; the CLI only parses arguments and calls them.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from practicaltorch.training.callbacks import save_checkpoint
from practicaltorch.training.loop import History

__all__ = ["Bar", "Report", "save_run"]


@dataclass(frozen=True)
class Bar:
    """A quality bar a reference solution must reach.

    Parameters
    ----------
    metric
        Key in the report's metrics, for example ``"accuracy"``.
    threshold
        The value to reach.
    higher_is_better
        ``True`` for accuracy-like metrics (pass when ``value >= threshold``),
        ``False`` for errors (pass when ``value <= threshold``, or ``<`` when
        ``strict``).
    label
        How to describe the metric to people, for example ``"test accuracy"``.
    unit
        Unit for display, for example ``"g"`` or ``"px"``; ``"%"`` shows
        fractions as percentages.
    strict
        Require strict inequality.
    """

    metric: str
    threshold: float
    higher_is_better: bool
    label: str
    unit: str = ""
    strict: bool = False

    def passed(self, value: float) -> bool:
        """Return whether ``value`` meets the bar."""
        if self.higher_is_better:
            return value > self.threshold if self.strict else value >= self.threshold
        return value < self.threshold if self.strict else value <= self.threshold

    def format(self, value: float) -> str:
        """Format a value of this metric for people."""
        if self.unit == "%":
            return f"{100 * value:.2f}%"
        return f"{value:.4g}{(' ' + self.unit) if self.unit else ''}"

    def describe(self) -> str:
        """Describe the bar, for example ``'test accuracy >= 99.00%'``."""
        if self.higher_is_better:
            op = ">" if self.strict else ">="
        else:
            op = "<" if self.strict else "<="
        return f"{self.label} {op} {self.format(self.threshold)}"


@dataclass
class Report:
    """The outcome of one recipe run.

    Attributes
    ----------
    name
        The recipe's name, for example ``"mnist"``.
    metrics
        Final validation or test metrics as plain floats.
    bar
        The quality bar for this recipe.
    seconds
        Training time (excluding data loading and plotting).
    epochs
        Epochs actually trained.
    device
        The device used.
    out_dir
        Where the files were written, if anywhere.
    files
        Names of the files written, relative to ``out_dir``.
    history
        Per-epoch records.
    config
        The settings used.
    """

    name: str
    metrics: dict[str, float]
    bar: Bar
    seconds: float
    epochs: int
    device: str
    out_dir: Path | None = None
    files: list[str] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_history(
        cls, name: str, bar: Bar, history: History, device: object, config: object
    ) -> Report:
        """Build a report from a training history: its last epoch's validation metrics.

        Parameters
        ----------
        name
            The recipe's name.
        bar
            Its quality bar.
        history
            As returned by :func:`~practicaltorch.training.fit`; ``valid_<name>``
            entries of the last epoch become the metrics.
        device
            The device trained on.
        config
            The recipe's ``Config`` dataclass.
        """
        last = history.last
        metrics = {k.removeprefix("valid_"): v for k, v in last.items() if k.startswith("valid_")}
        return cls(
            name,
            metrics,
            bar,
            last["seconds"],
            len(history),
            str(device),
            history=history.to_list(),
            config=asdict(config),  # type: ignore[call-overload]
        )

    @property
    def value(self) -> float:
        """The value of the metric the bar is about."""
        return self.metrics[self.bar.metric]

    @property
    def passed(self) -> bool:
        """Whether the run reached its quality bar."""
        return self.bar.passed(self.value)

    def summary(self) -> str:
        """One line for people: the metric, the bar, and whether it was met."""
        verdict = "PASS" if self.passed else "MISS"
        return (
            f"{verdict}  {self.name:<17} {self.bar.label}: {self.bar.format(self.value)}"
            f"  (bar: {self.bar.describe()})  {self.epochs} epochs in {self.seconds:.1f} s"
            f" on {self.device}"
        )

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-serialisable data."""
        return {
            "name": self.name,
            "metrics": self.metrics,
            "bar": asdict(self.bar),
            "bar_description": self.bar.describe(),
            "value": self.value,
            "passed": self.passed,
            "seconds": self.seconds,
            "epochs": self.epochs,
            "device": self.device,
            "files": self.files,
            "history": self.history,
            "config": self.config,
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
            },
        }


def save_run(
    report: Report,
    out_dir: Path,
    model: nn.Module,
    architecture: str,
    model_config: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    history: History | None = None,
    input_shape: Sequence[int] | None = None,
) -> Report:
    """Write a run's weights, metrics and loss curves, and record them in the report.

    Files written to ``out_dir``:

    - ``model.pt``: ``{"model": state_dict, "architecture": ..., "config": ...,
      "metadata": ...}``, loadable with ``weights_only=True``;
      :func:`practicaltorch.models.load_model` rebuilds the network from it.
    - ``metrics.json``: the report.
    - ``curves.png``: loss and metric curves, if a history is given.

    Parameters
    ----------
    report
        The report to complete; its ``out_dir`` and ``files`` are updated.
    out_dir
        Directory for the files; created if needed.
    model
        The trained network.
    architecture
        Name under which :mod:`practicaltorch.models` can rebuild it.
    model_config
        Keyword arguments that rebuild the architecture.
    metadata
        Anything else needed for inference (class names, feature names,
        normalisation statistics), as plain values.
    history
        The training history, for the curves.
    input_shape
        The shape of one input sample, for example ``[5]`` or ``[1, 28, 28]``;
        saved as ``metadata["input_shape"]`` so exports can build an example.

    Returns
    -------
    Report
        The same report, now listing its files.
    """
    from practicaltorch import plots  # matplotlib is imported only when saving

    out_dir.mkdir(parents=True, exist_ok=True)
    metadata = dict(metadata or {})
    if input_shape is not None:
        metadata["input_shape"] = [int(size) for size in input_shape]
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_checkpoint(
        out_dir / "model.pt",
        model=state,
        architecture=architecture,
        config=model_config,
        metadata=metadata,
        recipe=report.name,
    )
    report.files.append("model.pt")
    if history is not None and len(history):
        fig = plots.plot_history(history)
        fig.savefig(out_dir / "curves.png", dpi=100, bbox_inches="tight")
        plots.close(fig)
        report.files.append("curves.png")
    report.out_dir = out_dir
    report.files.append("metrics.json")
    (out_dir / "metrics.json").write_text(json.dumps(report.to_json(), indent=2))
    return report
