"""The MNIST lesson runs on a fresh machine: its solution downloads the data itself.

The data directory starts empty; the download goes through a local mirror on
127.0.0.1 serving gzipped copies of the real files, so the real download code
runs with no internet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from practicaltorch.data.mnist import MNIST_FILES, verify_mnist
from tests.mirror import gzip_into, serve_folder
from tests.test_notebooks_run import COURSE, run_until_error


@pytest.mark.notebook
def test_lesson_04_solution_downloads_mnist_into_an_empty_data_dir(
    mnist_root: Path, empty_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {name: (mnist_root / "MNIST" / "raw" / name).read_bytes() for name in MNIST_FILES}
    with serve_folder(gzip_into(tmp_path / "mirror", files)) as url:
        monkeypatch.setenv("PRACTICALTORCH_MNIST_MIRROR", url)  # the kernel inherits it
        index, error = run_until_error(COURSE / "solutions" / "04_mnist_cnn.ipynb")
    assert error is None, f"solution cell {index} failed:\n{error}"
    raw = verify_mnist(empty_data_dir)
    assert sorted(p.name for p in raw.iterdir()) == sorted(MNIST_FILES)
