"""Lesson 08 self-checks: pass on the solution, fail with a hint on stubs and on common mistakes."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from practicaltorch.checks import lesson08 as check
from tests.checks_helpers import stub

SCRIPT = Path("/somewhere/course/scripts/train_ddp.py")


def amp_step(
    *,
    device_type: str | None = "device",
    dtype: torch.dtype = torch.bfloat16,
    zero: str = "first",
    step: bool = True,
    backward_inside: bool = False,
    as_tensor: bool = False,
) -> Any:
    """Return a mixed-precision training step written one way: the solution or one mistake.

    ``device_type`` is ``"device"`` (the model's device), another name, or ``None``
    (no autocast); ``zero`` is ``"first"``, ``"last"`` (model.zero_grad()) or ``"never"``.
    """

    def train_step(
        model: nn.Module, inputs: Any, targets: Any, loss_fn: Any, optimizer: Any, device: Any
    ) -> Any:
        inputs, targets = (
            inputs.to(device, non_blocking=True),
            targets.to(device, non_blocking=True),
        )
        if zero == "first":
            optimizer.zero_grad()
        where = device.type if device_type == "device" else device_type or "cpu"
        with torch.autocast(device_type=where, dtype=dtype, enabled=device_type is not None):
            loss = loss_fn(model(inputs), targets)
            if backward_inside:
                loss.backward()
                optimizer.step()
        if not backward_inside:
            loss.backward()
            if step:
                optimizer.step()
        if zero == "last":
            model.zero_grad()
        return loss if as_tensor else float(loss.item())

    return train_step


def test_train_step_accepts_correct_forms() -> None:
    assert check.train_step(amp_step())
    assert check.train_step(amp_step(zero="last"))


@pytest.mark.parametrize(
    ("train_step", "hint"),
    [
        (stub, "NotImplementedError"),
        (amp_step(device_type=None), "torch.autocast"),
        (amp_step(dtype=torch.float16), "bfloat16"),
        (amp_step(zero="never"), "zero_grad"),
        (amp_step(as_tensor=True), "loss.item()"),
        (amp_step(backward_inside=True), "after the with block"),
        (amp_step(device_type="cuda"), "device_type=device.type"),
        (amp_step(step=False), "did not change"),
    ],
)
def test_train_step_names_each_mistake(
    train_step: Any, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # autocast warns that CUDA is not available
        assert not check.train_step(train_step)
    assert hint in capsys.readouterr().out


def test_channels_last(capsys: pytest.CaptureFixture[str]) -> None:
    def good(model: nn.Module, images: torch.Tensor) -> Any:
        cl = torch.channels_last
        return model.to(memory_format=cl), images.contiguous(memory_format=cl)

    assert check.channels_last(good)
    assert not check.channels_last(stub)
    assert not check.channels_last(lambda m, x: (m.to(memory_format=torch.channels_last), x))
    assert "images are not channels_last" in capsys.readouterr().out
    assert not check.channels_last(
        lambda m, x: (m.to(memory_format=torch.channels_last), x.permute(0, 2, 3, 1).contiguous())
    )
    assert not check.channels_last(lambda m, x: m)
    assert "pair" in capsys.readouterr().out
    cl = torch.channels_last
    assert check.channels_last(lambda m, x: (m.to(memory_format=cl), x.to(memory_format=cl)))
    assert not check.channels_last(lambda m, x: (m, x.contiguous(memory_format=cl)))
    assert "the model is not channels_last" in capsys.readouterr().out
    assert not check.channels_last(lambda m, x: (x.contiguous(memory_format=cl), m))
    assert "in that order" in capsys.readouterr().out


def good_command(out: Path) -> list[str]:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    return [sys.executable, *launcher, str(SCRIPT), "--out", str(out)]


def test_launch_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = good_command(tmp_path)
    assert check.launch_command(command, SCRIPT)
    torchrun = ["torchrun", "--standalone", "--nproc_per_node=2", str(SCRIPT), "--out", "x"]
    assert check.launch_command(torchrun, SCRIPT)
    assert not check.launch_command(None, SCRIPT)
    assert not check.launch_command(" ".join(command), SCRIPT)
    assert "list of strings" in capsys.readouterr().out
    assert not check.launch_command([w for w in command if w != "--standalone"], SCRIPT)
    assert "--standalone" in capsys.readouterr().out
    one = [*command]
    one[5] = "1"
    assert not check.launch_command(one, SCRIPT)
    assert "wants 2" in capsys.readouterr().out
    assert not check.launch_command([sys.executable, str(SCRIPT), "--out", "x"], SCRIPT)
    assert "torch.distributed.run" in capsys.readouterr().out
    assert not check.launch_command(command[:-2], SCRIPT)
    assert "--out" in capsys.readouterr().out
    with_path = [*command[:6], SCRIPT, *command[7:]]
    assert check.launch_command(with_path, SCRIPT)
    assert not check.launch_command(with_path, Path("/elsewhere/train_ddp.py"))
    assert "does not name the script" in capsys.readouterr().out
    late = [sys.executable, "-m", "torch.distributed.run", "--standalone", str(SCRIPT)]
    assert not check.launch_command([*late, "--nproc-per-node", "2", "--out", "x"], SCRIPT)
    assert "before the script" in capsys.readouterr().out


def test_world_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.world_size({"world_size": 2}, 2)
    assert not check.world_size(None, 2)
    assert not check.world_size({"world_size": 1}, 2)
    assert "--nproc-per-node" in capsys.readouterr().out
    assert not check.world_size({"loss": 1.0}, 2)


def test_matches(capsys: pytest.CaptureFixture[str]) -> None:
    one = {"valid_loss": 0.3130, "valid_accuracy": 0.917}
    assert check.matches({"valid_loss": 0.3127, "valid_accuracy": 0.917}, one)
    assert not check.matches(None, one)
    assert not check.matches({"valid_loss": 0.40, "valid_accuracy": 0.90}, one)
    assert "global batch size" in capsys.readouterr().out
    assert not check.matches({"valid_loss": 0.3}, one)
