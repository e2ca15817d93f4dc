"""TorchScript export, the format LibTorch (C++) and FTorch (Fortran) load.

TorchScript is deprecated upstream (``torch.jit`` warns that it will go away in
favour of ``torch.export``), but it is still what LibTorch and FTorch read.
:func:`export_torchscript` silences exactly those ``torch.jit`` deprecation
warnings while it runs and says so once, with a
:class:`TorchScriptDeprecationWarning` and a note in the result.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.export.common import (
    DEFAULT_TOLERANCE,
    MODEL_FILES,
    ExportError,
    ExportResult,
    finish,
    first_line,
    max_relative_error,
    prepare,
)
from practicaltorch.runs import atomic_file

__all__ = ["TORCHSCRIPT_NOTE", "TorchScriptDeprecationWarning", "export_torchscript"]

TORCHSCRIPT_NOTE = (
    "TorchScript is deprecated in PyTorch (torch.jit warns about it), but it is still the "
    "format LibTorch and FTorch load, so practicaltorch uses it for Fortran and C++ coupling "
    "and silenced torch.jit's deprecation warnings during the export. If LibTorch or FTorch "
    "drop TorchScript, move to the ONNX export (fmt='onnx')."
)

# torch.jit.script/trace/freeze/save/load each warn "`torch.jit.<name>` is deprecated".
JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"
_noted_deprecation = False


class TorchScriptDeprecationWarning(UserWarning):
    """Issued once per process: TorchScript is deprecated upstream but still used for FTorch.

    Silence it with ``warnings.filterwarnings("ignore",
    category=TorchScriptDeprecationWarning)``.
    """


@contextmanager
def quiet_torchscript() -> Iterator[None]:
    """Silence only torch.jit's deprecation warnings, and note the deprecation once."""
    global _noted_deprecation
    with warnings.catch_warnings():
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", message=JIT_DEPRECATION, category=category)
        yield
    if not _noted_deprecation:
        _noted_deprecation = True
        warnings.warn(TORCHSCRIPT_NOTE, TorchScriptDeprecationWarning, stacklevel=4)


def _compile(model: nn.Module, x: Tensor) -> tuple[torch.jit.ScriptModule, str]:
    """Script the model, or trace it on ``x`` when scripting fails."""
    try:
        return torch.jit.script(model), "script"
    except Exception as script_error:
        try:
            with torch.no_grad():
                return torch.jit.trace(model, (x,), check_trace=True), "trace"
        except Exception as trace_error:
            raise ExportError(
                f"cannot convert {type(model).__name__} to TorchScript: scripting failed "
                f"({first_line(script_error)}) and tracing on an input of shape "
                f"{list(x.shape)} failed too ({first_line(trace_error)}). Make forward() "
                "use only tensor operations, or try fmt='onnx'"
            ) from trace_error


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
    model, x, y = prepare(model, example_input)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / MODEL_FILES["torchscript"]
    with quiet_torchscript():
        compiled, method = _compile(model, x)
        if freeze:
            compiled = torch.jit.freeze(compiled.eval())
        with torch.no_grad():
            got = compiled(x)
        if not isinstance(got, Tensor):
            raise ExportError(f"the TorchScript model returns {type(got).__name__}, not a tensor")
        error = max_relative_error(got, y)
        if not error <= tolerance:
            advice = (
                "tracing froze a data-dependent branch: make forward() scriptable"
                if method == "trace"
                else "try freeze=False"
            )
            raise ExportError(
                f"the TorchScript model ({method}) differs from the original by a max relative "
                f"error of {error:.2e} > {tolerance:g}; {advice}"
            )
        with atomic_file(model_path) as handle:
            torch.jit.save(compiled, handle)
    facts = {"frozen": freeze, **(metadata or {})}
    result = finish(out, "torchscript", method, (x, y), tolerance, facts, [TORCHSCRIPT_NOTE])
    if log is not None:
        log(f"note: {TORCHSCRIPT_NOTE}")
    return result
