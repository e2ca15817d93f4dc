"""What every export shares: file names, the manifest, the example files and the error measure."""

from __future__ import annotations

import copy
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.runs import write_atomic, write_json_atomic

__all__ = [
    "DEFAULT_TOLERANCE",
    "FORMATS",
    "INPUT_FILE",
    "MANIFEST",
    "MODEL_FILES",
    "OUTPUT_FILE",
    "ExportError",
    "ExportResult",
    "max_relative_error",
]

FORMATS: tuple[str, ...] = ("torchscript", "onnx")
"""Formats :func:`~practicaltorch.export.export_run` writes."""

DEFAULT_TOLERANCE = 1e-5
"""Largest max relative error accepted by :func:`~practicaltorch.export.verify`."""

MANIFEST = "export.json"
INPUT_FILE = "example_input.bin"
OUTPUT_FILE = "example_output.bin"
MODEL_FILES: dict[str, str] = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}
ERROR_MEASURE = "max|got - expected| / max|expected|"


class ExportError(RuntimeError):
    """A model could not be exported, or the exported file could not be checked."""


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes
    ----------
    format
        ``"torchscript"`` or ``"onnx"``.
    out_dir
        The folder holding all the files below.
    model_path
        The exported model file.
    input_path, output_path
        The example input and the output PyTorch computed for it (raw float32).
    manifest_path
        ``export.json``, describing the files.
    input_shape, output_shape
        Shapes of the example input and output, batch first.
    method
        How the graph was captured: ``"script"``, ``"trace"`` or ``"dynamo"``.
    notes
        Things the user should know (for example the TorchScript deprecation).
    """

    format: str
    out_dir: Path
    model_path: Path
    input_path: Path
    output_path: Path
    manifest_path: Path
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    method: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people: the file written and its shapes."""
        return (
            f"exported {self.format} ({self.method}) to {self.model_path}: "
            f"input {list(self.input_shape)} -> output {list(self.output_shape)}"
        )


def max_relative_error(got: Tensor | np.ndarray, expected: Tensor | np.ndarray) -> float:
    """Return ``max|got - expected| / max|expected|`` (0 when both are empty).

    Unlike an element-wise ratio it does not blow up on outputs near zero.

    Parameters
    ----------
    got, expected
        Arrays of the same shape.

    Returns
    -------
    float

    Examples
    --------
    >>> max_relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    0.2
    """
    a, b = (
        np.asarray(v.detach().cpu() if isinstance(v, Tensor) else v, dtype=np.float64)
        for v in (got, expected)
    )
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: got {a.shape}, expected {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-30)


def first_line(error: BaseException) -> str:
    """``"TypeName: first line of the message"``, for short error messages."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def prepare(model: nn.Module, example_input: Tensor) -> tuple[nn.Module, Tensor, Tensor]:
    """Copy the model to the CPU in float32 eval mode and compute the reference output.

    Raises
    ------
    TypeError
        If ``model`` is not a module or ``example_input`` not a tensor.
    ExportError
        If the model cannot run on the example or does not return one tensor.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, Tensor):
        raise TypeError(f"example_input must be a tensor, got {type(example_input).__name__}")
    if not example_input.is_floating_point():
        raise ExportError(
            f"example_input must hold floating-point values, got {example_input.dtype}"
        )
    model = copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()
    x = example_input.detach().to(device="cpu", dtype=torch.float32).contiguous()
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as error:
        raise ExportError(
            f"the model cannot run on an example input of shape {list(x.shape)}: "
            f"{first_line(error)}; pass an input of the shape the model expects (batch first)"
        ) from error
    if not isinstance(y, Tensor):
        raise ExportError(
            f"the model returns {type(y).__name__}, not a single tensor; only single-tensor "
            "outputs can be exported for FTorch (wrap the model to return one tensor)"
        )
    return model, x, y.detach().to(torch.float32).contiguous()


def write_example(out_dir: Path, x: Tensor, y: Tensor) -> tuple[Path, Path]:
    """Write the example input and output as raw little-endian float32 in C order."""
    paths = out_dir / INPUT_FILE, out_dir / OUTPUT_FILE
    for path, tensor in zip(paths, (x, y), strict=True):
        write_atomic(path, tensor.numpy().astype("<f4", copy=False).tobytes())
    return paths


def write_manifest(result: ExportResult, tolerance: float, extra: dict[str, Any]) -> None:
    """Write ``result``'s ``export.json``: files, shapes, byte layout, tolerance and versions.

    ``extra`` is merged in; its ``"input"`` and ``"output"`` entries (names and
    units of the values) extend the generated ones.
    """
    from practicaltorch import __version__

    extra = dict(extra)
    manifest: dict[str, Any] = {
        "format": result.format,
        "model": result.model_path.name,
        "method": result.method,
        "input": {"file": INPUT_FILE, "shape": list(result.input_shape), **extra.pop("input", {})},
        "output": {
            "file": OUTPUT_FILE,
            "shape": list(result.output_shape),
            **extra.pop("output", {}),
        },
        "dtype": "float32",
        "byte_order": "little",
        "memory_order": "row-major (C order): the last index varies fastest",
        "tolerance": tolerance,
        "error_measure": ERROR_MEASURE,
        "versions": {
            "torch": torch.__version__,
            "practicaltorch": __version__,
            "python": platform.python_version(),
        },
        **extra,
    }
    write_json_atomic(result.manifest_path, manifest)


def finish(
    out_dir: Path,
    fmt: str,
    method: str,
    example: tuple[Tensor, Tensor],
    tolerance: float,
    extra: dict[str, Any],
    notes: list[str],
) -> ExportResult:
    """Write the example and ``export.json`` beside a checked model file; describe the export."""
    x, y = example
    input_path, output_path = write_example(out_dir, x, y)
    model_path, manifest_path = out_dir / MODEL_FILES[fmt], out_dir / MANIFEST
    files = (model_path, input_path, output_path, manifest_path)
    result = ExportResult(fmt, out_dir, *files, tuple(x.shape), tuple(y.shape), method, notes)
    write_manifest(result, tolerance, extra)
    return result
