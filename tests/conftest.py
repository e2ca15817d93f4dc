"""Shared fixtures and helpers: where the checkout and the real MNIST live, and the like."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

from practicaltorch.devices import configure_threads

REPO = Path(__file__).resolve().parents[1]


NOTEBOOK_GROUP = "notebooks"
"""The pytest-xdist group of the tests that execute course notebooks, and the site test."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the notebook tests, then the site test that reuses their runs, first, on one worker.

    They take about half the suite's time, so under pytest-xdist (``-n auto --dist
    loadgroup``) they start at once on one worker while the others take the rest; in
    that group the site test comes after the solutions it finds in the site build's cache.
    """
    group = [i for i in items if i.get_closest_marker("notebook") or i.path.name == "test_site.py"]
    for item in group:
        item.add_marker(pytest.mark.xdist_group(NOTEBOOK_GROUP))
    items[:] = group + [item for item in items if item not in group]


def assert_shape_refused(model: torch.nn.Module, shape: tuple[int, ...], match: str) -> None:
    """Assert that ``model`` and its TorchScript export refuse a ``shape`` batch with ``match``."""
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        scripted = torch.jit.script(model)
    with pytest.raises(Exception, match=match):  # the exported model says the same
        scripted(torch.zeros(shape))


def shared_data() -> Path | None:
    """Return the read-only data folder beside the checkout, if there is one."""
    env = os.environ.get("PRACTICALTORCH_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for candidate in candidates:
        if (candidate / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
            return candidate
    return None


@pytest.fixture
def mnist_root() -> Path:
    """The folder holding MNIST/raw, or skip when the real data is not here."""
    root = shared_data()
    if root is None:
        pytest.skip("real MNIST not available: set PRACTICALTORCH_DATA or provide ../shared/data")
    return root


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point PRACTICALTORCH_DATA at an empty folder for the duration of a test."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("PRACTICALTORCH_DATA", str(folder))
    return folder


@pytest.fixture(autouse=True, scope="session")
def cli_threads() -> None:
    """Choose CPU threads as the CLI does: one on a 2-core machine, much faster there."""
    configure_threads()
    assert torch.get_num_threads() >= 1


@pytest.fixture(scope="session")
def ftorch() -> Path:
    """Install prefix of FTorch built against the installed torch (built once, then cached).

    Build a project that uses it with ``tests.native.ftorch.build_cmake_project``. Skips
    with the reason when FTorch cannot be built here; under ``CI=true`` that is a failure.
    """
    from tests.native.ftorch import FTorchUnavailableError, ftorch_prefix

    try:
        return ftorch_prefix()
    except FTorchUnavailableError as error:
        reason = f"FTorch unavailable: {error}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (CI must build it: .ci/run runs python -m tests.native.ftorch)")
        pytest.skip(reason)
