"""How FTorch 1.1 turns Fortran arrays into tensors, shown by running the real library.

The course teaches exactly what these tests establish: with the default layout a
Fortran array ``a(2, 3)`` becomes a tensor of shape ``(2, 3)`` whose element
``[i, j]`` is ``a(i+1, j+1)``, so arrays declared in PyTorch's index order need no
transpose; ``layout=[2, 1]`` keeps the shape but reads the memory with the last
index fastest (C order).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from tests.native.build import run_program
from tests.native.ftorch import build_cmake_project

FORTRAN_TESTS = Path(__file__).resolve().parent / "native" / "fortran"


class ShapeOf(nn.Module):
    """Return the input's shape as a float32 vector."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.tensor(x.shape, dtype=torch.float32)


class Flatten(nn.Module):
    """Return the input flattened in PyTorch's index order (last index fastest)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(-1)


@pytest.fixture(scope="session")
def fortran_tests(ftorch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Fortran test programs in tests/native/fortran, built with CMake against FTorch."""
    return build_cmake_project(FORTRAN_TESTS, tmp_path_factory.mktemp("fortran-tests"), ftorch)


def probe(fortran_tests: Path, tmp_path: Path) -> dict[str, list[int]]:
    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        for module in (ShapeOf(), Flatten()):
            path = tmp_path / f"{type(module).__name__}.pt"
            torch.jit.script(module).save(str(path))
            paths.append(str(path))
    done = run_program([str(fortran_tests / "layout_probe"), *paths])
    assert done.returncode == 0, done.stdout + done.stderr
    seen = {}
    for line in done.stdout.splitlines():
        name, _, values = line.partition("=")
        seen[name.strip()] = [int(v) for v in values.split()]
    return seen


def test_default_layout_keeps_fortran_indices(fortran_tests: Path, tmp_path: Path) -> None:
    seen = probe(fortran_tests, tmp_path)
    # a(i, j) = 10 i + j: tensor[i-1, j-1] == a(i, j), read in PyTorch's index order
    assert seen["default_shape"] == [2, 3]
    assert seen["default_values"] == [11, 12, 13, 21, 22, 23]


def test_reversed_layout_reads_memory_in_c_order(fortran_tests: Path, tmp_path: Path) -> None:
    seen = probe(fortran_tests, tmp_path)
    # same shape, but the column-major memory 11 21 12 22 13 23 is read row by row
    assert seen["layout_2_1_shape"] == [2, 3]
    assert seen["layout_2_1_values"] == [11, 21, 12, 22, 13, 23]
