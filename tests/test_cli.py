"""The command line: results are never lost or mixed, and bad input gets a clear message."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from practicaltorch import recipes, runs
from practicaltorch.cli import main
from practicaltorch.data.errors import DownloadError
from tests.conftest import REPO

QUICK = ["run", "penguins-species", "--quick", "--threads", "1"]


def quick_run(out: Path, *extra: str) -> int:
    return main([*QUICK, "--out", str(out), *extra])


def run_files(run_dir: Path) -> set[str]:
    return {p.name for p in run_dir.iterdir()}


def test_each_run_gets_a_fresh_numbered_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path = tmp_path / "résultats d'été"  # spaces, accents and quotes in the path
    assert quick_run(tmp_path) == 0
    first = tmp_path / "penguins-species" / "1"
    weights = (first / "model.pt").read_bytes()
    assert quick_run(tmp_path, "--seed", "1") == 0
    second = tmp_path / "penguins-species" / "2"
    assert (first / "model.pt").read_bytes() == weights, "the first run is untouched"
    for folder in (first, second):
        metrics = json.loads((folder / "metrics.json").read_text())
        assert run_files(folder) == set(metrics["files"]), "no stray or temporary files"
    assert json.loads((second / "metrics.json").read_text())["config"]["seed"] == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["reports"][0]["run_dir"] == str(second)
    out = capsys.readouterr().out
    assert "penguins-species" in out and "bar:" in out


def test_concurrent_runs_never_share_a_folder(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "practicaltorch.cli", *QUICK, "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    children = [subprocess.Popen(command, env=env, cwd=REPO) for _ in range(2)]
    assert [child.wait(timeout=600) for child in children] == [0, 0]
    folders = runs.run_dirs(tmp_path / "penguins-species")
    assert [f.name for f in folders] == ["1", "2"]
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        assert run_files(folder) == set(metrics["files"])


def test_run_strict_fails_when_a_bar_is_missed(tmp_path: Path) -> None:
    # One epoch of the mass regression is nowhere near its bar.
    assert main(["run", "penguins-mass", "--epochs", "1", "--out", str(tmp_path), "--strict"]) == 1


@pytest.mark.parametrize(
    ("name", "guess"), [("pengiuns-mass", "penguins-mass"), ("minst", "mnist")]
)
def test_misspelt_recipe_gets_a_did_you_mean(
    name: str, guess: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", name, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"did you mean {guess!r}?" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_bad_device_is_reported_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "cancer", "--device", "tpu", "--out", str(tmp_path)]) == 2
    assert "practicaltorch run:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_bad_epochs_name_the_option(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["run", "cancer", "--epochs", value])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "--epochs" in err and "total_steps" not in err
    assert ("at least 1" in err) if value != "two" else ("whole number" in err)


def test_too_many_threads_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from practicaltorch import cli, devices
    from practicaltorch.recipes import suite

    monkeypatch.setattr(cli, "_cpu_count", lambda: 2)
    monkeypatch.setattr(devices, "configure_threads", lambda threads=None: threads or 1)
    monkeypatch.setattr(suite, "run_suite", lambda *args, **kwargs: suite.Suite())
    assert main(["run", "cancer", "--threads", "64", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "--threads 64 is more than this machine's 2 CPU core(s)" in err


def test_out_under_a_regular_file_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert quick_run(tmp_path / "notes.txt" / "runs") == 2
    captured = capsys.readouterr()
    assert "is a file, not a folder" in captured.err and "Traceback" not in captured.err
    assert "->" not in captured.out, "nothing was trained"


def test_empty_out_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "cancer", "--out", " "])
    assert "--out: expected a folder, got an empty name" in capsys.readouterr().err


def test_sigterm_stops_like_ctrl_c() -> None:
    import signal

    from practicaltorch import cli

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), cli._sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before, "the previous handler is restored"


def test_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "runs").write_text("x")
    assert quick_run(tmp_path / "runs") == 2
    assert "already exists where a folder is needed" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_out_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert quick_run(locked) == 2
    finally:
        locked.chmod(0o700)
    captured = capsys.readouterr()
    assert "permission denied" in captured.err and "->" not in captured.out


def test_permission_denied_is_explained_even_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(runs.tempfile, "mkstemp", denied)  # what a read-only folder does
    assert quick_run(tmp_path) == 2
    captured = capsys.readouterr()
    assert f"{tmp_path}: permission denied: choose a folder you can write to" in captured.err
    assert "->" not in captured.out, "nothing was trained"


def test_full_disk_is_explained_and_earlier_runs_are_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert quick_run(tmp_path) == 0
    first = tmp_path / "penguins-species" / "1"
    before = {name: (first / name).read_bytes() for name in run_files(first)}

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs.os, "fsync", full)
    assert quick_run(tmp_path) == 2  # the run failed, and so did writing summary.json
    captured = capsys.readouterr()
    assert "could not run" in captured.out and "the disk is full" in captured.out
    assert "summary.json: the disk is full" in captured.err
    assert "Traceback" not in captured.out + captured.err
    assert {name: (first / name).read_bytes() for name in run_files(first)} == before
    assert runs.latest_run(tmp_path / "penguins-species") == first
    assert not list(tmp_path.rglob("*.tmp")), "no temporary files left"


def test_run_all_without_mnist_runs_the_rest_and_says_what_to_do(
    empty_data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A shortened `run all`: one tabular recipe, then MNIST, which cannot be downloaded.
    chosen = {name: recipes.RECIPES[name] for name in ("mnist", "penguins-species")}
    monkeypatch.setattr(recipes, "RECIPES", chosen)
    monkeypatch.setenv("PRACTICALTORCH_MNIST_MIRROR", "http://127.0.0.1:9/")  # refused at once
    out = tmp_path / "runs"
    assert main(["run", "all", "--quick", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL  mnist" in printed and "could not run" in printed
    assert "To run mnist:" in printed
    assert "practicaltorch fetch" in printed and "PRACTICALTORCH_DATA" in printed
    assert runs.is_finished(runs.latest_run(out / "penguins-species"))
    assert runs.run_dirs(out / "mnist") == [], "the failed run left no empty folder"
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["reports"]] == ["mnist", "penguins-species"]
    assert summary["reports"][0]["passed"] is False and summary["reports"][0]["error"]


def test_ctrl_c_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from practicaltorch.recipes import penguins_species

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(penguins_species, "run", interrupted)
    assert quick_run(tmp_path) == 130
    assert "interrupted" in capsys.readouterr().err
    assert runs.run_dirs(tmp_path / "penguins-species") == [], "its empty folder is removed"


def test_help_and_version_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from practicaltorch.cli import main\n"
        "for argv in (['--help'], ['--version'], ['run', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "import practicaltorch\n"
        "print(sorted(m for m in ('torch', 'numpy', 'pandas') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "practicaltorch 0.1.0" in done.stdout and "penguins-species" in done.stdout


def test_python_dash_m_is_the_same_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "practicaltorch", "run", "minst"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "did you mean 'mnist'" in done.stderr


def test_lazy_package_still_gives_every_public_name() -> None:
    import practicaltorch

    assert set(practicaltorch.__all__) <= set(dir(practicaltorch))
    for name in practicaltorch.__all__:
        assert getattr(practicaltorch, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        practicaltorch.fitt  # noqa: B018


def test_doctor_reports_missing_mnist_with_advice(
    empty_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert str(empty_data_dir) in out
    assert "practicaltorch fetch" in out


def test_doctor_passes_with_real_mnist(
    mnist_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRACTICALTORCH_DATA", str(mnist_root))
    assert main(["doctor"]) == 0
    assert "ready for the course" in capsys.readouterr().out


def test_fetch_offline_is_one_clear_message(
    empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import practicaltorch.data.mnist as mnist

    def offline(root: object = None) -> Path:
        raise DownloadError("could not download MNIST: no network")

    monkeypatch.setattr(mnist, "download_mnist", offline)
    assert main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert "could not download MNIST" in err and "Traceback" not in err


def test_export_takes_a_run_or_a_recipe_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert quick_run(tmp_path) == 0
    assert main(["export", str(tmp_path / "penguins-species")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "max relative error" in out
    exported = tmp_path / "penguins-species" / "1" / "export" / "torchscript"
    assert (exported / "model.torchscript.pt").is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nothing-here", "no such folder"),
        (lambda p: p, "not a run folder"),
    ],
)
def test_export_of_a_folder_without_a_run(
    make: object, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make(tmp_path)  # type: ignore[operator]
    assert main(["export", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_export_of_a_corrupt_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    assert main(["export", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "model.pt" in err and "Traceback" not in err
