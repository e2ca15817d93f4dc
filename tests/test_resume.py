"""Ctrl-C during ``practicaltorch run mnist``, then ``--resume``: as if never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from practicaltorch.cli import main
from tests.conftest import REPO

SETTINGS = ["--quick", "--epochs", "4", "--threads", "1"]


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "practicaltorch.cli", "run", "mnist", "--out", str(out), *extra]


def environment(mnist_root: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PRACTICALTORCH_DATA": str(mnist_root)}


def interrupt_after_first_checkpoint(out: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start a run, press Ctrl-C once its first epoch is saved; return the status and stderr."""
    last = out / "mnist" / "1" / "checkpoints" / "last.pt"
    child = subprocess.Popen(
        command(out, *SETTINGS), env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 600
    while not last.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    return child.returncode, stderr.decode()


def without_seconds(metrics: dict) -> dict:  # type: ignore[type-arg]
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in metrics["history"]]
    return {"metrics": metrics["metrics"], "epochs": metrics["epochs"], "history": history}


def test_ctrl_c_then_resume_gives_the_uninterrupted_result(
    mnist_root: Path, tmp_path: Path
) -> None:
    env = environment(mnist_root)
    interrupted = tmp_path / "interrupted"
    status, stderr = interrupt_after_first_checkpoint(interrupted, env)
    run_dir = interrupted / "mnist" / "1"
    if (run_dir / "metrics.json").exists():
        pytest.fail("the run finished before Ctrl-C arrived: give it more epochs")
    assert status == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert f"practicaltorch run mnist --resume --out {interrupted}" in stderr
    assert "unfinished" in stderr

    resumed = subprocess.run(
        command(interrupted, "--resume"), env=env, cwd=REPO, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert sorted(p.name for p in (interrupted / "mnist").iterdir()) == ["1"], "same folder"
    assert not (run_dir / "checkpoints").exists(), "a finished run keeps no checkpoints"

    straight = tmp_path / "straight"
    done = subprocess.run(command(straight, *SETTINGS), env=env, cwd=REPO, capture_output=True)
    assert done.returncode == 0, done.stderr
    got = json.loads((run_dir / "metrics.json").read_text())
    want = json.loads((straight / "mnist" / "1" / "metrics.json").read_text())
    assert [r["epoch"] for r in got["history"]] == [1.0, 2.0, 3.0, 4.0]
    assert without_seconds(got) == without_seconds(want)  # bit for bit, every epoch
    print("resumed:", got["metrics"], "\nstraight:", want["metrics"])


def test_resume_needs_an_unfinished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "mnist", "--resume", "--out", str(tmp_path)]) == 1
    assert "no unfinished run" in capsys.readouterr().out
    assert main(["run", "all", "--resume", "--out", str(tmp_path)]) == 2
    assert main(["run", "mnist", "--resume", "--epochs", "3", "--out", str(tmp_path)]) == 2
    assert "leave out --seed, --epochs and --quick" in capsys.readouterr().err


def test_resume_of_a_run_interrupted_before_its_first_epoch_is_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mnist" / "1").mkdir(parents=True)
    assert main(["run", "mnist", "--resume", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "no checkpoint to resume from" in out and "without --resume" in out


def test_resume_from_a_damaged_checkpoint_is_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoints = tmp_path / "mnist" / "1" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.pt").write_bytes(b"PK\x03\x04 cut off")
    assert main(["run", "mnist", "--resume", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "not a readable practicaltorch checkpoint" in out and "truncated" in out
