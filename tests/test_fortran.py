"""Fortran programs call the exported models through the real FTorch, and agree with Python.

FTorch is built once from the vendored sources against the installed torch (the
``ftorch`` fixture, :mod:`tests.native.ftorch`); every program here says
``use ftorch`` and links that library. The layout tests establish the facts the
course teaches about Fortran arrays and tensors: with the default layout a
Fortran array ``a(2, 3)`` becomes a tensor of shape ``(2, 3)`` whose element
``[i, j]`` is ``a(i+1, j+1)``, so arrays declared in PyTorch's index order need no
transpose; ``layout=[2, 1]`` keeps the shape but reads the memory with the last
index fastest (C order).
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from practicaltorch.cli import main as cli_main
from practicaltorch.export import (
    ExportResult,
    TorchScriptDeprecationWarning,
    export_run,
    write_fortran_program,
)
from tests.conftest import REPO
from tests.native import runs
from tests.native.build import check_command, manifest_of, parse_errors, run_program
from tests.native.ftorch import build_cmake_project

FORTRAN_TESTS = REPO / "tests" / "native" / "fortran"
PENGUIN_PROGRAM = REPO / "course" / "fortran" / "penguins"
MODELS = ["penguins_species", "penguins_mass", "digits", "ellipses"]


def quietly(function: object, *args: object, **kwargs: object) -> ExportResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorchScriptDeprecationWarning)
        return function(*args, **kwargs)  # type: ignore[operator, no-any-return]


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run folders of the four reference models."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "penguins_species": runs.penguin_run(root / "species"),
        "penguins_mass": runs.penguin_run(root / "mass", "mass"),
        "digits": runs.digit_cnn_run(root / "digits"),
        "ellipses": runs.ellipse_cnn_run(root / "ellipses"),
    }


@pytest.fixture(scope="module")
def exports(run_dirs: dict[str, Path]) -> dict[str, Path]:
    """TorchScript exports (batch of 3, physical units) of the four models."""
    return {name: quietly(export_run, run, batch_size=3).out_dir for name, run in run_dirs.items()}


@pytest.fixture(scope="module")
def fortran_tests(ftorch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Fortran test programs in tests/native/fortran, built with CMake against FTorch."""
    return build_cmake_project(FORTRAN_TESTS, tmp_path_factory.mktemp("fortran-tests"), ftorch)


def infer_command(exe: Path, folder: Path) -> list[str]:
    manifest = manifest_of(folder)
    in_shape, out_shape = manifest["input"]["shape"], manifest["output"]["shape"]
    return check_command(exe, folder, len(in_shape), *in_shape, len(out_shape), *out_shape)


# --------------------------------------------------------------------------- layout facts


class ShapeOf(nn.Module):
    """Return the input's shape as a float32 vector."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.tensor(x.shape, dtype=torch.float32)


class Flatten(nn.Module):
    """Return the input flattened in PyTorch's index order (last index fastest)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(-1)


@pytest.fixture(scope="module")
def probe(fortran_tests: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[int]]:
    """What the layout probe saw for a(2, 3) = 10 i + j, with each layout."""
    folder = tmp_path_factory.mktemp("probe")
    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        for module in (ShapeOf(), Flatten()):
            path = folder / f"{type(module).__name__}.pt"
            torch.jit.script(module).save(str(path))
            paths.append(str(path))
    done = run_program([str(fortran_tests / "layout_probe"), *paths])
    assert done.returncode == 0, done.stdout + done.stderr
    seen = {}
    for line in done.stdout.splitlines():
        name, _, values = line.partition("=")
        seen[name.strip()] = [int(v) for v in values.split()]
    return seen


def test_default_layout_keeps_fortran_indices(probe: dict[str, list[int]]) -> None:
    # tensor[i-1, j-1] == a(i, j): same shape, read by index, last index fastest
    assert probe["default_shape"] == [2, 3]
    assert probe["default_values"] == [11, 12, 13, 21, 22, 23]


def test_reversed_layout_reads_memory_in_c_order(probe: dict[str, list[int]]) -> None:
    # same shape, but the column-major memory 11 21 12 22 13 23 is read row by row
    assert probe["layout_2_1_shape"] == [2, 3]
    assert probe["layout_2_1_values"] == [11, 21, 12, 22, 13, 23]


# --------------------------------------------------------------------------- the models


@pytest.mark.parametrize("name", MODELS)
def test_fortran_reproduces_python(
    fortran_tests: Path, exports: dict[str, Path], name: str
) -> None:
    done = run_program(infer_command(fortran_tests / "infer_fortran", exports[name]))
    assert done.returncode == 0, done.stdout + done.stderr
    errors = parse_errors(done.stdout)
    assert errors["max_rel_error_by_index"] <= 1e-5
    assert errors["max_rel_error_c_memory"] <= 1e-5
    shape = manifest_of(exports[name])["input"]
    print(f"Fortran {name} {shape['shape']}: {errors}")


def test_fortran_program_catches_a_mismatch(
    fortran_tests: Path, exports: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "perturbed"
    shutil.copytree(exports["digits"], folder)
    expected = np.fromfile(folder / "example_output.bin", dtype="<f4")
    expected[0] += 1e-3 * np.abs(expected).max()
    expected.astype("<f4").tofile(folder / "example_output.bin")
    done = run_program(infer_command(fortran_tests / "infer_fortran", folder))
    assert done.returncode == 1, done.stdout + done.stderr
    assert parse_errors(done.stdout)["max_rel_error"] > 5e-4


def test_penguin_program_takes_millimetres_and_grams(
    ftorch: Path, exports: dict[str, Path], tmp_path: Path
) -> None:
    """The course's Fortran example: physical units in, the same scores as Python out."""
    build = build_cmake_project(PENGUIN_PROGRAM, tmp_path / "build", ftorch, compat=False)
    model_file = exports["penguins_species"] / "model.torchscript.pt"
    done = run_program([str(build / "penguins"), str(model_file)])
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("bird ")]
    got = np.array([[float(v) for v in line.split("scores")[1].split()] for line in lines])
    birds = torch.tensor([[39.1, 18.7, 181.0, 3750.0, 1.0], [46.5, 14.8, 217.0, 5200.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        expected = torch.jit.load(str(model_file))(birds).detach().numpy()
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    named = [line.split(": ")[1].split()[0] for line in lines]
    assert named == [classes[i] for i in expected.argmax(axis=1)]


# --------------------------------------------------------------------------- export --fortran


def check_generated(folder: Path, ftorch: Path, shape: list[int]) -> str:
    source = next(folder.glob("*.f90")).read_text()
    assert f"dimension({', '.join(map(str, shape))})" in source
    assert "find_package(FTorch REQUIRED)" in (folder / "CMakeLists.txt").read_text()
    # configured as a learner would: only the prefix paths, no extra CMake include
    build = build_cmake_project(folder, folder / "build", ftorch, compat=False)
    done = run_program(["ctest", "--test-dir", str(build), "--output-on-failure"])
    assert done.returncode == 0, done.stdout + done.stderr
    program = next(p for p in build.iterdir() if p.name == next(folder.glob("*.f90")).stem)
    ran = run_program([str(program)], cwd=build)
    assert ran.returncode == 0 and "PASS" in ran.stdout, ran.stdout + ran.stderr
    return ran.stdout


def test_cli_export_writes_a_fortran_program_that_builds_and_passes(
    ftorch: Path, run_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "fortran"
    run = run_dirs["penguins_species"]
    code = cli_main(["export", str(run), "--out", str(tmp_path / "ts"), "--fortran", str(folder)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "cmake -S" in printed and str(folder) in printed
    output = check_generated(folder, ftorch, [2, 5])
    assert parse_errors(output)["max_rel_error"] <= 1e-5


@pytest.mark.parametrize("name", ["digits", "ellipses"])
def test_generated_program_for_a_cnn(
    ftorch: Path, exports: dict[str, Path], tmp_path: Path, name: str
) -> None:
    program = write_fortran_program(exports[name], tmp_path / name)
    shape = manifest_of(exports[name])["input"]["shape"]
    output = check_generated(program.folder, ftorch, shape)
    assert parse_errors(output)["max_rel_error"] <= 1e-5
    assert "channel" in program.source.read_text()


def test_generated_program_fails_on_a_wrong_expectation(
    ftorch: Path, exports: dict[str, Path], tmp_path: Path
) -> None:
    program = write_fortran_program(exports["penguins_mass"], tmp_path / "mass")
    expected = np.fromfile(program.folder / "example_output.bin", dtype="<f4")
    (expected * 1.01).astype("<f4").tofile(program.folder / "example_output.bin")
    build = build_cmake_project(program.folder, program.folder / "build", ftorch)
    done = run_program([str(build / program.name)], cwd=build)
    assert done.returncode == 1 and "FAIL" in done.stdout, done.stdout + done.stderr
    assert "body_mass_g [g]" in program.source.read_text()


def test_fortran_names_are_valid() -> None:
    from practicaltorch.export.fortran import fortran_name

    for text in ("penguins-species", "3d", "a b c", "x" * 80, "---"):
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,62}", fortran_name(text)), text


def test_fortran_program_needs_a_torchscript_export(tmp_path: Path) -> None:
    from practicaltorch.export import ExportError

    with pytest.raises(FileNotFoundError, match="export the run first"):
        write_fortran_program(tmp_path, tmp_path / "out")
    (tmp_path / "export.json").write_text(json.dumps({"format": "onnx"}))
    with pytest.raises(ExportError, match="FTorch loads TorchScript"):
        write_fortran_program(tmp_path, tmp_path / "out")


def test_missing_ftorch_sources_are_a_reason_to_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.native import ftorch

    monkeypatch.setenv("PRACTICALTORCH_FTORCH_SRC", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PRACTICALTORCH_FTORCH_CACHE", str(tmp_path / "cache"))
    reason = ftorch.unavailable_reason()
    assert reason is not None and "no FTorch sources" in reason
    with pytest.raises(ftorch.FTorchUnavailableError, match="PRACTICALTORCH_FTORCH_SRC"):
        ftorch.ftorch_prefix()
    assert not (tmp_path / "cache").exists()  # nothing half-built is left behind
