"""Compile the C++ test program against the LibTorch inside the installed torch wheel.

The pip wheel of torch ships LibTorch's headers and shared libraries, so no
separate LibTorch download is needed: the include and library folders come from
``torch.utils.cpp_extension``, the C++ ABI flag from ``torch._C``. Compiling
against LibTorch takes tens of seconds per C++ file, so the tests build once per
session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

NATIVE = Path(__file__).resolve().parent
"""The folder holding the native sources (Fortran ones, built with CMake, in ``fortran/``)."""


class BuildError(RuntimeError):
    """A compiler or linker failed; the message holds its output."""


@dataclass
class Build:
    """A built program and how long building it took."""

    executable: Path
    seconds: float
    commands: list[list[str]] = field(default_factory=list)


def missing_tool(name: str) -> str | None:
    """Return why ``name`` cannot be used, or ``None`` if it is on the PATH."""
    if shutil.which(name) is None:
        return f"{name} not found on PATH (install it, for example `apt-get install {name}`)"
    return None


def libtorch_flags() -> tuple[list[str], list[str]]:
    """Compiler and linker flags for the LibTorch bundled with the installed torch.

    Returns
    -------
    cflags, ldflags
        ``-isystem`` include folders, ``-std=c++20`` and the C++ ABI macro; library
        folders, an rpath so the programs find the libraries at run time, and the
        libraries themselves (``torch``, ``torch_cpu``, ``c10``).
    """
    from torch.utils import cpp_extension

    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    cflags = ["-std=c++20", "-O1", f"-D_GLIBCXX_USE_CXX11_ABI={abi}"]
    for folder in cpp_extension.include_paths():
        cflags += ["-isystem", folder]
    ldflags = []
    for folder in cpp_extension.library_paths():
        ldflags += [f"-L{folder}", f"-Wl,-rpath,{folder}"]
    ldflags += ["-ltorch", "-ltorch_cpu", "-lc10"]
    return cflags, ldflags


def libtorch_headers_missing() -> str | None:
    """Return why LibTorch's headers are unusable, or ``None`` if ``torch/script.h`` exists."""
    from torch.utils import cpp_extension

    if not any((Path(p) / "torch" / "script.h").is_file() for p in cpp_extension.include_paths()):
        return "this torch installation ships no LibTorch headers (torch/script.h)"
    return None


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(
            f"command failed ({done.returncode}): {' '.join(command)}\n{done.stdout}{done.stderr}"
        )


def build_cpp(build_dir: Path) -> Build:
    """Compile ``infer_torchscript.cpp`` (LibTorch's C++ API) into ``build_dir``."""
    cflags, ldflags = libtorch_flags()
    build_dir.mkdir(parents=True, exist_ok=True)
    exe = build_dir / "infer_torchscript"
    command = ["g++", *cflags, str(NATIVE / "infer_torchscript.cpp"), "-o", str(exe), *ldflags]
    start = time.perf_counter()
    _run(command, build_dir)
    return Build(exe, time.perf_counter() - start, [command])


def run_program(
    command: list[str], timeout: float = 120.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a built program (in ``cwd``, if given), capturing its output."""
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )


def manifest_of(folder: Path) -> dict[str, Any]:
    """Read the ``export.json`` manifest of an export folder."""
    return dict(json.loads((folder / "export.json").read_text()))


def check_command(exe: Path, folder: Path, *shape: object) -> list[str]:
    """Return the command line of a native check program for the export in ``folder``.

    The arguments are the model, input and output files, the tolerance, then ``shape``.
    """
    manifest = manifest_of(folder)
    files = [manifest["model"], manifest["input"]["file"], manifest["output"]["file"]]
    return [str(exe), *(str(folder / f) for f in files), str(manifest["tolerance"])] + [
        str(s) for s in shape
    ]


def parse_errors(output: str) -> dict[str, float]:
    """Collect the ``name=value`` error lines a native program prints."""
    values = {}
    for line in output.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().startswith("max_rel_error"):
            values[name.strip()] = float(value)
    return values
