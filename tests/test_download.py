"""Downloading MNIST for real, offline: through a local mirror on 127.0.0.1.

These tests use a tiny synthetic IDX set with MNIST's file names (the expected
checksums are patched to match it), so they run everywhere; the tests that need
the real files (and torchvision's real checksums) are in ``test_mnist.py``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torchvision

from practicaltorch import cli
from practicaltorch.data import download as dl
from practicaltorch.data.errors import DownloadError
from practicaltorch.data.mnist import MNIST, download_mnist, load_mnist_tensors, verify_mnist
from tests.mirror import (
    SilentServer,
    gzip_into,
    refused_url,
    serve_folder,
    synthetic_mnist,
    use_synthetic_checksums,
)

FILES = synthetic_mnist()
MIRROR = "PRACTICALTORCH_MNIST_MIRROR"
TIMEOUT = "PRACTICALTORCH_DOWNLOAD_TIMEOUT"


@pytest.fixture
def synthetic(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Make the synthetic files the MNIST that practicaltorch expects."""
    use_synthetic_checksums(FILES, monkeypatch)
    return FILES


@pytest.fixture
def mirror(
    synthetic: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Serve the synthetic files, gzipped, and point PRACTICALTORCH_MNIST_MIRROR at them.

    Yields the served folder, so a test can replace a file on the "server".
    """
    folder = gzip_into(tmp_path / "mirror", synthetic)
    with serve_folder(folder) as url:
        monkeypatch.setenv(MIRROR, url)
        yield folder


def leftovers(folder: Path) -> list[str]:
    """Files in ``folder`` that are neither an MNIST file nor expected: partial downloads."""
    return sorted(p.name for p in folder.iterdir() if p.name not in FILES)


def test_fetch_into_an_empty_data_dir(
    mirror: Path, empty_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["fetch"]) == 0
    raw = empty_data_dir / "MNIST" / "raw"
    assert verify_mnist() == raw
    for name, data in FILES.items():
        assert (raw / name).read_bytes() == data
    assert leftovers(raw) == []  # no .gz, no temporary file
    if os.name == "posix":  # readable as any new file is, for a shared data folder
        mask = os.umask(0)
        os.umask(mask)
        assert {(raw / name).stat().st_mode & 0o777 for name in FILES} == {0o666 & ~mask}
    out = capsys.readouterr()
    assert f"MNIST ready in {raw}" in out.out
    assert "Downloading http://127.0.0.1:" in out.err


def test_dataset_and_tensors_download_when_asked(mirror: Path, empty_data_dir: Path) -> None:
    data = MNIST(train=False, download=True)
    assert len(data) == 32 and data[3][1] == 3
    images, labels = load_mnist_tensors(train=True, download=True)
    assert images.shape == (64, 1, 28, 28) and labels.tolist()[:3] == [0, 1, 2]


def test_intact_files_are_not_downloaded_again(mirror: Path, empty_data_dir: Path) -> None:
    raw = download_mnist()
    before = {name: (raw / name).stat().st_ino for name in FILES}
    for archive in mirror.iterdir():
        archive.unlink()  # the server has nothing now: any request would fail
    assert download_mnist() == raw
    assert {name: (raw / name).stat().st_ino for name in FILES} == before


def test_a_damaged_file_is_replaced_only_by_a_verified_one(
    mirror: Path, empty_data_dir: Path
) -> None:
    raw = download_mnist()
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(FILES[labels.name][:-1] + b"\x07")  # a wrong last label
    assert download_mnist() == raw
    assert labels.read_bytes() == FILES[labels.name]
    assert leftovers(raw) == []


def wrong_contents(mirror: Path, name: str) -> None:
    """Make the server hold a valid gzip of the wrong contents for ``name``."""
    data = bytearray(FILES[name])
    data[-1] ^= 1
    gzip_into(mirror, {name: bytes(data)})


def test_md5_mismatch_is_rejected_and_keeps_the_old_file(
    mirror: Path, empty_data_dir: Path
) -> None:
    raw = download_mnist()
    name = "train-images-idx3-ubyte"
    damaged = bytearray(FILES[name])
    damaged[500] ^= 1
    (raw / name).write_bytes(bytes(damaged))  # a bad local copy, to be repaired
    wrong_contents(mirror, name)  # ...but the server's copy is bad too
    with pytest.raises(DownloadError) as caught:
        download_mnist()
    message = str(caught.value)
    assert f"no mirror served {name}.gz intact" in message and "md5" in message
    assert (raw / name).read_bytes() == bytes(damaged)  # left as it was, not deleted
    for other in FILES.keys() - {name}:  # the good files are untouched
        assert (raw / other).read_bytes() == FILES[other]
    assert leftovers(raw) == []


def test_md5_mismatch_into_an_empty_dir_leaves_nothing(mirror: Path, empty_data_dir: Path) -> None:
    wrong_contents(mirror, "t10k-labels-idx1-ubyte")
    with pytest.raises(DownloadError, match="expected"):
        download_mnist()
    raw = empty_data_dir / "MNIST" / "raw"
    assert not (raw / "t10k-labels-idx1-ubyte").exists()
    assert leftovers(raw) == []


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        (b"not a gzip file at all", "not a complete gzip file"),
        (None, "not a complete gzip file"),  # a gzip cut short
    ],
)
def test_a_broken_archive_leaves_no_partial_file(
    mirror: Path, empty_data_dir: Path, served: bytes | None, reason: str
) -> None:
    archive = mirror / "t10k-images-idx3-ubyte.gz"
    archive.write_bytes(served if served is not None else archive.read_bytes()[:-40])
    with pytest.raises(DownloadError, match=reason):
        download_mnist()
    raw = empty_data_dir / "MNIST" / "raw"
    assert not (raw / "t10k-images-idx3-ubyte").exists()
    assert leftovers(raw) == []


def test_archive_checksum_of_torchvision_mirrors_is_checked(
    synthetic: dict[str, bytes],
    tmp_path: Path,
    empty_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With no mirror variable, torchvision's mirrors and .gz checksums are used.
    folder = gzip_into(tmp_path / "mirror", synthetic)
    sums = [
        (p.name, hashlib.md5(p.read_bytes(), usedforsecurity=False).hexdigest())
        for p in folder.iterdir()
    ]
    sums[0] = (sums[0][0], "0" * 32)
    monkeypatch.delenv(MIRROR, raising=False)
    with serve_folder(folder) as url:
        monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [url])
        monkeypatch.setattr(torchvision.datasets.MNIST, "resources", sums)
        with pytest.raises(DownloadError, match="does not match its md5 checksum"):
            download_mnist()
    assert leftovers(empty_data_dir / "MNIST" / "raw") == []


def test_missing_file_on_the_mirror_is_named(mirror: Path, empty_data_dir: Path) -> None:
    (mirror / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DownloadError, match=r"train-labels-idx1-ubyte\.gz.*404"):
        download_mnist()


def test_offline_message_says_what_to_do(
    synthetic: dict[str, bytes], empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIRROR, refused_url())
    with pytest.raises(DownloadError) as caught:
        MNIST(train=False, download=True)
    message = str(caught.value)
    assert "could not download" in message and "refused" in message
    for advice in ("practicaltorch fetch", "PRACTICALTORCH_DATA", MIRROR, "is reachable"):
        assert advice in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert leftovers(empty_data_dir / "MNIST" / "raw") == []


def test_a_silent_server_times_out_with_a_clear_message(
    synthetic: dict[str, bytes], empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TIMEOUT, "1.5")
    with SilentServer() as silent:
        monkeypatch.setenv(MIRROR, silent.url)
        with pytest.raises(DownloadError) as caught:
            download_mnist()
        asked = len(silent.accepted)
    message = str(caught.value)
    assert "no answer within 1.5 s (timed out)" in message
    assert MIRROR in message and "practicaltorch fetch" in message
    assert asked == 1  # a silent mirror is waited for once, not once per file


def test_a_silent_mirror_is_skipped_for_the_next(
    synthetic: dict[str, bytes], tmp_path: Path, empty_data_dir: Path
) -> None:
    folder = gzip_into(tmp_path / "mirror", synthetic)
    raw = empty_data_dir / "MNIST" / "raw"
    resources = [dl.GzipResource(n, hashlib.md5(d).hexdigest(), len(d)) for n, d in FILES.items()]
    with SilentServer() as silent, serve_folder(folder) as good:
        fetched = dl.download_gzipped(resources, raw, [silent.url, good], timeout=1.0)
        asked = len(silent.accepted)
    assert sorted(p.name for p in fetched) == sorted(FILES)
    assert asked == 1
    assert leftovers(raw) == []


def test_fetch_command_times_out_on_a_silent_server(
    synthetic: dict[str, bytes], tmp_path: Path
) -> None:
    # The real command in a fresh process, with the timeout from the environment.
    env = {**os.environ, "PRACTICALTORCH_DATA": str(tmp_path / "data"), TIMEOUT: "2"}
    with SilentServer() as silent:
        env[MIRROR] = silent.url
        done = subprocess.run(
            [sys.executable, "-m", "practicaltorch.cli", "fetch"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,  # a hang fails the test instead of stalling the suite
        )
    assert done.returncode == 1, done.stderr
    assert "no answer within 2 s (timed out)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (MIRROR, "mirror.example.org/mnist", "is not an http:// or https:// URL"),
        (MIRROR, "ftp://mirror.example.org/mnist/", "is not an http:// or https:// URL"),
        (MIRROR, "file:///media/usb/mnist/", "set PRACTICALTORCH_DATA instead"),
        (TIMEOUT, "soon", "not a positive number of seconds"),
        (TIMEOUT, "0", "not a positive number of seconds"),
        (TIMEOUT, "-5", "not a positive number of seconds"),
    ],
)
def test_unusable_settings_are_named(
    synthetic: dict[str, bytes],
    empty_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(MIRROR, refused_url())
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=expected):
        download_mnist()
    assert cli.main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert variable in err and expected in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unwritable_data_dir_is_explained(mirror: Path, empty_data_dir: Path) -> None:
    empty_data_dir.chmod(0o500)
    try:
        with pytest.raises(DownloadError, match=r"permission denied.*PRACTICALTORCH_DATA"):
            download_mnist()
    finally:
        empty_data_dir.chmod(0o700)


def test_an_interrupted_download_leaves_no_partial_file(
    mirror: Path, empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_install", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_mnist()
    assert leftovers(empty_data_dir / "MNIST" / "raw") == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "x"), "the disk is full"),
        (PermissionError(errno.EACCES, "Permission denied", "x"), "permission denied"),
    ],
)
def test_disk_errors_are_explained(
    mirror: Path,
    empty_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: OSError,
    expected: str,
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(dl, "_install", fail)
    with pytest.raises(DownloadError, match=expected) as caught:
        download_mnist()
    assert "PRACTICALTORCH_DATA" in str(caught.value)
    assert leftovers(empty_data_dir / "MNIST" / "raw") == []


def test_weights_download_times_out_on_a_silent_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from practicaltorch.models import transfer

    monkeypatch.setenv(TIMEOUT, "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with SilentServer() as silent:
        weights = SimpleNamespace(url=f"{silent.url}resnet18-f37072fd.pth")
        monkeypatch.setattr(transfer, "_default_weights", lambda arch: weights)
        with pytest.raises(DownloadError, match=r"no answer within 1 s.*practicaltorch fetch"):
            transfer.fetch_weights("resnet18")
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == []


def test_files_left_by_a_killed_download_are_cleaned_up(mirror: Path, empty_data_dir: Path) -> None:
    raw = empty_data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    old = raw / ".t10k-labels-idx1-ubyte.gz.0123abcd.part"
    old_tmp = raw / ".t10k-labels-idx1-ubyte.k2j4h5.tmp"
    fresh = raw / ".train-images-idx3-ubyte.gz.4567cdef.part"  # another download, running
    for path in (old, old_tmp, fresh):
        path.write_bytes(b"partial")
    for path in (old, old_tmp):
        os.utime(path, (1e9, 1e9))  # untouched since 2001
    download_mnist()
    assert leftovers(raw) == [fresh.name]
