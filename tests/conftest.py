"""Shared fixtures and helpers: where the checkout and the real MNIST live, and the like."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

from practicaltorch.devices import configure_threads

REPO = Path(__file__).resolve().parents[1]


FIRST, LAST = "test_notebooks_run.py", "test_site.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the notebook tests first and the site test last.

    Under pytest-xdist (``-n auto --dist loadfile``, each file on one worker) the
    longest file starts at once while other workers take the rest, and the site test
    finds the solutions the notebook tests executed in the site build's cache.
    """
    order = {FIRST: 0, LAST: 2}
    items.sort(key=lambda item: order.get(item.path.name, 1))  # stable: the rest keep their order


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


@pytest.fixture(autouse=True)
def seeded_torch() -> None:
    """Start every test from the same global random state, whichever tests ran before it."""
    torch.manual_seed(0)


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
