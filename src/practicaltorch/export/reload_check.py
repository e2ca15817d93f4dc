"""Reload an exported model and compare its output: run by ``verify`` in a fresh process.

This file is executed as a script (``python reload_check.py ...``) and must stand
on its own: it imports only the standard library, numpy and torch (or
onnxruntime), never practicaltorch, which proves the exported file does not need
the course's classes. It prints one JSON line with the error and the shape.

Usage::

    python reload_check.py FORMAT MODEL INPUT.bin OUTPUT.bin IN_SHAPE_JSON OUT_SHAPE_JSON
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np


def run_torchscript(model_path: str, x: np.ndarray) -> np.ndarray:
    """Run a TorchScript file on ``x`` with one CPU thread."""
    import torch

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
        model = torch.jit.load(model_path, map_location="cpu")
    model.eval()
    with torch.no_grad():
        return np.asarray(model(torch.from_numpy(x)).numpy())


def run_onnx(model_path: str, x: np.ndarray) -> np.ndarray:
    """Run an ONNX file on ``x`` with ONNX Runtime, one CPU thread."""
    import onnxruntime  # type: ignore[import-untyped]

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def main(argv: list[str]) -> int:
    """Compare the reloaded model's output with the expected one; print the result as JSON."""
    fmt, model_path, input_path, output_path, in_shape, out_shape = argv
    x = np.fromfile(input_path, dtype="<f4").astype(np.float32).reshape(json.loads(in_shape))
    expected = np.fromfile(output_path, dtype="<f4").astype(np.float64)
    expected = expected.reshape(json.loads(out_shape))
    run = run_torchscript if fmt == "torchscript" else run_onnx
    got = run(model_path, x).astype(np.float64)
    if got.shape != expected.shape:
        print(f"the reloaded model gave shape {list(got.shape)}, not {list(expected.shape)}")
        return 1
    scale = max(float(np.abs(expected).max()), 1e-30) if expected.size else 1.0
    error = float(np.abs(got - expected).max()) / scale if expected.size else 0.0
    print(json.dumps({"max_rel_error": error, "output_shape": list(got.shape)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
