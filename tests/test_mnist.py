"""MNIST: the data files, the tensors, the CNN, and the recipe."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision import transforms

from practicaltorch.data.batches import TensorBatches
from practicaltorch.data.errors import CorruptDataError, DataNotFoundError, DownloadError
from practicaltorch.data.mnist import (
    MNIST,
    MNIST_FILES,
    MNIST_MEAN,
    MNIST_STD,
    download_mnist,
    load_mnist_tensors,
    verify_mnist,
)
from practicaltorch.models import ARCHITECTURES, DigitCNN, build_model, load_model
from practicaltorch.recipes import mnist as recipe
from tests.mirror import gzip_into, refused_url, serve_folder

# From ../shared/data/README.md
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def copy_raw(source_root: Path, target_root: Path, names: list[str] | None = None) -> Path:
    """Copy some raw MNIST files into a writable folder; return its MNIST/raw."""
    raw = target_root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in names or list(MNIST_FILES):
        shutil.copyfile(source_root / "MNIST" / "raw" / name, raw / name)
        (raw / name).chmod(0o644)
    return raw


TEST_FILES = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


# --- missing, damaged and undownloadable data -------------------------------


def test_missing_data_says_what_to_do(empty_data_dir: Path) -> None:
    searched = empty_data_dir / "MNIST" / "raw"
    for load in (lambda: load_mnist_tensors(), lambda: MNIST(train=False)):
        with pytest.raises(DataNotFoundError) as caught:
            load()
        message = str(caught.value)
        assert "practicaltorch fetch" in message
        assert "PRACTICALTORCH_DATA" in message
        assert str(searched) in message


def test_missing_data_with_explicit_root(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist_tensors(tmp_path, train=False)
    with pytest.raises(FileNotFoundError):  # DataNotFoundError is a FileNotFoundError
        verify_mnist(tmp_path)


def test_failed_download_is_a_clear_download_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 9 (discard) on this machine refuses connections at once: no network needed.
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(DownloadError) as caught:
        MNIST(tmp_path, download=True)
    message = str(caught.value)
    assert "could not download MNIST" in message
    assert "practicaltorch fetch" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.fixture
def local_mirror(
    mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Serve gzipped copies of the real raw files on 127.0.0.1, as PRACTICALTORCH_MNIST_MIRROR."""
    files = {name: (mnist_root / "MNIST" / "raw" / name).read_bytes() for name in MNIST_FILES}
    with serve_folder(gzip_into(tmp_path / "mirror", files)) as url:
        monkeypatch.setenv("PRACTICALTORCH_MNIST_MIRROR", url)
        yield url


def test_download_verifies_and_repairs(local_mirror: str, empty_data_dir: Path) -> None:
    raw = download_mnist()
    assert raw == empty_data_dir / "MNIST" / "raw"
    assert verify_mnist() == raw
    labels = raw / "t10k-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[100] = (data[100] + 1) % 10
    labels.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="md5"):
        verify_mnist()
    assert download_mnist() == raw  # the damaged file is fetched again
    assert verify_mnist() == raw
    assert len(MNIST(train=False, download=True)) == 10000


def test_truncated_file_is_reported(mnist_root: Path, tmp_path: Path) -> None:
    raw = copy_raw(mnist_root, tmp_path, TEST_FILES)
    images = raw / "t10k-images-idx3-ubyte"
    with images.open("r+b") as handle:
        handle.truncate(5_000_000)
    for load in (
        lambda: load_mnist_tensors(tmp_path, train=False),
        lambda: MNIST(tmp_path, train=False),
    ):
        with pytest.raises(CorruptDataError) as caught:
            load()
        message = str(caught.value)
        assert str(images) in message
        assert "truncated" in message
        assert "7840016 bytes" in message and "5000000 bytes" in message
        assert "magic number 2051" in message
        assert "practicaltorch fetch" in message and "download=True" in message


def test_wrong_header_is_reported(mnist_root: Path, tmp_path: Path) -> None:
    raw = copy_raw(mnist_root, tmp_path, TEST_FILES)
    labels = raw / "t10k-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[3] = 3  # magic 2051 (images) in a labels file
    labels.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match=r"magic number 2049.*header says magic number 2051"):
        load_mnist_tensors(tmp_path, train=False)


def test_verify_checks_md5_and_download_skips_valid_files(mnist_root: Path, tmp_path: Path) -> None:
    assert verify_mnist(mnist_root) == mnist_root / "MNIST" / "raw"
    # Valid files: nothing is downloaded (there is no network here), nothing written.
    assert download_mnist(mnist_root) == mnist_root / "MNIST" / "raw"

    raw = copy_raw(mnist_root, tmp_path)
    labels = raw / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[100] = (data[100] + 1) % 10  # still a valid label: only the md5 notices
    labels.write_bytes(bytes(data))
    load_mnist_tensors(tmp_path, train=True)  # the cheap check passes
    with pytest.raises(CorruptDataError, match="md5"):
        verify_mnist(tmp_path)


# --- tensors and the torchvision-style dataset ------------------------------


def test_tensors_shapes_types_and_statistics(mnist_root: Path) -> None:
    images, labels = load_mnist_tensors(mnist_root, train=True)
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert abs(images.mean().item()) < 1e-3
    assert abs(images.std().item() - 1.0) < 1e-3
    assert images.min().item() == pytest.approx(-MNIST_MEAN / MNIST_STD, abs=1e-5)
    assert images.max().item() == pytest.approx((1 - MNIST_MEAN) / MNIST_STD, abs=1e-5)
    assert labels.bincount(minlength=10).tolist() == TRAIN_COUNTS

    test_images, test_labels = load_mnist_tensors(mnist_root, train=False)
    assert test_images.shape == (10000, 1, 28, 28)
    assert test_labels.bincount(minlength=10).tolist() == TEST_COUNTS


def test_dataset_matches_tensors(mnist_root: Path) -> None:
    normalise = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    )
    data = MNIST(mnist_root, train=False, transform=normalise)
    assert isinstance(data, torchvision.datasets.MNIST)
    assert len(data) == 10000
    images, labels = load_mnist_tensors(mnist_root, train=False)
    for index in (0, 1234, 9999):
        image, label = data[index]
        assert image.shape == (1, 28, 28)
        assert label == int(labels[index])
        torch.testing.assert_close(image, images[index], atol=1e-5, rtol=0)


def test_one_split_is_enough_for_its_dataset(mnist_root: Path, tmp_path: Path) -> None:
    copy_raw(mnist_root, tmp_path, TEST_FILES)
    assert len(MNIST(tmp_path, train=False)) == 10000
    with pytest.raises(DataNotFoundError, match="train-images-idx3-ubyte"):
        MNIST(tmp_path, train=True)


def test_default_root_comes_from_environment(
    mnist_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRACTICALTORCH_DATA", str(mnist_root))
    assert len(MNIST(train=False)) == 10000


# --- the model ---------------------------------------------------------------


def test_digitcnn_shapes_and_channels_last() -> None:
    torch.manual_seed(0)
    model = DigitCNN(channels=(8, 16), hidden=32, dropout=0.1).eval()
    x = torch.randn(5, 1, 28, 28)
    expected = model(x)
    assert expected.shape == (5, 10)
    fast = model.to(memory_format=torch.channels_last)
    out = fast(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_digitcnn_rebuilds_from_config() -> None:
    assert ARCHITECTURES["DigitCNN"] is DigitCNN
    model = DigitCNN(channels=(8, 16, 32), convs_per_stage=2, hidden=0, batch_norm=False).eval()
    clone = build_model("DigitCNN", model.config).eval()
    clone.load_state_dict(model.state_dict())
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(clone(x), model(x))
    json.dumps(model.config)  # plain values only


def test_digitcnn_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="stages"):
        DigitCNN(channels=(8, 8, 8, 8, 8, 8))
    with pytest.raises(ValueError, match="dropout"):
        DigitCNN(dropout=1.0)


# --- the recipe --------------------------------------------------------------


def test_quick_recipe_writes_a_reloadable_run(mnist_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    report = recipe.run(recipe.Config(quick=True, root=str(mnist_root)), out, progress=False)
    assert report.name == "mnist" and report.epochs == recipe.QUICK_EPOCHS
    assert {"accuracy", "precision", "recall", "f1", "loss"} <= set(report.metrics)
    assert 0.5 < report.metrics["accuracy"] <= 1.0  # a seconds-long run still learns
    assert report.bar.threshold == 0.99 and report.bar.unit == "%"
    assert report.seconds == report.history[-1]["seconds"]
    for name in ("metrics.json", "model.pt", "confusion_matrix.png", "predictions.png"):
        assert (out / name).is_file() and name in report.files
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"]["accuracy"] == report.metrics["accuracy"]

    model, info = load_model(out)
    assert info["architecture"] == "DigitCNN" and info["metadata"]["mean"] == MNIST_MEAN
    images, labels = load_mnist_tensors(mnist_root, train=False)
    images, labels = recipe._subset(images, labels, recipe.QUICK_TEST, seed=0)
    model = model.to(memory_format=torch.channels_last)
    with torch.no_grad():
        logits = torch.cat(
            [
                model(chunk.contiguous(memory_format=torch.channels_last))
                for chunk in images.split(1000)
            ]
        )
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
    assert accuracy == pytest.approx(report.metrics["accuracy"], abs=1e-6)


def test_random_shifts_move_whole_images() -> None:
    images = torch.zeros(64, 1, 28, 28)
    images[:, 0, 14, 14] = 1.0
    batches = TensorBatches(images, torch.zeros(64, dtype=torch.long), 64)
    shifted, _ = next(iter(recipe._Shifted(batches, shift=2, background=0.0, seed=0)))
    assert shifted.shape == images.shape
    assert shifted.sum().item() == 64  # each bright pixel moved, none lost
    rows, cols = shifted[:, 0].nonzero()[:, 1:].T
    assert rows.min() >= 12 and rows.max() <= 16 and cols.min() >= 12 and cols.max() <= 16
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 5  # offsets differ per image


def test_quick_best_setting_runs(mnist_root: Path) -> None:
    report = recipe.run(recipe.Config(quick=True, best=True, root=str(mnist_root)), progress=False)
    assert report.epochs == recipe.QUICK_EPOCHS and report.config["best"] is True
    assert 0.3 < report.metrics["accuracy"] <= 1.0


def test_recipe_downloads_or_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRACTICALTORCH_MNIST_MIRROR", refused_url())
    with pytest.raises(DownloadError, match="practicaltorch fetch"):
        recipe.run(recipe.Config(quick=True, root=str(tmp_path)))


def test_fetch_and_quick_run_all_on_a_fresh_machine(local_mirror: str, tmp_path: Path) -> None:
    """`practicaltorch fetch` and `run all --quick` download real MNIST through the mirror."""
    data = tmp_path / "fresh"
    env = {**os.environ, "PRACTICALTORCH_DATA": str(data), "PRACTICALTORCH_DOWNLOAD_TIMEOUT": "10"}
    command = [sys.executable, "-m", "practicaltorch.cli"]
    done = subprocess.run(
        [*command, "run", "all", "--quick", "--out", str(tmp_path / "runs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    raw = data / "MNIST" / "raw"
    assert verify_mnist(data) == raw
    assert sorted(p.name for p in raw.iterdir()) == sorted(MNIST_FILES)  # nothing partial
    assert f"Downloading {local_mirror}train-images-idx3-ubyte.gz" in done.stderr
    assert "-> mnist" in done.stdout
    assert list((tmp_path / "runs").glob("mnist/**/metrics.json"))

    fetched = subprocess.run(
        [*command, "fetch"], env=env, capture_output=True, text=True, timeout=600
    )
    assert fetched.returncode == 0, fetched.stderr
    assert f"MNIST ready in {raw}" in fetched.stdout
    assert "Downloading" not in fetched.stderr  # intact files are not fetched again


@pytest.mark.slow
def test_default_recipe_reaches_the_bar(mnist_root: Path) -> None:
    report = recipe.run(recipe.Config(seed=0, root=str(mnist_root)), progress=False)
    assert report.metrics["accuracy"] >= 0.99, report.summary()
    assert report.passed
