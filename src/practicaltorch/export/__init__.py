"""Export trained models for use outside Python: TorchScript for FTorch and C++, and ONNX.

A simulation code written in Fortran or C++ cannot import Python classes, so a
model leaves Python as a self-contained file plus a worked example that proves it
still computes the same thing:

- ``model.torchscript.pt`` (TorchScript, loaded by LibTorch in C++ and by FTorch
  in Fortran) or ``model.onnx`` (ONNX, for ONNX Runtime and friends);
- ``example_input.bin`` and ``example_output.bin``: an example batch and the
  output PyTorch computed for it, as raw little-endian float32 in row-major (C)
  order, readable from C++ or Fortran in a few lines;
- ``export.json``: shapes, the names and units of the inputs and outputs, byte
  order, the torch version and the tolerance the checks use.

Exports of a recipe's run carry the run's scaling, so callers pass physical
units (mm, g, pixel values) and get physical units back.

Typical use::

    from practicaltorch.export import export_run, verify, write_fortran_program

    result = export_run("runs/penguins-species")  # TorchScript by default
    print(verify(result.out_dir).summary())  # reloads it in a fresh Python process
    write_fortran_program(result.out_dir, "fortran")  # a CMake project using FTorch

The modules: :mod:`~practicaltorch.export.common` (files, manifest, error
measure), :mod:`~practicaltorch.export.scaling` (physical units),
:mod:`~practicaltorch.export.torchscript`, :mod:`~practicaltorch.export.onnx_format`,
:mod:`~practicaltorch.export.run_dirs` (exporting a run folder),
:mod:`~practicaltorch.export.verify` (the fresh-process check, which runs
``reload_check.py``) and :mod:`~practicaltorch.export.fortran`.
"""

from __future__ import annotations

from practicaltorch.export.common import (
    DEFAULT_TOLERANCE,
    FORMATS,
    ExportError,
    ExportResult,
    max_relative_error,
)
from practicaltorch.export.fortran import FTORCH_VERSION, FortranProgram, write_fortran_program
from practicaltorch.export.onnx_format import export_onnx
from practicaltorch.export.run_dirs import example_input_shape, export_run
from practicaltorch.export.scaling import PhysicalUnits, describe
from practicaltorch.export.torchscript import TorchScriptDeprecationWarning, export_torchscript
from practicaltorch.export.verify import VerifyResult, load_example, verify

__all__ = [
    "DEFAULT_TOLERANCE",
    "FORMATS",
    "FTORCH_VERSION",
    "ExportError",
    "ExportResult",
    "FortranProgram",
    "PhysicalUnits",
    "TorchScriptDeprecationWarning",
    "VerifyResult",
    "describe",
    "example_input_shape",
    "export_onnx",
    "export_run",
    "export_torchscript",
    "load_example",
    "max_relative_error",
    "verify",
    "write_fortran_program",
]
