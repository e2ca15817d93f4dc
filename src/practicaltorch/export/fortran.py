"""A ready-to-build Fortran program for an export: CMake, FTorch, the example, and a check.

:func:`write_fortran_program` turns a TorchScript export folder into a small
CMake project. Its program loads the model with FTorch, runs the example input,
compares the result with the output PyTorch computed, prints the error and exits
with 1 when it exceeds the export's tolerance. It is the first thing to build on
a new machine: it proves that FTorch, the model file and the array layout agree
before the model goes into a simulation.

The arrays are declared in PyTorch's index order, ``x(batch, feature)`` or
``x(batch, channel, row, column)``, and passed to ``torch_tensor_from_array``
with the default layout: FTorch then makes a tensor of the same shape whose
element ``[i, j]`` is ``x(i+1, j+1)``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from practicaltorch.export.common import (
    INPUT_FILE,
    MANIFEST,
    MODEL_FILES,
    OUTPUT_FILE,
    ExportError,
)
from practicaltorch.runs import write_atomic

__all__ = ["FTORCH_VERSION", "FortranProgram", "write_fortran_program"]

FTORCH_VERSION = "1.1"
"""The FTorch release whose API the generated programs use (``layout``, not ``permute_dims``)."""

CMAKE_TEMPLATE = """\
# Build and check @NAME@ against FTorch (written by `practicaltorch export --fortran`).
#
#   cmake -S . -B build -DCMAKE_PREFIX_PATH=/where/FTorch/is/installed
#   cmake --build build
#   ctest --test-dir build --output-on-failure
cmake_minimum_required(VERSION 3.18)
project(@NAME@ LANGUAGES Fortran)

# With a CUDA build of torch but no CUDA toolkit, torch's CMake files stop unless this
# target exists. A Fortran program on the CPU needs no CUDA to build.
if(NOT TARGET torch::cudart)
  add_library(torch::cudart INTERFACE IMPORTED)
endif()
find_package(FTorch REQUIRED)

add_executable(@NAME@ @NAME@.f90)
target_link_libraries(@NAME@ PRIVATE FTorch::ftorch)

# The program reads the model and the example from its working directory.
foreach(file @FILES@)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/${file} ${CMAKE_CURRENT_BINARY_DIR}/${file} COPYONLY)
endforeach()

enable_testing()
add_test(NAME @NAME@ COMMAND @NAME@ WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
"""

PROGRAM_TEMPLATE = """\
! @NAME@: run @MODEL@ through FTorch and check it against PyTorch.
! Written by `practicaltorch export --fortran` for FTorch @FTORCH@; CMakeLists.txt builds it.
!
! Input  x@IN_DIMS@
@IN_DOC@
! Output y@OUT_DIMS@
@OUT_DOC@
!
! The arrays are declared in PyTorch's index order; with the default layout FTorch
! makes tensors of the same shape that read them by index, so nothing is transposed.
! Usage: @NAME@ [FOLDER]   (FOLDER holds the model and the example; default: .)
program @NAME@
  use, intrinsic :: iso_fortran_env, only : sp => real32, int64
  use ftorch, only : torch_model, torch_tensor, torch_kCPU, torch_model_load, &
                     torch_tensor_from_array, torch_model_forward, torch_delete
  implicit none

  real(sp), parameter :: tolerance = @TOLERANCE@
  real(sp), dimension(@IN_SHAPE@), target :: x
  real(sp), dimension(@OUT_SHAPE@), target :: y, expected
  type(torch_model) :: model
  type(torch_tensor), dimension(1) :: inputs, outputs
  character(len=4096) :: folder
  real(sp) :: error
  integer :: i

  folder = "."
  if (command_argument_count() >= 1) call get_command_argument(1, folder)

  ! The example files hold float32 in C order (last index fastest): reshape with
  ! order=[...] fills the arrays so that x(i, j, ...) is element [i-1, j-1, ...].
  x = reshape(read_floats(trim(folder) // "/@INPUT@", size(x)), shape(x), order=[@IN_ORDER@])
  expected = reshape(read_floats(trim(folder) // "/@OUTPUT@", size(y)), shape(y), &
                     order=[@OUT_ORDER@])

  call torch_model_load(model, trim(folder) // "/@MODEL@", torch_kCPU)
  call torch_tensor_from_array(inputs(1), x, torch_kCPU)
  call torch_tensor_from_array(outputs(1), y, torch_kCPU)
  call torch_model_forward(model, inputs, outputs)
  call torch_delete(inputs)
  call torch_delete(outputs)
  call torch_delete(model)

  do i = 1, size(y, 1)
    write (*, '(a, i0, a, *(1x, g0))') "sample ", i, ":", y(i, :)
  end do
  error = maxval(abs(y - expected)) / max(maxval(abs(expected)), tiny(1.0_sp))
  write (*, '(a, es10.3)') "max_rel_error=", error
  if (error > tolerance) then
    write (*, '(a, es10.3)') "FAIL: the output differs from PyTorch's by more than ", tolerance
    stop 1
  end if
  write (*, '(a)') "PASS: FTorch reproduces PyTorch's output"

contains

  ! Read n float32 values written by Python (raw, little-endian).
  function read_floats(path, n) result(values)
    character(len=*), intent(in) :: path
    integer, intent(in) :: n
    real(sp) :: values(n)
    integer :: unit, status
    integer(int64) :: bytes

    open (newunit=unit, file=path, access="stream", form="unformatted", status="old", &
          action="read", iostat=status)
    if (status /= 0) then
      write (*, '(a)') "error: cannot open " // path
      stop 2
    end if
    inquire (unit=unit, size=bytes)
    if (bytes /= 4_int64 * n) then
      write (*, '(a, i0, a, i0)') "error: " // path // " holds ", bytes, " bytes, expected ", 4 * n
      stop 2
    end if
    read (unit) values
    close (unit)
  end function read_floats

end program @NAME@
"""


@dataclass
class FortranProgram:
    """A CMake project written by :func:`write_fortran_program`.

    Attributes
    ----------
    folder
        The project folder (``CMakeLists.txt``, the program, the model and example).
    source
        The Fortran program.
    name
        The program's (and executable's) name.
    """

    folder: Path
    source: Path
    name: str

    def build_commands(self, ftorch_prefix: str = "/where/FTorch/is/installed") -> list[str]:
        """Return the shell commands that build and check the program."""
        build = self.folder / "build"
        return [
            f"cmake -S {self.folder} -B {build} -DCMAKE_PREFIX_PATH={ftorch_prefix}",
            f"cmake --build {build}",
            f"ctest --test-dir {build} --output-on-failure",
        ]


def fortran_name(text: str) -> str:
    """Make a valid Fortran name from ``text`` (letters, digits, underscores; a letter first).

    Examples
    --------
    >>> fortran_name("penguins-species")
    'penguins_species'
    >>> fortran_name("3d model")
    'm_3d_model'
    """
    name = re.sub(r"\W+", "_", text.strip().lower()).strip("_") or "model"
    return (name if name[0].isalpha() else f"m_{name}")[:63]


def _described(entry: dict[str, Any]) -> list[str]:
    """Comment lines listing the values along axis 2, with their units."""
    names, units = entry.get("names"), entry.get("units") or []
    if not names:
        return [f"!   {entry.get('scaling', 'no names or units recorded')}"]
    lines = [f"!   {i:>3}  {name} [{unit}]" for i, (name, unit) in enumerate(zip(names, units), 1)]
    return [*lines, f"!   scaling: {entry.get('scaling', 'not recorded')}"]


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    return template


def write_fortran_program(
    export_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, name: str | None = None
) -> FortranProgram:
    """Write a CMake project whose Fortran program runs a TorchScript export and checks it.

    Parameters
    ----------
    export_dir
        A TorchScript export folder (holding ``export.json``).
    out_dir
        The project folder to write (created; the model and example are copied in).
    name
        The program's name; defaults to the recipe's (or the architecture's).

    Returns
    -------
    FortranProgram

    Raises
    ------
    FileNotFoundError
        If ``export_dir`` holds no export.
    ExportError
        If the export is not TorchScript, or its output is not ``(batch, outputs)``.
    """
    source = Path(export_dir)
    if not (source / MANIFEST).is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {source}: export the run first")
    manifest = json.loads((source / MANIFEST).read_text())
    if manifest.get("format") != "torchscript":
        raise ExportError("FTorch loads TorchScript: export with fmt='torchscript' first")
    in_shape, out_shape = manifest["input"]["shape"], manifest["output"]["shape"]
    if len(out_shape) != 2:
        raise ExportError(f"the program handles outputs of shape (batch, outputs), not {out_shape}")
    program = fortran_name(name or manifest.get("recipe") or manifest.get("architecture", "model"))
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    files = [MODEL_FILES["torchscript"], INPUT_FILE, OUTPUT_FILE]
    for file in files:
        shutil.copyfile(source / file, folder / file)

    def dims(entry: dict[str, Any]) -> str:
        return f"({', '.join(entry.get('dims', []))})"

    text = _fill(
        PROGRAM_TEMPLATE,
        {
            "NAME": program,
            "MODEL": MODEL_FILES["torchscript"],
            "FTORCH": FTORCH_VERSION,
            "INPUT": INPUT_FILE,
            "OUTPUT": OUTPUT_FILE,
            "TOLERANCE": f"{float(manifest['tolerance']):.1e}_sp",
            "IN_DIMS": dims(manifest["input"]),
            "OUT_DIMS": dims(manifest["output"]),
            "IN_DOC": "\n".join(_described(manifest["input"])),
            "OUT_DOC": "\n".join(_described(manifest["output"])),
            "IN_SHAPE": ", ".join(map(str, in_shape)),
            "OUT_SHAPE": ", ".join(map(str, out_shape)),
            "IN_ORDER": ", ".join(str(i) for i in range(len(in_shape), 0, -1)),
            "OUT_ORDER": "2, 1",
        },
    )
    program_path = folder / f"{program}.f90"
    write_atomic(program_path, text.encode())
    cmake = _fill(CMAKE_TEMPLATE, {"NAME": program, "FILES": " ".join(files)})
    write_atomic(folder / "CMakeLists.txt", cmake.encode())
    return FortranProgram(folder, program_path, program)
