"""Export trained models for use outside Python: TorchScript for FTorch and C++, and ONNX.

A simulation code written in Fortran or C++ cannot import Python classes, so a
model leaves Python as a self-contained file plus a worked example that proves it
still computes the same thing:

- ``model.torchscript.pt`` (TorchScript, loaded by LibTorch in C++ and by FTorch
  in Fortran) or ``model.onnx`` (ONNX, for ONNX Runtime and friends);
- ``example_input.bin`` and ``example_output.bin``: an example batch and the
  output PyTorch computed for it, as raw little-endian float32 in row-major (C)
  order, readable from C++ or Fortran in a few lines;
- ``export.json``: shapes, dtype, byte order, the torch version and the
  tolerance that :func:`verify` and the native test programs use.

Typical use::

    from practicaltorch.export import export_run, verify

    result = export_run("runs/penguins-species")  # TorchScript by default
    check = verify(result.out_dir)  # reloads it in a fresh Python process
    print(check.summary())

TorchScript is deprecated upstream (``torch.jit`` warns that it will go away in
favour of ``torch.export``), but it is still the format LibTorch and FTorch load.
:func:`export_torchscript` silences exactly those ``torch.jit`` deprecation
warnings while it runs and says so once, with a
:class:`TorchScriptDeprecationWarning` and a note in the result.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "DEFAULT_TOLERANCE",
    "FORMATS",
    "ExportError",
    "ExportResult",
    "TorchScriptDeprecationWarning",
    "VerifyResult",
    "example_input_shape",
    "export_onnx",
    "export_run",
    "export_torchscript",
    "load_example",
    "max_relative_error",
    "verify",
]

Format = Literal["torchscript", "onnx"]
FORMATS: tuple[str, ...] = ("torchscript", "onnx")
"""Formats :func:`export_run` writes."""

DEFAULT_TOLERANCE = 1e-5
"""Largest max relative error (see :class:`VerifyResult`) accepted by :func:`verify`."""

MANIFEST = "export.json"
INPUT_FILE = "example_input.bin"
OUTPUT_FILE = "example_output.bin"
MODEL_FILES: dict[str, str] = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}

ONNX_EXTRA_HINT = 'pip install "practicaltorch[onnx]"'

TORCHSCRIPT_NOTE = (
    "TorchScript is deprecated in PyTorch (torch.jit warns about it), but it is still the "
    "format LibTorch and FTorch load, so practicaltorch uses it for Fortran and C++ coupling "
    "and silenced torch.jit's deprecation warnings during the export. If LibTorch or FTorch "
    "drop TorchScript, move to the ONNX export (fmt='onnx')."
)

# torch.jit.script/trace/freeze/save/load each warn "`torch.jit.<name>` is deprecated".
_JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"
_noted_deprecation = False


class ExportError(RuntimeError):
    """A model could not be exported, or the exported file could not be checked."""


class TorchScriptDeprecationWarning(UserWarning):
    """Issued once per process: TorchScript is deprecated upstream but still used for FTorch.

    Silence it with ``warnings.filterwarnings("ignore",
    category=TorchScriptDeprecationWarning)``.
    """


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


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`.

    The error measure is ``max|got - expected| / max|expected|``: the largest
    absolute difference, relative to the largest expected magnitude. Unlike an
    element-wise ratio it does not blow up on outputs that happen to be near zero.

    Attributes
    ----------
    format
        ``"torchscript"`` or ``"onnx"``.
    model_path
        The file that was reloaded.
    max_rel_error
        The error measure above.
    tolerance
        The largest accepted error.
    output_shape
        Shape of the output the reloaded model produced.
    seconds
        Wall time of the check, including starting the fresh Python process.
    """

    format: str
    model_path: Path
    max_rel_error: float
    tolerance: float
    output_shape: tuple[int, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        """Whether the reloaded model reproduced the expected output."""
        return self.max_rel_error <= self.tolerance

    def summary(self) -> str:
        """One line for people, for example ``'PASS torchscript ... 0.0e+00 <= 1e-05'``."""
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}  {self.format} {self.model_path} reloaded in a fresh process: "
            f"max relative error {self.max_rel_error:.2e} (tolerance {self.tolerance:g})"
        )


# --------------------------------------------------------------------------- helpers


def max_relative_error(got: Tensor | np.ndarray, expected: Tensor | np.ndarray) -> float:
    """Return ``max|got - expected| / max|expected|`` (0 when both are all zero).

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
    a = np.asarray(got.detach().cpu() if isinstance(got, Tensor) else got, dtype=np.float64)
    b = np.asarray(
        expected.detach().cpu() if isinstance(expected, Tensor) else expected, dtype=np.float64
    )
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: got {a.shape}, expected {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.abs(b).max()), 1e-30)
    return float(np.abs(a - b).max()) / scale


@contextmanager
def _quiet_torchscript() -> Iterator[None]:
    """Silence only torch.jit's deprecation warnings, and note the deprecation once."""
    global _noted_deprecation
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=FutureWarning)
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=DeprecationWarning)
        yield
    if not _noted_deprecation:
        _noted_deprecation = True
        warnings.warn(TORCHSCRIPT_NOTE, TorchScriptDeprecationWarning, stacklevel=4)


def _prepare(model: nn.Module, example_input: Tensor) -> tuple[nn.Module, Tensor, Tensor]:
    """Copy the model to the CPU in float32 eval mode and compute the reference output."""
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
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}; "
            "pass an input of the shape the model expects (batch first)"
        ) from error
    if not isinstance(y, Tensor):
        raise ExportError(
            f"the model returns {type(y).__name__}, not a single tensor; only single-tensor "
            "outputs can be exported for FTorch (wrap the model to return one tensor)"
        )
    return model, x, y.detach().to(torch.float32).contiguous()


def _write_example(out_dir: Path, x: Tensor, y: Tensor) -> tuple[Path, Path]:
    input_path, output_path = out_dir / INPUT_FILE, out_dir / OUTPUT_FILE
    for path, tensor in ((input_path, x), (output_path, y)):
        tensor.numpy().astype("<f4", copy=False).tofile(path)
    return input_path, output_path


def _write_manifest(
    out_dir: Path,
    fmt: str,
    model_path: Path,
    method: str,
    x: Tensor,
    y: Tensor,
    tolerance: float,
    extra: dict[str, Any],
) -> Path:
    from practicaltorch import __version__

    manifest = {
        "format": fmt,
        "model": model_path.name,
        "method": method,
        "input": {
            "file": INPUT_FILE,
            "shape": list(x.shape),
            "name": "input",
        },
        "output": {
            "file": OUTPUT_FILE,
            "shape": list(y.shape),
            "name": "output",
        },
        "dtype": "float32",
        "byte_order": "little",
        "memory_order": "row-major (C order); in Fortran declare the dimensions reversed",
        "tolerance": tolerance,
        "error_measure": "max|got - expected| / max|expected|",
        "versions": {
            "torch": torch.__version__,
            "practicaltorch": __version__,
            "python": platform.python_version(),
        },
        **extra,
    }
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _emit(log: Callable[[str], None] | None, message: str) -> None:
    if log is not None:
        log(message)


# --------------------------------------------------------------------------- exporters


def export_torchscript(
    model: nn.Module,
    example_input: Tensor,
    out_dir: str | os.PathLike[str],
    *,
    freeze: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    metadata: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Save a model as TorchScript for LibTorch (C++) and FTorch (Fortran).

    The model is copied, put in eval mode, in float32 on the CPU, and compiled
    with :func:`torch.jit.script`; if scripting fails it is traced on
    ``example_input`` instead (tracing records one path through the code, so
    data-dependent branches are frozen). The compiled model must reproduce the
    eager output on the example to ``tolerance`` before anything is written.

    Parameters
    ----------
    model
        The trained network (it is not modified).
    example_input
        A batch the model accepts, batch first, for example ``torch.randn(2, 4)``.
    out_dir
        Folder for the files; created if needed.
    freeze
        Apply :func:`torch.jit.freeze`: weights become constants and simple
        optimisations (such as folding batch norm into convolutions) are applied.
        Right for inference; pass ``False`` to keep parameters, for example to
        fine-tune from Fortran with FTorch's autograd.
    tolerance
        Largest accepted max relative error, recorded in ``export.json``.
    metadata
        Extra JSON-serialisable facts to record in ``export.json``.
    log
        Called with notes for people (the TorchScript deprecation note).

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        If the model cannot run on the example, cannot be scripted nor traced,
        or the compiled model does not reproduce the eager output.

    Warns
    -----
    TorchScriptDeprecationWarning
        Once per process (torch's own TorchScript deprecation warnings are
        silenced during the export).

    Examples
    --------
    >>> import tempfile, warnings
    >>> from practicaltorch.models import MLP
    >>> with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", TorchScriptDeprecationWarning)
    ...     export_torchscript(MLP(4, 3, hidden=(8,)), torch.zeros(2, 4), tmp).output_shape
    (2, 3)
    """
    out = Path(out_dir)
    model, x, y = _prepare(model, example_input)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / MODEL_FILES["torchscript"]
    with _quiet_torchscript():
        compiled: torch.jit.ScriptModule
        method = "script"
        try:
            compiled = torch.jit.script(model)
        except Exception as script_error:
            method = "trace"
            try:
                with torch.no_grad():
                    compiled = torch.jit.trace(model, (x,), check_trace=True)
            except Exception as trace_error:
                raise ExportError(
                    f"cannot convert {type(model).__name__} to TorchScript: scripting failed "
                    f"({_first_line(script_error)}) and tracing on an input of shape "
                    f"{list(x.shape)} failed too ({_first_line(trace_error)}). Make forward() "
                    "use only tensor operations, or try fmt='onnx'"
                ) from trace_error
        if freeze:
            compiled = torch.jit.freeze(compiled.eval())
        with torch.no_grad():
            got = compiled(x)
        if not isinstance(got, Tensor):
            raise ExportError(f"the TorchScript model returns {type(got).__name__}, not a tensor")
        error = max_relative_error(got, y)
        if not error <= tolerance:
            raise ExportError(
                f"the TorchScript model ({method}) differs from the original by a max relative "
                f"error of {error:.2e} > {tolerance:g}; "
                + (
                    "tracing froze a data-dependent branch: make forward() scriptable"
                    if method == "trace"
                    else "try freeze=False"
                )
            )
        compiled.save(str(model_path))
    input_path, output_path = _write_example(out, x, y)
    manifest = _write_manifest(
        out,
        "torchscript",
        model_path,
        method,
        x,
        y,
        tolerance,
        {"frozen": freeze, **(metadata or {})},
    )
    _emit(log, f"note: {TORCHSCRIPT_NOTE}")
    return ExportResult(
        "torchscript",
        out,
        model_path,
        input_path,
        output_path,
        manifest,
        tuple(x.shape),
        tuple(y.shape),
        method,
        [TORCHSCRIPT_NOTE],
    )


def _require_onnx() -> None:
    """Import the ONNX exporter's dependencies, or say which extra installs them."""
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"the ONNX export needs {', '.join(missing)}, which are not installed; "
            f"install them with: {ONNX_EXTRA_HINT}"
        )


def export_onnx(
    model: nn.Module,
    example_input: Tensor,
    out_dir: str | os.PathLike[str],
    *,
    dynamic_batch: bool = True,
    opset_version: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    metadata: dict[str, Any] | None = None,
) -> ExportResult:
    """Save a model as ONNX with the ``torch.export``-based (dynamo) exporter.

    The exported graph is run once with ONNX Runtime on the example and must
    reproduce PyTorch's output to ``tolerance`` before this returns. Needs the
    ``onnx`` extra (``onnx``, ``onnxscript`` and ``onnxruntime``).

    Parameters
    ----------
    model
        The trained network (it is not modified).
    example_input
        A batch the model accepts, batch first.
    out_dir
        Folder for the files; created if needed.
    dynamic_batch
        Let the batch dimension vary (the input is named ``input``, its first
        axis ``batch``). Needs an example batch of at least 2.
    opset_version
        ONNX opset; ``None`` uses the exporter's default.
    tolerance
        Largest accepted max relative error, recorded in ``export.json``.
    metadata
        Extra JSON-serialisable facts to record in ``export.json``.

    Returns
    -------
    ExportResult

    Raises
    ------
    ImportError
        If ``onnx``, ``onnxscript`` or ``onnxruntime`` is missing.
    ExportError
        If the exporter fails or ONNX Runtime disagrees with PyTorch.
    """
    _require_onnx()
    out = Path(out_dir)
    model, x, y = _prepare(model, example_input)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / MODEL_FILES["onnx"]
    dynamic = dynamic_batch and x.dim() > 0 and x.shape[0] > 1
    dynamic_shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    try:
        program = torch.onnx.export(
            model,
            (x,),
            None,
            dynamo=True,
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=dynamic_shapes,
            opset_version=opset_version,
            verbose=False,
        )
    except Exception as error:
        raise ExportError(
            f"torch.onnx.export failed for {type(model).__name__} on an input of shape "
            f"{list(x.shape)}: {_first_line(error)}"
        ) from error
    if program is None:  # pragma: no cover - only the legacy exporter returns None
        raise ExportError("torch.onnx.export returned no program")
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    for stale in (model_path, model_path.with_name(model_path.name + ".data")):
        stale.unlink(missing_ok=True)
    # One self-contained file unless the weights exceed protobuf's 2 GB limit.
    program.save(str(model_path), external_data=size > 1_500_000_000)
    mismatch = _onnxruntime_error(model_path, x, y)
    if not mismatch <= tolerance:
        raise ExportError(
            f"ONNX Runtime differs from PyTorch by a max relative error of {mismatch:.2e} > "
            f"{tolerance:g} on {model_path}"
        )
    input_path, output_path = _write_example(out, x, y)
    manifest = _write_manifest(
        out,
        "onnx",
        model_path,
        "dynamo",
        x,
        y,
        tolerance,
        {"dynamic_batch": bool(dynamic), **(metadata or {})},
    )
    notes = [] if dynamic or not dynamic_batch else ["batch of 1: exported with a fixed batch"]
    return ExportResult(
        "onnx",
        out,
        model_path,
        input_path,
        output_path,
        manifest,
        tuple(x.shape),
        tuple(y.shape),
        "dynamo",
        notes,
    )


def _onnxruntime_error(path: Path, x: Tensor, y: Tensor) -> float:
    onnxruntime: Any = importlib.import_module("onnxruntime")  # untyped; imported lazily
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (got,) = session.run(None, {name: x.numpy()})[:1]
    return max_relative_error(np.asarray(got), y)


# --------------------------------------------------------------------------- run dirs


def example_input_shape(
    architecture: str, config: dict[str, Any], metadata: dict[str, Any] | None = None
) -> tuple[int, ...]:
    """Return the shape of one input sample (no batch dimension) for a saved model.

    ``metadata["input_shape"]`` wins when a recipe recorded it; otherwise the
    shape follows from the architecture and its configuration.

    Parameters
    ----------
    architecture
        The class name saved in ``model.pt``, for example ``"MLP"``.
    config
        The model's configuration saved with it.
    metadata
        The run's metadata, if any.

    Returns
    -------
    tuple of int

    Raises
    ------
    ExportError
        If the shape cannot be worked out.

    Examples
    --------
    >>> example_input_shape("MLP", {"in_features": 4, "out_features": 3})
    (4,)
    >>> example_input_shape("DigitCNN", {"in_channels": 1, "image_size": 28})
    (1, 28, 28)
    >>> example_input_shape("MLP", {}, {"input_shape": [5]})
    (5,)
    """
    recorded = (metadata or {}).get("input_shape")
    if recorded is not None:
        try:
            shape = tuple(int(size) for size in recorded)
        except (TypeError, ValueError) as error:
            raise ExportError(
                f"metadata input_shape {recorded!r} is not a list of sizes"
            ) from error
        if not shape or any(size < 1 for size in shape):
            raise ExportError(f"metadata input_shape {recorded!r} must be positive sizes")
        return shape
    try:
        if architecture == "MLP":
            return (int(config["in_features"]),)
        if architecture == "DigitCNN":
            side = int(config.get("image_size", 28))
            return (int(config.get("in_channels", 1)), side, side)
        if architecture == "EllipseCNN":
            side = int(config.get("size", 128))
            return (3, side, side)
        if architecture == "TransferNet":
            return (3, 224, 224)
    except (KeyError, TypeError, ValueError) as error:
        raise ExportError(
            f"cannot work out the input shape of {architecture} from its config {config}: "
            f"{_first_line(error)}; pass input_shape=..."
        ) from error
    raise ExportError(
        f"do not know the input shape of a {architecture!r}; pass input_shape=(...) "
        "(one sample, without the batch dimension)"
    )


def export_run(
    run_dir: str | os.PathLike[str],
    fmt: str = "torchscript",
    out_dir: str | os.PathLike[str] | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    batch_size: int = 2,
    seed: int = 0,
    freeze: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export the model of a recipe's run directory.

    Parameters
    ----------
    run_dir
        A folder written by a recipe (holding ``model.pt``), or the ``model.pt``
        file itself.
    fmt
        ``"torchscript"`` (for FTorch and LibTorch) or ``"onnx"``.
    out_dir
        Where to write; defaults to ``<run_dir>/export/<fmt>``.
    input_shape
        Shape of one sample, without the batch dimension. Defaults to the run's
        recorded ``input_shape``, else what the architecture implies.
    batch_size
        Samples in the example batch.
    seed
        Seed of the random example batch (standard normal values).
    freeze
        Freeze the TorchScript model (see :func:`export_torchscript`).
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

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {list(FORMATS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if fmt == "onnx":
        _require_onnx()  # fail before loading anything
    source = Path(run_dir)
    model, info = load_model(source)
    run_folder = source if source.is_dir() else source.parent
    architecture = str(info["architecture"])
    metadata = info.get("metadata") or {}
    if input_shape is not None:
        sample = tuple(int(size) for size in input_shape)
    else:
        sample = example_input_shape(architecture, info["config"], metadata)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((batch_size, *sample), generator=generator)
    target = Path(out_dir) if out_dir is not None else run_folder / "export" / fmt
    facts = {
        "architecture": architecture,
        "recipe": info.get("recipe"),
        "source": str(source),
        "example": f"standard normal, seed {seed}",
    }
    if fmt == "torchscript":
        result = export_torchscript(
            model, x, target, freeze=freeze, tolerance=tolerance, metadata=facts, log=log
        )
    else:
        result = export_onnx(model, x, target, tolerance=tolerance, metadata=facts)
        for note in result.notes:
            _emit(log, f"note: {note}")
    _emit(log, result.summary())
    return result


# --------------------------------------------------------------------------- checking


def _locate(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """Find ``export.json`` for an export folder or an exported model file."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    manifest_path = folder / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"nothing to verify at {path}; export a model first")
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"no {MANIFEST} in {folder}: verify() needs a folder written by "
            "practicaltorch.export (it holds the example input and expected output)"
        )
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    return folder, manifest


def load_example(path: str | os.PathLike[str]) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Read an export's example input, expected output and manifest.

    Parameters
    ----------
    path
        An export folder, or a model file inside one.

    Returns
    -------
    example_input : torch.Tensor
    expected_output : torch.Tensor
    manifest : dict
        The contents of ``export.json``.
    """
    folder, manifest = _locate(path)
    tensors = []
    for key in ("input", "output"):
        entry = manifest[key]
        values = np.fromfile(folder / entry["file"], dtype="<f4")
        shape = tuple(entry["shape"])
        if values.size != math.prod(shape):
            raise ExportError(
                f"{folder / entry['file']} holds {values.size} values, but {MANIFEST} says "
                f"shape {list(shape)}"
            )
        tensors.append(torch.from_numpy(values.astype(np.float32).reshape(shape)))
    return tensors[0], tensors[1], manifest


# Run in a fresh interpreter that never imports practicaltorch: the file must
# stand on its own. Prints one JSON line.
_CHILD = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np

    fmt, model_path, input_path, output_path, in_shape, out_shape = sys.argv[1:7]
    x = np.fromfile(input_path, dtype="<f4").astype(np.float32).reshape(json.loads(in_shape))
    expected = np.fromfile(output_path, dtype="<f4").reshape(json.loads(out_shape))
    if fmt == "torchscript":
        import torch
        torch.set_num_threads(1)
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"`torch\\.jit\\.\\w+` is deprecated", category=FutureWarning
            )
            model = torch.jit.load(model_path, map_location="cpu")
        model.eval()
        with torch.no_grad():
            got = model(torch.from_numpy(x)).numpy()
    else:
        import onnxruntime
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            model_path, options, providers=["CPUExecutionProvider"]
        )
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        sys.exit(f"the reloaded model gave shape {list(got.shape)}, not {list(expected.shape)}")
    scale = max(float(np.abs(expected).max()), 1e-30) if expected.size else 1.0
    error = float(np.abs(got - expected).max()) / scale if expected.size else 0.0
    print(json.dumps({"max_rel_error": error, "output_shape": list(got.shape)}))
    """
)


def verify(
    path: str | os.PathLike[str],
    *,
    tolerance: float | None = None,
    timeout: float = 300.0,
    log: Callable[[str], None] | None = None,
) -> VerifyResult:
    """Reload an exported model in a fresh Python process and check its output.

    The new process imports only torch (or onnxruntime) and numpy, never
    practicaltorch, so this proves the file does not depend on our classes. It
    runs the saved example input and compares with the saved expected output.

    Parameters
    ----------
    path
        An export folder (holding ``export.json``), or the model file in it.
    tolerance
        Largest accepted max relative error; defaults to the one in
        ``export.json`` (``1e-5``).
    timeout
        Seconds to wait for the process.
    log
        Called with the one-line summary.

    Returns
    -------
    VerifyResult
        Check ``.passed``; ``.max_rel_error`` is the measured error.

    Raises
    ------
    FileNotFoundError
        If there is no export at ``path``.
    ImportError
        For an ONNX export without the ``onnx`` extra.
    ExportError
        If the fresh process cannot load or run the model.
    """
    folder, manifest = _locate(path)
    fmt = str(manifest.get("format"))
    if fmt not in FORMATS:
        raise ExportError(f"{folder / MANIFEST} names an unknown format {fmt!r}")
    if fmt == "onnx":
        _require_onnx()
    model_path = folder / str(manifest["model"])
    if not model_path.is_file():
        raise FileNotFoundError(f"{MANIFEST} names {model_path}, which does not exist")
    limit = float(manifest.get("tolerance", DEFAULT_TOLERANCE)) if tolerance is None else tolerance
    command = [
        sys.executable,
        "-c",
        _CHILD,
        fmt,
        str(model_path),
        str(folder / manifest["input"]["file"]),
        str(folder / manifest["output"]["file"]),
        json.dumps(manifest["input"]["shape"]),
        json.dumps(manifest["output"]["shape"]),
    ]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise ExportError(f"reloading {model_path} took longer than {timeout:g} s") from error
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise ExportError(f"a fresh Python process could not run {model_path}:\n{tail}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    result = VerifyResult(
        fmt,
        model_path,
        float(report["max_rel_error"]),
        limit,
        tuple(report["output_shape"]),
        seconds,
    )
    _emit(log, result.summary())
    return result
