"""What every recipe shares: the quality bar, the report, the opening and saving results.

A recipe is one lesson's reference solution as a module with a ``NAME``, a
quality bar ``BAR``, a ``Config`` dataclass of settings and
``run(config, out_dir=None) -> Report`` (the :class:`Recipe` protocol). Recipes
compose the data, model and training building blocks; the CLI only parses
arguments and calls them.

Every recipe opens with :func:`begin` (check the settings and the output folder,
seed, choose the device) and ends with :func:`save_run`, which writes each file
atomically and ``metrics.json`` last, so a folder with ``metrics.json`` holds one
finished run and nothing else. This module does not import PyTorch itself, so the
registry in :mod:`practicaltorch.recipes` stays light.
"""

from __future__ import annotations

import errno
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from practicaltorch.runs import (
    atomic_file,
    check_writable,
    is_finished,
    save_atomic,
    write_json_atomic,
)

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure
    from torch import nn

    from practicaltorch.training import History

__all__ = [
    "Bar",
    "Log",
    "Recipe",
    "RecipeConfig",
    "Report",
    "Settings",
    "begin",
    "check_out_dir",
    "resolve_epochs",
    "save_figure",
    "save_run",
]


Log: TypeAlias = Callable[[str], None] | None
"""A function that prints one line (for example ``print``), or ``None`` for silence."""


class RecipeConfig(Protocol):
    """The settings every recipe's ``Config`` has (the command line sets them)."""

    seed: int
    epochs: int | None
    device: str | None
    quick: bool


@dataclass
class Settings:
    """The settings every recipe has; each recipe's ``Config`` adds its own.

    Attributes
    ----------
    seed
        Seeds the weights and the order of the batches.
    epochs
        Passes over the training data; ``None`` for the recipe's default.
    device
        ``"cpu"``, ``"cuda"``, ``"mps"``, or ``None`` for the best available.
    quick
        A smoke test of a few seconds on less data or fewer epochs; it is not
        expected to reach the quality bar.
    """

    seed: int = 0
    epochs: int | None = None
    device: str | None = None
    quick: bool = False


class Recipe(Protocol):
    """What a recipe module provides; :func:`practicaltorch.recipes.get_recipe` returns one.

    Its ``run(config, out_dir=None, *, progress=None, log=None)`` trains and
    evaluates with ``config`` (a ``Config``) and returns a :class:`Report`. With
    ``out_dir``, the weights (``model.pt``), ``metrics.json``, the loss curves and
    the recipe's figures are written there (see :func:`save_run`). ``progress``
    shows a progress bar (``None``: only in a terminal); ``log`` is called with a
    line per epoch.
    """

    NAME: str
    BAR: Bar
    Config: type[Any]

    def run(
        self,
        config: Any,
        out_dir: Path | None = None,
        *,
        progress: bool | None = None,
        log: Log = None,
    ) -> Report:
        """Train and evaluate with ``config``; write results to ``out_dir`` if given."""
        ...


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
    detail
        Figures behind the bar that people should see beside it, if any.
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
    detail: str = ""

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
            f" on {self.device}" + (f"\n      {self.detail}" if self.detail else "")
        )

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-serialisable data."""
        return {
            "name": self.name,
            "metrics": self.metrics,
            "bar": asdict(self.bar),
            "bar_description": self.bar.describe(),
            "detail": self.detail,
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
                "torch": _torch_version(),
            },
        }


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def resolve_epochs(epochs: int | None, default: int) -> int:
    """Return the number of epochs to train: ``epochs``, or ``default`` when it is ``None``.

    Parameters
    ----------
    epochs
        The user's choice; ``None`` for the recipe's default.
    default
        The recipe's default (which may depend on quick mode).

    Returns
    -------
    int
        At least 1.

    Raises
    ------
    ValueError
        If ``epochs`` is 0 or negative (never silently replaced by the default).

    Examples
    --------
    >>> resolve_epochs(None, 3), resolve_epochs(7, 3)
    (3, 7)
    >>> resolve_epochs(0, 3)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be at least 1, got 0
    """
    if epochs is None:
        return default
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs!r}")
    return epochs


def check_out_dir(out_dir: Path) -> Path:
    """Check, before any training, that a run's results can be written to ``out_dir``.

    The folder is created if needed and returned. A :class:`FileExistsError` says
    it already holds a finished run or an export (results are never replaced);
    any other :class:`OSError` that it cannot be written to (see
    :func:`practicaltorch.runs.describe_os_error`).
    """
    check_writable(out_dir)
    if is_finished(out_dir) or (out_dir / "export").exists():
        raise FileExistsError(
            errno.EEXIST,
            "already holds a finished run, which is never replaced; choose a new folder "
            "(`practicaltorch run` numbers them for you: OUT/NAME/1, 2, ...)",
            str(out_dir),
        )
    return out_dir


def begin(
    config: RecipeConfig, default_epochs: int, out_dir: Path | None = None
) -> tuple[torch.device, int]:
    """Open a recipe's run: check the settings and the output folder, seed, pick the device.

    Everything that can be wrong with the settings or the output folder is
    reported here, before any data is loaded or any training starts.

    Parameters
    ----------
    config
        The recipe's settings.
    default_epochs
        Epochs to train when ``config.epochs`` is ``None``.
    out_dir
        Where results will be written, or ``None``.

    Returns
    -------
    device : torch.device
        From ``config.device`` (``None``: the best available).
    epochs : int
        The number of epochs to train.
    """
    from practicaltorch.devices import pick_device, seed_everything

    epochs = resolve_epochs(config.epochs, default_epochs)
    device = pick_device(config.device)
    if out_dir is not None:
        check_out_dir(out_dir)
    seed_everything(config.seed)
    return device, epochs


def save_figure(figure: Figure, out_dir: Path, name: str, report: Report) -> None:
    """Write a figure as a PNG file atomically, close it, and list it in the report.

    The figure is saved as laid out (the plotting functions call ``tight_layout``):
    ``bbox_inches="tight"`` would draw it a second time just to crop it.

    Parameters
    ----------
    figure
        A matplotlib figure.
    out_dir
        The run folder.
    name
        File name, for example ``"confusion_matrix.png"``.
    report
        Its ``files`` gets ``name``.
    """
    from practicaltorch import plots

    with atomic_file(out_dir / name) as handle:
        figure.savefig(handle, format="png", dpi=100)
    plots.close(figure)
    report.files.append(name)


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

    Each file is written atomically, ``metrics.json`` last. Files written to ``out_dir``:

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
        Directory for the files; created if needed. It must not hold a finished run.
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

    Raises
    ------
    FileExistsError
        If ``out_dir`` already holds a finished run.
    OSError
        If a file cannot be written (a full disk, permissions); earlier files are intact.
    """
    from practicaltorch import plots  # matplotlib is imported only when saving

    check_out_dir(out_dir)
    metadata = dict(metadata or {})
    if input_shape is not None:
        metadata["input_shape"] = [int(size) for size in input_shape]
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    weights = {
        "model": state,
        "architecture": architecture,
        "config": model_config,
        "metadata": metadata,
        "recipe": report.name,
    }
    save_atomic(weights, out_dir / "model.pt")
    report.files.append("model.pt")
    if history is not None and len(history):
        save_figure(plots.plot_history(history), out_dir, "curves.png", report)
    report.out_dir = out_dir
    report.files.append("metrics.json")
    write_json_atomic(out_dir / "metrics.json", report.to_json())  # last: marks it finished
    return report
