"""Results folders: fresh numbered runs, atomic writes, clear file-system errors."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from practicaltorch import runs


def test_new_run_dir_numbers_fresh_folders(tmp_path: Path) -> None:
    folders = [runs.new_run_dir(tmp_path / "out", "mnist") for _ in range(3)]
    assert [f.name for f in folders] == ["1", "2", "3"]
    assert all(f.is_dir() and not any(f.iterdir()) for f in folders)


def test_new_run_dir_follows_the_highest_number_and_ignores_other_entries(tmp_path: Path) -> None:
    recipe = tmp_path / "mnist"
    (recipe / "7").mkdir(parents=True)
    (recipe / "notes").mkdir()
    (recipe / "12.txt").write_text("not a run")
    assert runs.new_run_dir(tmp_path, "mnist").name == "8"


def test_new_run_dir_steps_over_a_file_with_a_run_number(tmp_path: Path) -> None:
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "1").write_text("a stray file")
    assert runs.new_run_dir(tmp_path, "mnist").name == "2"
    assert (tmp_path / "mnist" / "1").read_text() == "a stray file"


def test_new_run_dir_takes_the_next_number_when_another_process_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = os.mkdir
    stolen: list[str] = []

    def racing_mkdir(path: os.PathLike[str] | str, *args: object) -> None:
        if not stolen and Path(path).name.isdigit():  # another run gets there first
            stolen.append(str(path))
            real_mkdir(path)
        real_mkdir(path)

    monkeypatch.setattr(runs.os, "mkdir", racing_mkdir)
    folder = runs.new_run_dir(tmp_path, "mnist")
    assert stolen == [str(tmp_path / "mnist" / "1")]
    assert folder.name == "2"


def test_concurrent_new_run_dirs_are_all_distinct(tmp_path: Path) -> None:
    results: list[Path] = []
    lock = threading.Lock()

    def make() -> None:
        folder = runs.new_run_dir(tmp_path, "ellipses")
        with lock:
            results.append(folder)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({f.name for f in results}) == 8


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_new_run_dir_refuses_names_that_leave_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain folder name"):
        runs.new_run_dir(tmp_path / "out", name)
    assert not (tmp_path / "out").exists()


def test_latest_run_finished_and_unfinished(tmp_path: Path) -> None:
    first, second, third = (runs.new_run_dir(tmp_path, "cancer") for _ in range(3))
    runs.write_json_atomic(first / "metrics.json", {})
    runs.write_json_atomic(second / "metrics.json", {})
    assert runs.latest_run(tmp_path / "cancer") == second
    assert runs.latest_run(tmp_path / "cancer", finished=False) == third
    assert runs.is_finished(second) and not runs.is_finished(third)


def test_latest_run_sorts_numerically(tmp_path: Path) -> None:
    for _ in range(10):
        runs.write_json_atomic(runs.new_run_dir(tmp_path, "m") / "metrics.json", {})
    assert runs.latest_run(tmp_path / "m").name == "10"


def test_latest_run_without_runs_is_a_clear_error(tmp_path: Path) -> None:
    runs.new_run_dir(tmp_path, "mnist")
    with pytest.raises(FileNotFoundError, match="no finished run"):
        runs.latest_run(tmp_path / "mnist")
    with pytest.raises(FileNotFoundError, match="no unfinished run"):
        runs.latest_run(tmp_path / "missing", finished=False)


def test_resolve_run_dir_accepts_a_run_or_a_recipe_folder(tmp_path: Path) -> None:
    first = runs.new_run_dir(tmp_path, "mnist")
    runs.write_json_atomic(first / "metrics.json", {})
    runs.new_run_dir(tmp_path, "mnist")  # unfinished: never chosen
    assert runs.resolve_run_dir(first) == first
    assert runs.resolve_run_dir(tmp_path / "mnist") == first
    legacy = tmp_path / "old"
    legacy.mkdir()
    (legacy / "model.pt").write_bytes(b"")
    assert runs.resolve_run_dir(legacy) == legacy


def test_resolve_run_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        runs.resolve_run_dir(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a file"):
        runs.resolve_run_dir(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        runs.resolve_run_dir(tmp_path / "empty")


def test_write_atomic_replaces_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    runs.write_json_atomic(target, {"a": 1})
    runs.write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_save_atomic_round_trips_with_torch(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    runs.save_atomic({"w": torch.arange(3)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.arange(3))


def test_a_full_disk_keeps_the_old_file_and_names_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.pt"
    runs.write_atomic(target, b"trained weights")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs.os, "fsync", full_disk)
    with pytest.raises(OSError) as caught:
        runs.write_atomic(target, b"new weights")
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(target)
    assert "disk is full" in runs.describe_os_error(caught.value)
    assert target.read_bytes() == b"trained weights"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_an_error_while_writing_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "curves.png"
    with pytest.raises(KeyboardInterrupt), runs.atomic_file(target) as handle:
        handle.write(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_check_writable_creates_the_folder(tmp_path: Path) -> None:
    assert runs.check_writable(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list((tmp_path / "a" / "b").iterdir()) == []


def test_check_writable_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as caught:
        runs.check_writable(tmp_path / "file" / "runs")
    assert "is a file, not a folder" in runs.describe_os_error(caught.value)
    with pytest.raises(FileExistsError) as exists:
        runs.check_writable(tmp_path / "file")
    assert "already exists" in runs.describe_os_error(exists.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_check_writable_in_a_read_only_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as caught:
            runs.check_writable(locked)
        assert caught.value.filename == str(locked)
        assert "permission denied" in runs.describe_os_error(caught.value)
    finally:
        locked.chmod(0o700)


def test_describe_os_error_keeps_messages_written_for_people(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        runs.resolve_run_dir(tmp_path)
    assert "not a run folder" in runs.describe_os_error(caught.value)


def test_describe_os_error_without_a_filename() -> None:
    read_only = OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert runs.describe_os_error(read_only).startswith("the file system")
    assert runs.describe_os_error(OSError("odd")) == "odd"


def test_run_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    target = tmp_path / "metrics.json"
    runs.write_json_atomic(target, {})
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask, "not private like a temporary file"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, where the machine allows mounting one (as root on Linux)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root on Linux)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


@pytest.mark.skipif(shutil.which("mount") is None, reason="no mount command")
def test_a_really_full_disk_keeps_the_old_file(tiny_disk: Path) -> None:
    target = tiny_disk / "model.pt"
    runs.write_atomic(target, b"old weights")
    with pytest.raises(OSError) as caught:
        runs.write_atomic(target, bytes(200_000))
    assert caught.value.errno == errno.ENOSPC
    assert "the disk is full" in runs.describe_os_error(caught.value)
    assert target.read_bytes() == b"old weights"
    assert [p.name for p in tiny_disk.iterdir()] == ["model.pt"], "no partial file left"
