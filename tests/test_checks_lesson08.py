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

SCRIPT = Path("/somewhere/course/scripts/train_ddp.py")


def stub(*args: Any) -> Any:
    raise NotImplementedError()


def good_train_step(
    model: nn.Module, inputs: Any, targets: Any, loss_fn: Any, optimizer: Any, device: Any
) -> float:
    inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
    optimizer.zero_grad()
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return float(loss.item())


def test_train_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.train_step(good_train_step)
    assert not check.train_step(stub)
    assert "NotImplementedError" in capsys.readouterr().out

    def no_autocast(model: nn.Module, x: Any, y: Any, loss_fn: Any, opt: Any, dev: Any) -> float:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    assert not check.train_step(no_autocast)
    assert "torch.autocast" in capsys.readouterr().out

    def float16(model: nn.Module, x: Any, y: Any, loss_fn: Any, opt: Any, dev: Any) -> float:
        opt.zero_grad()
        with torch.autocast(device_type=dev.type, dtype=torch.float16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    assert not check.train_step(float16)
    assert "bfloat16" in capsys.readouterr().out

    def no_zero_grad(model: nn.Module, x: Any, y: Any, loss_fn: Any, opt: Any, dev: Any) -> float:
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    assert not check.train_step(no_zero_grad)
    assert "zero_grad" in capsys.readouterr().out

    def returns_tensor(model: nn.Module, x: Any, y: Any, loss_fn: Any, opt: Any, dev: Any) -> Any:
        opt.zero_grad()
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    assert not check.train_step(returns_tensor)
    assert "loss.item()" in capsys.readouterr().out

    def clear_at_end(model: nn.Module, x: Any, y: Any, loss_fn: Any, opt: Any, dev: Any) -> float:
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        model.zero_grad()
        return loss.item()

    assert check.train_step(clear_at_end)

    def backward_inside(
        model: nn.Module, x: Any, y: Any, loss_fn: Any, opt: Any, dev: Any
    ) -> float:
        opt.zero_grad()
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return loss.item()

    assert not check.train_step(backward_inside)
    assert "after the with block" in capsys.readouterr().out

    def cuda_only(model: nn.Module, x: Any, y: Any, loss_fn: Any, opt: Any, dev: Any) -> float:
        opt.zero_grad()
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=True):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # autocast warns that CUDA is not available
        assert not check.train_step(cuda_only)
    assert "device_type=device.type" in capsys.readouterr().out

    def no_step(model: nn.Module, x: Any, y: Any, loss_fn: Any, opt: Any, dev: Any) -> float:
        opt.zero_grad()
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
        loss.backward()
        return loss.item()

    assert not check.train_step(no_step)
    assert "did not change" in capsys.readouterr().out


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
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(SCRIPT),
        "--out",
        str(out),
    ]


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
