"""The Fortran one-scale Lorenz-96 model calls the network through the real FTorch.

Built from ``course/fortran`` with CMake (``find_package(FTorch)``) against the
FTorch in ``../shared/vendor/FTorch`` (the ``ftorch`` fixture builds and caches it;
skipped with the reason where it cannot be built, a failure under ``CI=true``).
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from practicaltorch.data.lorenz96 import (
    hellinger_distance,
    run_one_scale,
    simulate_truth,
    split_in_time,
)
from practicaltorch.export import TorchScriptDeprecationWarning, export_torchscript
from practicaltorch.models.lorenz96 import Scaled
from practicaltorch.recipes.lorenz96 import Config, train_local_net
from tests.conftest import REPO
from tests.native.build import run_program
from tests.native.ftorch import build_cmake_project

SOURCE = REPO / "course" / "fortran"


def load_coupled() -> ModuleType:
    spec = importlib.util.spec_from_file_location("coupled", SOURCE / "coupled.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def program(ftorch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = build_cmake_project(SOURCE, tmp_path_factory.mktemp("lorenz96-build"), ftorch)
    return build / "lorenz96_coupled"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scaled, Path, torch.Tensor]:
    truth = simulate_truth(8, 1.5, spin_up=1.0, seed=0)
    train, valid = split_in_time(truth, 1.0)
    config = replace(Config(), hidden=(16, 16))
    net, _, _ = train_local_net(train, valid, config, epochs=3, device=torch.device("cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorchScriptDeprecationWarning)
        exported = export_torchscript(net, valid[0][:2].float(), tmp_path_factory.mktemp("export"))
    return net, exported.model_path, truth.x[-1]


def test_fortran_and_python_agree_over_the_first_100_steps(
    program: Path, trained: tuple[Scaled, Path, torch.Tensor]
) -> None:
    net, model_file, x0 = trained
    fortran = load_coupled().run(program, model_file, x0.numpy(), 100)
    python = run_one_scale(x0, net, 0.5).x.numpy()
    assert fortran.shape == python.shape == (101, 8, 8)
    assert np.abs(fortran[-1] - fortran[0]).max() > 1.0  # the states did move
    relative = np.abs(fortran - python).max(axis=(1, 2)) / np.abs(python).max()
    assert relative.max() <= 1e-4, relative


def test_long_run_statistics_match(
    program: Path, trained: tuple[Scaled, Path, torch.Tensor]
) -> None:
    net, model_file, x0 = trained
    fortran = torch.from_numpy(load_coupled().run(program, model_file, x0.numpy(), 2000, every=10))
    python = run_one_scale(x0, net, 10.0, output_dt=0.05).x
    assert fortran.shape == python.shape
    fortran, python = fortran[20:], python[20:]
    assert torch.isfinite(fortran).all()
    assert abs(float(fortran.mean() - python.mean())) < 0.1 * float(python.std())
    assert abs(float(fortran.std() / python.std()) - 1) < 0.1
    assert hellinger_distance(fortran, python) < 0.1


def test_bad_arguments_are_refused(program: Path) -> None:
    done = run_program([str(program), "model.pt"])
    assert done.returncode == 2 and "usage" in done.stderr
