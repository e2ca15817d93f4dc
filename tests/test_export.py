"""Exported models load outside Python (fresh process, C++ LibTorch, Fortran) and agree."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from practicaltorch import export
from practicaltorch.export import (
    DEFAULT_TOLERANCE,
    ExportError,
    ExportResult,
    TorchScriptDeprecationWarning,
    example_input_shape,
    export_onnx,
    export_run,
    export_torchscript,
    load_example,
    verify,
)
from practicaltorch.models import MLP, DigitCNN, load_model
from practicaltorch.training.checkpoints import save_checkpoint
from tests.native import build as native

HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(
    not HAVE_ONNX, reason='ONNX export needs the extra: pip install "practicaltorch[onnx]"'
)


def skip_unless_ci(reason: str) -> None:
    """Skip on a learner's machine; fail in CI, which must prove the native paths."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs g++ and gfortran in .ci/run)")
    pytest.skip(reason)


def quietly_export(
    function: Callable[..., ExportResult], *args: Any, **kwargs: Any
) -> ExportResult:
    """Export while ignoring only our own once-per-process deprecation note."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorchScriptDeprecationWarning)
        return function(*args, **kwargs)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def penguins_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A penguin species run directory (quick mode: a few epochs)."""
    from practicaltorch.recipes import penguins_species

    out = tmp_path_factory.mktemp("penguins-run")
    penguins_species.run(penguins_species.Config(quick=True, device="cpu"), out, progress=False)
    return out


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding a seeded DigitCNN, saved as the MNIST recipe saves it.

    The weights are untrained (training is the MNIST tests' job) but the batch-norm
    statistics are made non-trivial, so running in eval mode matters.
    """
    torch.manual_seed(0)
    model = DigitCNN()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    out = tmp_path_factory.mktemp("cnn-run")
    save_checkpoint(
        out / "model.pt",
        model=model.state_dict(),
        architecture="DigitCNN",
        config=model.config,
        metadata={"classes": [str(d) for d in range(10)]},
        recipe="mnist",
    )
    return out


@pytest.fixture(scope="module")
def ts_exports(
    penguins_run: Path, cnn_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """TorchScript exports of the penguin MLP and of a CNN (batch of 3)."""
    exports = {"mlp": quietly_export(export_run, penguins_run).out_dir}
    # the CNN's input shape is inferred from the DigitCNN config
    exports["cnn"] = quietly_export(export_run, cnn_run, batch_size=3).out_dir
    return exports


@pytest.fixture(scope="session")
def cpp_program(tmp_path_factory: pytest.TempPathFactory) -> native.Build:
    """The C++ LibTorch program, compiled once per session."""
    reason = native.missing_tool("g++") or native.libtorch_headers_missing()
    if reason:
        skip_unless_ci(f"C++ check skipped: {reason}")
    return native.build_cpp(tmp_path_factory.mktemp("native-cpp"))


@pytest.fixture(scope="session")
def fortran_program(tmp_path_factory: pytest.TempPathFactory) -> native.Build:
    """The Fortran program with its C++ shim, compiled once per session."""
    reason = (
        native.missing_tool("gfortran")
        or native.missing_tool("g++")
        or native.libtorch_headers_missing()
    )
    if reason:
        skip_unless_ci(f"Fortran check skipped: {reason}")
    return native.build_fortran(tmp_path_factory.mktemp("native-fortran"))


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "export.json").read_text())


def perturbed_copy(folder: Path, tmp_path: Path) -> Path:
    """Copy an export and change its expected output by 1e-3 (relative)."""
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    expected = np.fromfile(copy / "example_output.bin", dtype="<f4")
    expected[0] += 1e-3 * np.abs(expected).max()
    expected.astype("<f4").tofile(copy / "example_output.bin")
    return copy


# --------------------------------------------------------------------------- Python side


def test_input_shape_from_metadata_then_architecture() -> None:
    assert example_input_shape("MLP", {"in_features": 7}) == (7,)
    assert example_input_shape("MLP", {"in_features": 7}, {"input_shape": [3]}) == (3,)
    assert example_input_shape("DigitCNN", {"in_channels": 1, "image_size": 28}) == (1, 28, 28)
    assert example_input_shape("EllipseCNN", {"size": 64}) == (3, 64, 64)
    with pytest.raises(ExportError, match="pass input_shape"):
        example_input_shape("Mystery", {})
    with pytest.raises(ExportError, match="not a list of sizes"):
        example_input_shape("MLP", {}, {"input_shape": "big"})


def test_export_run_writes_model_example_and_manifest(penguins_run: Path) -> None:
    folder = penguins_run / "export" / "torchscript"
    result = quietly_export(export_run, penguins_run, batch_size=3)
    assert isinstance(result, ExportResult)
    assert result.out_dir == folder
    assert result.method == "script"
    assert result.model_path.name == "model.torchscript.pt"
    features = len(torch.load(penguins_run / "model.pt")["metadata"]["features"])
    assert result.input_shape == (3, features)
    assert result.output_shape == (3, 3)
    manifest = manifest_of(folder)
    assert manifest["input"]["shape"] == [3, features]
    assert manifest["dtype"] == "float32" and manifest["byte_order"] == "little"
    assert manifest["tolerance"] == DEFAULT_TOLERANCE
    assert manifest["architecture"] == "MLP" and manifest["recipe"] == "penguins-species"
    assert manifest["versions"]["torch"] == torch.__version__
    assert (folder / "example_input.bin").stat().st_size == 4 * 3 * features
    x, y, _ = load_example(folder)
    model, _ = load_model(penguins_run)
    with torch.no_grad():
        torch.testing.assert_close(model(x), y)


def test_verify_reloads_in_fresh_process(ts_exports: dict[str, Path]) -> None:
    for name, folder in ts_exports.items():
        result = verify(folder)
        assert result.passed, result.summary()
        assert result.max_rel_error <= 1e-5
        assert result.output_shape == tuple(manifest_of(folder)["output"]["shape"]), name
    # the model file itself locates its export folder too
    x, _, manifest = load_example(ts_exports["mlp"] / "model.torchscript.pt")
    assert list(x.shape) == manifest["input"]["shape"]


def test_verify_reports_a_mismatch(ts_exports: dict[str, Path], tmp_path: Path) -> None:
    result = verify(perturbed_copy(ts_exports["mlp"], tmp_path))
    assert not result.passed
    assert 5e-4 < result.max_rel_error < 2e-3
    assert "FAIL" in result.summary()


def test_verify_needs_an_export(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing to verify"):
        verify(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"export\.json"):
        verify(tmp_path)


def test_deprecation_is_noted_once_and_torch_warnings_are_contained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "_noted_deprecation", False)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = export_torchscript(MLP(3, 2, hidden=(4,)), torch.zeros(2, 3), tmp_path / "a")
        export_torchscript(
            MLP(3, 2, hidden=(4,)), torch.zeros(2, 3), tmp_path / "b", log=notes.append
        )
    ours = [w for w in caught if issubclass(w.category, TorchScriptDeprecationWarning)]
    assert len(ours) == 1
    assert ours[0].filename == __file__  # points at the caller, not at our internals
    leaked = [w for w in caught if "torch.jit" in str(w.message) and w not in ours]
    assert not leaked, [str(w.message) for w in leaked]
    assert any("deprecated" in note for note in first.notes)
    assert any("TorchScript is deprecated" in line for line in notes)


def test_unscriptable_model_falls_back_to_tracing(tmp_path: Path) -> None:
    class Lambda(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 2)
            self.fn = lambda t: torch.tanh(t) * 2  # scripting cannot compile a lambda

        def forward(self, x: Tensor) -> Tensor:
            return self.fn(self.linear(x))  # type: ignore[no-any-return]

    result = quietly_export(export_torchscript, Lambda(), torch.randn(2, 3), tmp_path)
    assert result.method == "trace"
    assert verify(tmp_path).passed


def test_model_that_neither_scripts_nor_traces_is_a_clear_error(tmp_path: Path) -> None:
    class Hostile(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fn = lambda t: t + 1

        def forward(self, x: Tensor) -> Tensor:
            if torch.jit.is_tracing():
                raise RuntimeError("this model refuses to be traced")
            return self.fn(x)  # type: ignore[no-any-return]

    with pytest.raises(ExportError, match=r"scripting failed .* tracing .* failed too"):
        quietly_export(export_torchscript, Hostile(), torch.randn(2, 3), tmp_path)
    assert not (tmp_path / "model.torchscript.pt").exists()


def test_run_dir_without_weights(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        export_run(tmp_path)


def test_weights_that_do_not_fit_the_architecture(tmp_path: Path) -> None:
    save_checkpoint(
        tmp_path / "model.pt",
        model=MLP(5, 3, hidden=(8,)).state_dict(),
        architecture="MLP",
        config=MLP(4, 3, hidden=(8,)).config,
        metadata={},
    )
    with pytest.raises(ValueError, match="do not fit a MLP"):
        export_run(tmp_path)


def test_wrong_input_shape_and_unknown_format(penguins_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"cannot run on an example input of shape \[2, 9\]"):
        export_run(penguins_run, out_dir=tmp_path, input_shape=(9,))
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_run(penguins_run, "tflite")


def test_missing_onnx_extra_names_the_install_command(
    penguins_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # makes `import onnxscript` fail
    with pytest.raises(ImportError, match=r'pip install "practicaltorch\[onnx\]"'):
        export_run(penguins_run, "onnx")


@needs_onnx
def test_onnx_export_verifies_and_has_a_dynamic_batch(penguins_run: Path, tmp_path: Path) -> None:
    import onnxruntime

    result = export_run(penguins_run, "onnx", out_dir=tmp_path)
    assert result.model_path == tmp_path / "model.onnx"
    check = verify(tmp_path)
    assert check.passed and check.max_rel_error <= 1e-5, check.summary()
    session = onnxruntime.InferenceSession(
        str(result.model_path), providers=["CPUExecutionProvider"]
    )
    x = np.random.default_rng(0).standard_normal((7, result.input_shape[1])).astype(np.float32)
    (y,) = session.run(None, {"input": x})
    model, _ = load_model(penguins_run)
    with torch.no_grad():
        assert export.max_relative_error(y, model(torch.from_numpy(x))) <= 1e-5


@needs_onnx
def test_onnx_export_of_a_cnn(tmp_path: Path) -> None:
    model = DigitCNN()
    result = export_onnx(model, torch.randn(2, 1, 28, 28), tmp_path)
    assert result.output_shape == (2, 10)
    assert verify(tmp_path).passed


# --------------------------------------------------------------------------- C++ and Fortran


def cpp_command(exe: Path, folder: Path) -> list[str]:
    manifest = manifest_of(folder)
    return [
        str(exe),
        str(folder / manifest["model"]),
        str(folder / manifest["input"]["file"]),
        str(folder / manifest["output"]["file"]),
        str(manifest["tolerance"]),
        *map(str, manifest["input"]["shape"]),
    ]


def fortran_command(exe: Path, folder: Path) -> list[str]:
    manifest = manifest_of(folder)
    in_shape, out_shape = manifest["input"]["shape"], manifest["output"]["shape"]
    return [
        str(exe),
        str(folder / manifest["model"]),
        str(folder / manifest["input"]["file"]),
        str(folder / manifest["output"]["file"]),
        str(manifest["tolerance"]),
        str(len(in_shape)),
        *map(str, in_shape),
        str(len(out_shape)),
        *map(str, out_shape),
    ]


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_cpp_libtorch_reproduces_python(
    cpp_program: native.Build, ts_exports: dict[str, Path], name: str
) -> None:
    done = native.run_program(cpp_command(cpp_program.executable, ts_exports[name]))
    assert done.returncode == 0, done.stdout + done.stderr
    errors = native.parse_errors(done.stdout)
    assert errors["max_rel_error"] <= 1e-5
    print(f"C++ {name}: {errors} (built in {cpp_program.seconds:.1f} s)")


def test_cpp_program_catches_a_mismatch(
    cpp_program: native.Build, ts_exports: dict[str, Path], tmp_path: Path
) -> None:
    folder = perturbed_copy(ts_exports["mlp"], tmp_path)
    done = native.run_program(cpp_command(cpp_program.executable, folder))
    assert done.returncode == 1, done.stdout + done.stderr
    assert native.parse_errors(done.stdout)["max_rel_error"] > 5e-4


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_fortran_reproduces_python_in_both_layouts(
    fortran_program: native.Build, ts_exports: dict[str, Path], name: str
) -> None:
    done = native.run_program(fortran_command(fortran_program.executable, ts_exports[name]))
    assert done.returncode == 0, done.stdout + done.stderr
    errors = native.parse_errors(done.stdout)
    assert errors["max_rel_error_permuted"] <= 1e-5
    assert errors["max_rel_error_column_major"] <= 1e-5
    print(f"Fortran {name}: {errors} (built in {fortran_program.seconds:.1f} s)")


def test_fortran_program_catches_a_mismatch(
    fortran_program: native.Build, ts_exports: dict[str, Path], tmp_path: Path
) -> None:
    folder = perturbed_copy(ts_exports["cnn"], tmp_path)
    done = native.run_program(fortran_command(fortran_program.executable, folder))
    assert done.returncode == 1, done.stdout + done.stderr
    assert native.parse_errors(done.stdout)["max_rel_error"] > 5e-4
