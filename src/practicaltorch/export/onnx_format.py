"""ONNX export through ``torch.export``, checked with ONNX Runtime before it returns."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.export import common
from practicaltorch.export.common import DEFAULT_TOLERANCE, ExportError, ExportResult

__all__ = ["ONNX_EXTRA_HINT", "export_onnx", "require_onnx"]

ONNX_EXTRA_HINT = 'pip install "practicaltorch[onnx]"'
_EXTERNAL_DATA_BYTES = 1_500_000_000  # protobuf files stop at 2 GB


def require_onnx() -> None:
    """Import the ONNX exporter's dependencies, or say which extra installs them.

    Raises
    ------
    ImportError
        Naming the missing packages and the install command.
    """
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
    program: torch.export.ExportedProgram | None = None,
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
    program
        ``model`` already captured by :func:`torch.export.export` (on the CPU, in
        float32); it is converted as it is instead of capturing ``model`` again.
        Its own shapes then apply, so ``dynamic_batch`` is not used: export it with
        ``dynamic_shapes=({0: torch.export.Dim("batch")},)`` for a batch that can
        vary. ``model`` still computes the reference output the file must match.

    Returns
    -------
    ExportResult

    Raises
    ------
    ImportError
        If ``onnx``, ``onnxscript`` or ``onnxruntime`` is missing.
    TypeError
        If ``program`` is not an :class:`torch.export.ExportedProgram`.
    ExportError
        If the exporter fails or ONNX Runtime disagrees with PyTorch.
    """
    require_onnx()
    if program is not None and not isinstance(program, torch.export.ExportedProgram):
        raise TypeError(f"program must come from torch.export.export, got {type(program).__name__}")
    out = Path(out_dir)
    model, x, y = common.prepare(model, example_input)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / common.MODEL_FILES["onnx"]
    if program is None:
        dynamic = dynamic_batch and x.dim() > 0 and x.shape[0] > 1
    else:
        dynamic = _has_dynamic_batch(program)
    try:
        onnx_program = torch.onnx.export(
            model if program is None else program,
            (x,),
            None,
            dynamo=True,
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=({0: torch.export.Dim("batch")},)
            if dynamic and program is None
            else None,
            opset_version=opset_version,
            verbose=False,
        )
    except Exception as error:
        raise ExportError(
            f"torch.onnx.export failed for {type(model).__name__} on an input of shape "
            f"{list(x.shape)}: {common.first_line(error)}"
        ) from error
    if onnx_program is None:  # pragma: no cover - only the legacy exporter returns None
        raise ExportError("torch.onnx.export returned no program")
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    _save(onnx_program, model_path, weight_bytes)
    mismatch = _onnxruntime_error(model_path, x, y)
    if not mismatch <= tolerance:
        raise ExportError(
            f"ONNX Runtime differs from PyTorch by a max relative error of {mismatch:.2e} > "
            f"{tolerance:g} on {model_path}"
        )
    facts = {"dynamic_batch": bool(dynamic), **(metadata or {})}
    notes = [] if dynamic else _fixed_batch_notes(program is not None, dynamic_batch)
    return common.finish(out, "onnx", "dynamo", (x, y), tolerance, facts, notes)


def _fixed_batch_notes(from_program: bool, dynamic_batch: bool) -> list[str]:
    """Return what to tell the user about a graph exported with a fixed batch."""
    if from_program:
        return ["the program has a fixed batch: give torch.export.export dynamic_shapes to vary it"]
    return ["batch of 1: exported with a fixed batch"] if dynamic_batch else []


def _has_dynamic_batch(program: torch.export.ExportedProgram) -> bool:
    """Whether the program's first input has a symbolic (varying) first dimension."""
    first = program.graph_signature.user_inputs[0]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == first)
    value = node.meta.get("val")
    return (
        isinstance(value, Tensor) and value.dim() > 0 and isinstance(value.shape[0], torch.SymInt)
    )


def _save(program: Any, model_path: Path, weight_bytes: int) -> None:
    """Write one self-contained file (atomically), or weights beside it when they are huge."""
    for stale in (model_path, model_path.with_name(model_path.name + ".data")):
        stale.unlink(missing_ok=True)
    if weight_bytes > _EXTERNAL_DATA_BYTES:
        program.save(str(model_path), external_data=True)
        return
    partial = model_path.with_name(f".{model_path.name}.{os.getpid()}.tmp")
    try:
        program.save(str(partial), external_data=False)
        os.replace(partial, model_path)
    finally:
        partial.unlink(missing_ok=True)


def _onnxruntime_error(path: Path, x: Tensor, y: Tensor) -> float:
    onnxruntime: Any = importlib.import_module("onnxruntime")  # untyped; imported lazily
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (got,) = session.run(None, {name: x.numpy()})[:1]
    return common.max_relative_error(np.asarray(got), y)
