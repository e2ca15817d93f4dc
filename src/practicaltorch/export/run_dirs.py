"""Export the model of a recipe's run folder, in physical units, with a worked example."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from practicaltorch.export.common import DEFAULT_TOLERANCE, FORMATS, ExportError, ExportResult
from practicaltorch.export.onnx_format import export_onnx, require_onnx
from practicaltorch.export.scaling import PhysicalUnits, Values
from practicaltorch.export.torchscript import export_torchscript

__all__ = ["example_input_shape", "export_run"]

_DIMS = {2: ["batch", "feature"], 4: ["batch", "channel", "row", "column"]}
_OUT_DIMS = ["batch", "output"]


def example_input_shape(
    model: nn.Module, metadata: dict[str, Any] | None = None
) -> tuple[int, ...]:
    """Return the shape of one input sample (no batch dimension) for a saved model.

    The run's recorded ``metadata["input_shape"]`` wins; otherwise the model's own
    ``input_shape`` attribute, which the course's models state.

    Parameters
    ----------
    model
        The rebuilt network.
    metadata
        The run's metadata, if any.

    Returns
    -------
    tuple of int

    Raises
    ------
    ExportError
        If neither says, or the recorded shape is not a list of positive sizes.

    Examples
    --------
    >>> example_input_shape(nn.Linear(4, 2), {"input_shape": [4]})
    (4,)
    """
    recorded = (metadata or {}).get("input_shape", getattr(model, "input_shape", None))
    if recorded is None:
        raise ExportError(
            f"the run does not record the input shape of its {type(model).__name__}; pass "
            "input_shape=(...) (one sample, without the batch dimension)"
        )
    try:
        shape = tuple(int(size) for size in recorded)
    except (TypeError, ValueError) as error:
        raise ExportError(f"input_shape {recorded!r} is not a list of sizes") from error
    if not shape or any(size < 1 for size in shape):
        raise ExportError(f"input_shape {recorded!r} must be positive sizes")
    return shape


def _side(side: str, values: Values | None, rank: int, built_in: bool) -> dict[str, Any]:
    """Describe one side for the manifest: axis names, value names and units, the scaling."""
    default = ["batch", *(f"dim{i}" for i in range(1, rank))]
    entry: dict[str, Any] = {"dims": _DIMS.get(rank, default) if side == "input" else _OUT_DIMS}
    if values is None:
        entry["scaling"] = "none recorded: values as the network was trained on"
        return entry
    entry.update(values.manifest())
    entry["scaling"] = (
        "built into the model: physical units" if built_in else "not built in: scaled values"
    )
    if not built_in:
        entry["offset"], entry["scale"] = values.offset, values.scale
    return entry


def export_run(
    run_dir: str | os.PathLike[str],
    fmt: str = "torchscript",
    out_dir: str | os.PathLike[str] | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    batch_size: int = 2,
    seed: int = 0,
    freeze: bool = True,
    physical_units: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export the model of a recipe's run folder.

    When the run records how its inputs and outputs were scaled (metadata
    ``"inputs"`` and ``"outputs"``, see :mod:`practicaltorch.export.scaling`), the
    exported model carries that scaling: a caller passes physical units (mm, g,
    pixel values) and gets physical units back, and ``export.json`` lists the
    names and units in order.

    Parameters
    ----------
    run_dir
        A run folder (holding ``model.pt``), a recipe folder (its newest finished
        run), or the ``model.pt`` file itself.
    fmt
        ``"torchscript"`` (for FTorch and LibTorch) or ``"onnx"``.
    out_dir
        Where to write; defaults to ``<run folder>/export/<fmt>``.
    input_shape
        Shape of one sample, without the batch dimension. Defaults to the run's
        recorded ``input_shape``, else the model's ``input_shape``.
    batch_size
        Samples in the example batch.
    seed
        Seed of the random example batch: standard normal in the network's
        scaled units, that is ``offset + scale * z`` in physical units.
    freeze
        Freeze the TorchScript model (see :func:`export_torchscript`).
    physical_units
        Build the recorded scaling into the model (``False`` exports the bare
        network, which takes scaled values).
    tolerance
        Largest accepted max relative error.
    log
        Called with notes for people.

    Returns
    -------
    ExportResult

    Raises
    ------
    FileNotFoundError
        If there is no ``model.pt`` (train a model first).
    ValueError
        If ``fmt`` is unknown, or the weights do not fit the saved architecture.
    ExportError
        If the model cannot be exported (see :func:`export_torchscript`).
    ImportError
        For ``fmt="onnx"`` without the ``onnx`` extra.
    """
    from practicaltorch.models import load_model
    from practicaltorch.runs import resolve_run_dir

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {list(FORMATS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if fmt == "onnx":
        require_onnx()  # fail before loading anything
    source = Path(run_dir)
    weights_file = source.suffix == ".pt"  # the model.pt file itself, rather than a folder
    folder = source.parent if weights_file else resolve_run_dir(source)
    network, info = load_model(source if weights_file else folder)
    metadata = info.get("metadata") or {}
    sample = (
        tuple(int(s) for s in input_shape)
        if input_shape is not None
        else example_input_shape(network, metadata)
    )
    try:
        inputs = Values.from_metadata(metadata.get("inputs"))
        outputs = Values.from_metadata(metadata.get("outputs"))
    except (KeyError, TypeError, ValueError) as error:
        raise ExportError(f"the run's recorded scaling is unusable: {error}") from error
    if physical_units and inputs is not None and sample[0] != len(inputs.names):
        raise ExportError(
            f"input_shape {list(sample)} does not fit the run's {len(inputs.names)} inputs "
            f"({', '.join(inputs.names)}) along the first axis"
        )
    rank = len(sample) + 1
    z = torch.randn((batch_size, *sample), generator=torch.Generator().manual_seed(seed))
    model: nn.Module = network
    x = z
    if physical_units and (inputs or outputs):
        wrapped = PhysicalUnits(network, inputs, outputs, rank)
        model, x = wrapped, wrapped.physical_input(z)
    built_in = model is not network
    facts = {
        "architecture": str(info["architecture"]),
        "recipe": info.get("recipe"),
        "source": str(source),
        "example": f"standard normal in the network's scaled units, seed {seed}",
        "input": _side("input", inputs, rank, built_in),
        "output": _side("output", outputs, 2, built_in),
    }
    target = Path(out_dir) if out_dir is not None else folder / "export" / fmt
    if fmt == "torchscript":
        result = export_torchscript(
            model, x, target, freeze=freeze, tolerance=tolerance, metadata=facts, log=log
        )
    else:
        result = export_onnx(model, x, target, tolerance=tolerance, metadata=facts)
        for note in result.notes:
            if log is not None:
                log(f"note: {note}")
    if log is not None:
        log(result.summary())
    return result
