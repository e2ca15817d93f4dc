"""Exported models load outside Python (fresh process, C++ LibTorch) and agree; units built in.

The Fortran side, through the real FTorch, is tested in ``test_fortran.py``.
"""

from __future__ import annotations

import ast
import importlib.util
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

from practicaltorch.export import (
    DEFAULT_TOLERANCE,
    ExportError,
    ExportResult,
    PhysicalUnits,
    TorchScriptDeprecationWarning,
    describe,
    example_input_shape,
    export_onnx,
    export_run,
    export_torchscript,
    load_example,
    max_relative_error,
    verify,
)
from practicaltorch.export import torchscript as torchscript_module
from practicaltorch.export.scaling import Values
from practicaltorch.export.verify import RELOAD_SCRIPT
from practicaltorch.models import MLP, DigitCNN, EllipseCNN, load_model
from practicaltorch.training import save_checkpoint
from tests.native import build as native
from tests.native import runs
from tests.native.build import manifest_of

HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(
    not HAVE_ONNX, reason='ONNX export needs the extra: pip install "practicaltorch[onnx]"'
)


def skip_unless_ci(reason: str) -> None:
    """Skip on a learner's machine; fail in CI, which must prove the native paths."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs g++ in .ci/run)")
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
    """A penguin species run folder (quick mode: a few epochs)."""
    return runs.penguin_run(tmp_path_factory.mktemp("species-run"))


@pytest.fixture(scope="module")
def mass_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A penguin body-mass run folder (quick mode)."""
    return runs.penguin_run(tmp_path_factory.mktemp("mass-run"), "mass")


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded DigitCNN saved as the MNIST recipe saves it."""
    return runs.digit_cnn_run(tmp_path_factory.mktemp("cnn-run"))


@pytest.fixture(scope="module")
def ts_exports(penguins_run: Path, cnn_run: Path) -> dict[str, Path]:
    """TorchScript exports of the penguin MLP and of a CNN (batch of 3)."""
    return {
        "mlp": quietly_export(export_run, penguins_run).out_dir,
        "cnn": quietly_export(export_run, cnn_run, batch_size=3).out_dir,
    }


@pytest.fixture(scope="session")
def cpp_program(tmp_path_factory: pytest.TempPathFactory) -> native.Build:
    """The C++ LibTorch program, compiled once per session."""
    reason = native.missing_tool("g++") or native.libtorch_headers_missing()
    if reason:
        skip_unless_ci(f"C++ check skipped: {reason}")
    return native.build_cpp(tmp_path_factory.mktemp("native-cpp"))


def perturbed_copy(folder: Path, tmp_path: Path) -> Path:
    """Copy an export and change its expected output by 1e-3 (relative)."""
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    expected = np.fromfile(copy / "example_output.bin", dtype="<f4")
    expected[0] += 1e-3 * np.abs(expected).max()
    expected.astype("<f4").tofile(copy / "example_output.bin")
    return copy


# --------------------------------------------------------------------------- input shape


def test_input_shape_from_the_run_then_the_model() -> None:
    assert example_input_shape(nn.Linear(7, 2), {"input_shape": [3]}) == (3,)

    class Stated(nn.Linear):
        input_shape = (7,)

    assert example_input_shape(Stated(7, 2), {}) == (7,)
    # the course's models state their own input shape
    assert example_input_shape(MLP(5, 3), {}) == (5,)
    assert example_input_shape(DigitCNN(in_channels=1, image_size=28), {}) == (1, 28, 28)
    assert example_input_shape(EllipseCNN(size=64, channels=(8, 16)), None) == (3, 64, 64)
    with pytest.raises(ExportError, match=r"pass input_shape"):
        example_input_shape(nn.Linear(7, 2), {})
    with pytest.raises(ExportError, match="not a list of sizes"):
        example_input_shape(nn.Linear(7, 2), {"input_shape": "big"})
    with pytest.raises(ExportError, match="positive sizes"):
        example_input_shape(nn.Linear(7, 2), {"input_shape": [0]})


# --------------------------------------------------------------------------- export_run


def test_export_run_writes_model_example_and_manifest(penguins_run: Path) -> None:
    folder = penguins_run / "export" / "torchscript"
    result = quietly_export(export_run, penguins_run, batch_size=3)
    assert result.out_dir == folder
    assert result.method == "script"
    assert result.model_path.name == "model.torchscript.pt"
    features = torch.load(penguins_run / "model.pt")["metadata"]["features"]
    assert result.input_shape == (3, len(features))
    assert result.output_shape == (3, 3)
    manifest = manifest_of(folder)
    assert manifest["input"]["shape"] == [3, len(features)]
    assert manifest["dtype"] == "float32" and manifest["byte_order"] == "little"
    assert manifest["tolerance"] == DEFAULT_TOLERANCE
    assert manifest["architecture"] == "MLP" and manifest["recipe"] == "penguins-species"
    assert manifest["versions"]["torch"] == torch.__version__
    assert (folder / "example_input.bin").stat().st_size == 4 * 3 * len(features)


def test_manifest_records_feature_order_and_units(penguins_run: Path) -> None:
    manifest = manifest_of(quietly_export(export_run, penguins_run).out_dir)
    assert manifest["input"]["names"] == [
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex_male",
    ]
    assert manifest["input"]["units"] == ["mm", "mm", "mm", "g", "1 = yes, 0 = no"]
    assert manifest["input"]["dims"] == ["batch", "feature"]
    assert manifest["output"]["names"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert manifest["output"]["units"] == ["logit"] * 3
    assert manifest["input"]["scaling"].startswith("built into the model")


def test_species_export_takes_millimetres_and_grams(penguins_run: Path) -> None:
    from practicaltorch.data.penguins import Penguins

    result = quietly_export(export_run, penguins_run)
    birds = Penguins(train=False)
    raw = birds.features * birds.std + birds.mean  # back to mm, g and 0/1
    assert 30 < float(raw[:, 0].mean()) < 60  # bill lengths in millimetres
    network, _ = load_model(penguins_run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        exported = torch.jit.load(str(result.model_path))
    with torch.no_grad():
        assert max_relative_error(exported(raw), network(birds.features)) <= 1e-5


def test_mass_export_returns_grams(mass_run: Path) -> None:
    from practicaltorch.data.penguins import MASS_FEATURES, Penguins

    result = quietly_export(export_run, mass_run)
    manifest = manifest_of(result.out_dir)
    assert manifest["output"]["names"] == ["body_mass_g"]
    assert manifest["output"]["units"] == ["g"]
    birds = Penguins(False, MASS_FEATURES, "body_mass_g", standardise_target=True)
    raw = birds.features * birds.std + birds.mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        grams = torch.jit.load(str(result.model_path))(raw)
    network, _ = load_model(mass_run)
    with torch.no_grad():
        expected = birds.unscale_target(network(birds.features))
    assert max_relative_error(grams, expected) <= 1e-5
    assert 2500 < float(grams.mean()) < 6500  # penguins weigh kilograms, not z-scores


def test_bare_network_export_takes_scaled_values(penguins_run: Path, tmp_path: Path) -> None:
    result = quietly_export(export_run, penguins_run, out_dir=tmp_path, physical_units=False)
    manifest = manifest_of(result.out_dir)
    assert manifest["input"]["scaling"].startswith("not built in")
    assert len(manifest["input"]["offset"]) == len(manifest["input"]["names"])
    x, y, _ = load_example(tmp_path)
    network, _ = load_model(penguins_run)
    with torch.no_grad():
        torch.testing.assert_close(network(x), y)


def test_physical_units_wrapper_undoes_the_scaling() -> None:
    spec = describe(["length", "mass"], ["mm", "g"], offset=[40.0, 4000.0], scale=[5.0, 800.0])
    inputs = Values.from_metadata(spec)
    outputs = Values.from_metadata(describe(["mass"], "g", 4200.0, 800.0))
    wrapped = PhysicalUnits(nn.Linear(2, 1), inputs, outputs, input_rank=2)
    x = torch.tensor([[45.0, 4800.0]])
    with torch.no_grad():
        expected = wrapped.network((x - torch.tensor([40.0, 4000.0])) / torch.tensor([5.0, 800.0]))
        torch.testing.assert_close(wrapped(x), expected * 800.0 + 4200.0)
    with pytest.raises(ValueError, match="scale of 0"):
        Values.from_metadata(describe(["a"], "mm", 0.0, 0.0))
    with pytest.raises(ValueError, match="2 units for 1 names"):
        describe(["a"], ["mm", "g"])


def test_cnn_export_scales_grey_levels(cnn_run: Path) -> None:
    from practicaltorch.data.mnist import MNIST_MEAN, MNIST_STD

    result = quietly_export(export_run, cnn_run, batch_size=2)
    manifest = manifest_of(result.out_dir)
    assert manifest["input"]["dims"] == ["batch", "channel", "row", "column"]
    assert manifest["input"]["units"] == ["0 (background) to 255 (ink)"]
    grey = torch.randint(0, 256, (2, 1, 28, 28)).float()
    network, _ = load_model(cnn_run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        got = torch.jit.load(str(result.model_path))(grey)
    with torch.no_grad():
        expected = network((grey / 255 - MNIST_MEAN) / MNIST_STD)
    assert max_relative_error(got, expected) <= 1e-5


def test_recipe_folder_means_its_newest_finished_run(penguins_run: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "penguins-species"
    shutil.copytree(penguins_run, recipe / "1", ignore=shutil.ignore_patterns("export"))
    result = quietly_export(export_run, recipe)
    assert result.out_dir == recipe / "1" / "export" / "torchscript"


# --------------------------------------------------------------------------- verify


def test_verify_reloads_in_fresh_process(ts_exports: dict[str, Path]) -> None:
    for name, folder in ts_exports.items():
        result = verify(folder)
        assert result.passed, result.summary()
        assert result.max_rel_error <= 1e-5
        assert result.output_shape == tuple(manifest_of(folder)["output"]["shape"]), name
    # the model file itself locates its export folder too
    x, _, manifest = load_example(ts_exports["mlp"] / "model.torchscript.pt")
    assert list(x.shape) == manifest["input"]["shape"]


def test_verifier_is_a_standalone_script() -> None:
    imported = set()
    for node in ast.walk(ast.parse(RELOAD_SCRIPT.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "json", "sys", "warnings", "numpy", "torch", "onnxruntime"}


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


# --------------------------------------------------------------------------- TorchScript


def test_deprecation_is_noted_once_and_torch_warnings_are_contained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torchscript_module, "_noted_deprecation", False)
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
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        export_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        export_run(tmp_path / "model.pt")


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
    with pytest.raises(ExportError, match=r"input_shape \[9\] does not fit the run's 5 inputs"):
        export_run(penguins_run, out_dir=tmp_path, input_shape=(9,))
    with pytest.raises(ExportError, match=r"cannot run on an example input of shape \[2, 9\]"):
        export_run(penguins_run, out_dir=tmp_path, input_shape=(9,), physical_units=False)
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_run(penguins_run, "tflite")


# --------------------------------------------------------------------------- ONNX


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
    x, _, _ = load_example(tmp_path)
    batch = torch.cat([x, x, x, x[:1]]).numpy()  # 7 birds, physical units
    (y,) = session.run(None, {"input": batch})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorchScriptDeprecationWarning)
        scripted = export_run(penguins_run, out_dir=tmp_path / "ts")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        reference = torch.jit.load(str(scripted.model_path))(torch.from_numpy(batch))
    assert max_relative_error(y, reference) <= 1e-5


@needs_onnx
def test_onnx_export_of_a_cnn(tmp_path: Path) -> None:
    result = export_onnx(DigitCNN(), torch.randn(2, 1, 28, 28), tmp_path)
    assert result.output_shape == (2, 10)
    assert verify(tmp_path).passed


@needs_onnx
def test_onnx_export_converts_a_given_program_without_capturing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime

    torch.manual_seed(0)
    model, x = MLP(5, 3, hidden=(8,)).eval(), torch.randn(4, 5)
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))

    def no_second_capture(*args: object, **kwargs: object) -> None:
        raise AssertionError("export_onnx captured the model again")

    monkeypatch.setattr(torch.export, "export", no_second_capture)
    result = export_onnx(model, x, tmp_path, program=program)
    assert verify(tmp_path).passed
    assert manifest_of(tmp_path)["dynamic_batch"] is True and result.notes == []
    session = onnxruntime.InferenceSession(
        str(result.model_path), providers=["CPUExecutionProvider"]
    )
    birds = torch.randn(7, 5)
    (got,) = session.run(None, {"input": birds.numpy()})
    with torch.no_grad():
        assert max_relative_error(got, model(birds)) <= 1e-5


@needs_onnx
def test_onnx_export_of_a_fixed_batch_program_says_so(tmp_path: Path) -> None:
    model, x = MLP(5, 3, hidden=(8,)).eval(), torch.randn(4, 5)
    result = export_onnx(model, x, tmp_path, program=torch.export.export(model, (x,)))
    assert manifest_of(tmp_path)["dynamic_batch"] is False
    assert any("fixed batch" in note for note in result.notes)


@needs_onnx
def test_onnx_export_rejects_a_program_of_another_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, other, x = (
        MLP(5, 3, hidden=(8,)).eval(),
        MLP(5, 3, hidden=(8,)).eval(),
        torch.randn(4, 5),
    )
    with pytest.raises(ExportError, match="ONNX Runtime differs from PyTorch"):
        export_onnx(model, x, tmp_path, program=torch.export.export(other, (x,)))
    with pytest.raises(TypeError, match=r"torch\.export\.export"):
        export_onnx(model, x, tmp_path, program=model)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- C++


def cpp_command(exe: Path, folder: Path) -> list[str]:
    return native.check_command(exe, folder, *manifest_of(folder)["input"]["shape"])


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
