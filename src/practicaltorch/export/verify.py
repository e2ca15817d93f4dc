"""Check an export from the outside: reload it in a fresh Python process and compare."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from practicaltorch.export.common import DEFAULT_TOLERANCE, FORMATS, MANIFEST, ExportError
from practicaltorch.export.onnx_format import require_onnx

__all__ = ["VerifyResult", "load_example", "verify"]

RELOAD_SCRIPT = Path(__file__).with_name("reload_check.py")
"""The script the fresh process runs; it imports numpy and torch (or onnxruntime) only."""


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes
    ----------
    format
        ``"torchscript"`` or ``"onnx"``.
    model_path
        The file that was reloaded.
    max_rel_error
        ``max|got - expected| / max|expected|``.
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


def locate(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """Find and read ``export.json`` for an export folder or an exported model file."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not path.exists():
        raise FileNotFoundError(f"nothing to verify at {path}; export a model first")
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(
            f"no {MANIFEST} in {folder}: verify() needs a folder written by "
            "practicaltorch.export (it holds the example input and expected output)"
        )
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
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
    folder, manifest = locate(path)
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


def verify(
    path: str | os.PathLike[str],
    *,
    tolerance: float | None = None,
    timeout: float = 300.0,
    log: Callable[[str], None] | None = None,
) -> VerifyResult:
    """Reload an exported model in a fresh Python process and check its output.

    The new process runs ``reload_check.py``, which imports only torch (or
    onnxruntime) and numpy, never practicaltorch, so this proves the file does not
    depend on our classes. It runs the saved example input and compares with the
    saved expected output.

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
    folder, manifest = locate(path)
    fmt = str(manifest.get("format"))
    if fmt not in FORMATS:
        raise ExportError(f"{folder / MANIFEST} names an unknown format {fmt!r}")
    if fmt == "onnx":
        require_onnx()
    model_path = folder / str(manifest["model"])
    if not model_path.is_file():
        raise FileNotFoundError(f"{MANIFEST} names {model_path}, which does not exist")
    limit = float(manifest.get("tolerance", DEFAULT_TOLERANCE)) if tolerance is None else tolerance
    command = [sys.executable, str(RELOAD_SCRIPT), fmt, str(model_path)]
    command += [str(folder / manifest[key]["file"]) for key in ("input", "output")]
    command += [json.dumps(manifest[key]["shape"]) for key in ("input", "output")]
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
    if log is not None:
        log(result.summary())
    return result
