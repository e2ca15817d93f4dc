"""``fit`` under torchrun: two CPU processes on gloo agree with one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from practicaltorch import distributed
from tests.conftest import REPO

SCRIPT = REPO / "tests" / "scripts" / "ddp_blobs.py"


def launch(out: Path, processes: int, *extra: str) -> str:
    out.mkdir(parents=True, exist_ok=True)
    if processes == 1:
        command = [sys.executable, str(SCRIPT), str(out), *extra]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            str(SCRIPT),
            str(out),
            *extra,
        ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def compare(a: Path, b: Path) -> None:
    weights_a = torch.load(a / "weights.pt", weights_only=True)
    weights_b = torch.load(b / "weights.pt", weights_only=True)
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        torch.testing.assert_close(weights_a[key], weights_b[key], rtol=1e-4, atol=1e-5)
    history_a = json.loads((a / "history.json").read_text())
    history_b = json.loads((b / "history.json").read_text())
    for ra, rb in zip(history_a, history_b, strict=True):
        for key in ("train_loss", "valid_loss", "valid_accuracy"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-5), key


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single")
    launch(out, 1)
    assert (out / "world.txt").read_text() == "1"
    return out


def test_two_processes_match_one(single: Path, tmp_path: Path) -> None:
    stdout = launch(tmp_path, 2)
    assert (tmp_path / "world.txt").read_text() == "2"
    # Only the main process logs: three epochs, three lines, not six.
    assert stdout.count("epoch ") == 3, stdout
    compare(single, tmp_path)


def test_two_processes_resume_after_interruption(single: Path, tmp_path: Path) -> None:
    launch(tmp_path, 2, "--stop-after", "2")
    launch(tmp_path, 2, "--resume")
    history = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1.0, 2.0, 3.0]
    compare(single, tmp_path)


def test_helpers_are_no_ops_without_torchrun() -> None:
    assert not distributed.is_distributed()
    assert distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.is_main_process()
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap_model(model, torch.device("cpu")) is model
    assert distributed.unwrap(model) is model
    assert distributed.init_from_env("cpu") == torch.device("cpu")
