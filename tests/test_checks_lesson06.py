"""Lesson 06 self-checks: pass on the solution, fail with a hint on stubs and on common mistakes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from practicaltorch.checks import lesson06 as check
from practicaltorch.export import TorchScriptDeprecationWarning, export_torchscript, verify
from practicaltorch.models import MLP
from practicaltorch.training import History
from practicaltorch.training.checkpoints import save_checkpoint
from tests.checks_helpers import stub


@pytest.fixture
def trained() -> tuple[MLP, torch.optim.Optimizer, Any]:
    torch.manual_seed(0)
    model = MLP(5, 3, hidden=(8,), dropout=0.1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=10)
    model(torch.randn(4, 5)).sum().backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def full_checkpoint(model: MLP, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": 1,
        "config": dict(model.config),
        "metadata": {"classes": ["a", "b", "c"]},
    }


def test_checkpoint(
    trained: tuple[MLP, Any, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, optimizer, scheduler = trained
    good = tmp_path / "good.pt"
    torch.save(full_checkpoint(model, optimizer, scheduler), good)
    assert check.checkpoint(good, model=model, epochs=1)
    assert not check.checkpoint(None)
    assert not check.checkpoint(tmp_path / "never_written.pt")
    assert "torch.save" in capsys.readouterr().out

    whole = tmp_path / "whole.pt"
    torch.save(model, whole)
    assert not check.checkpoint(whole)
    assert "weights_only=True" in capsys.readouterr().out

    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)
    assert not check.checkpoint(bare)
    assert "bare state_dict" in capsys.readouterr().out

    no_optimizer = tmp_path / "no_optimizer.pt"
    contents = full_checkpoint(model, optimizer, scheduler)
    del contents["optimizer"]
    torch.save(contents, no_optimizer)
    assert not check.checkpoint(no_optimizer)
    assert "AdamW" in capsys.readouterr().out

    atomic = tmp_path / "atomic.pt"
    save_checkpoint(atomic, **full_checkpoint(model, optimizer, scheduler))
    assert check.checkpoint(atomic, model=model, epochs=1)

    before_training = tmp_path / "before_training.pt"
    contents = full_checkpoint(model, optimizer, scheduler)
    contents["model"] = MLP(**model.config).state_dict()
    torch.save(contents, before_training)
    assert not check.checkpoint(before_training, model=model, epochs=1)
    assert "after training" in capsys.readouterr().out

    new_optimizer = tmp_path / "new_optimizer.pt"
    contents = full_checkpoint(model, optimizer, scheduler)
    contents["optimizer"] = torch.optim.AdamW(model.parameters()).state_dict()
    torch.save(contents, new_optimizer)
    assert not check.checkpoint(new_optimizer, model=model, epochs=1)
    assert "not of a new one" in capsys.readouterr().out

    no_epoch = tmp_path / "no_epoch.pt"
    torch.save({**full_checkpoint(model, optimizer, scheduler), "epoch": 0}, no_epoch)
    assert not check.checkpoint(no_epoch, model=model, epochs=1)
    assert "how many epochs are done (1)" in capsys.readouterr().out


def loader(**options: Any) -> Any:
    """A `load_penguin_model` that passes `options` to torch.load."""

    def load_penguin_model(path: Path) -> MLP:
        contents = torch.load(path, map_location="cpu", **options)
        restored = MLP(**contents["config"])
        restored.load_state_dict(contents["model"])
        return restored.eval()

    return load_penguin_model


def test_restored(trained: tuple[MLP, Any, Any], capsys: pytest.CaptureFixture[str]) -> None:
    model, _, _ = trained
    inputs = torch.randn(6, 5)
    copy = MLP(**model.config)
    copy.load_state_dict(model.state_dict())
    assert check.restored(copy.eval(), model, inputs)
    assert check.restored(copy.eval(), model, inputs, load=loader(weights_only=True))
    assert check.restored(copy.eval(), model, inputs, load=loader())  # safe by default
    assert not check.restored(copy.eval(), model, inputs, load=loader(weights_only=False))
    assert "weights_only=True" in capsys.readouterr().out

    def unsafe_then_fails(path: Path) -> MLP:
        torch.load(path, weights_only=False)
        raise KeyError("metadata")

    assert not check.restored(copy.eval(), model, inputs, load=unsafe_then_fails)
    assert "weights_only=True" in capsys.readouterr().out
    assert model.training, "the check must leave the original's mode alone"
    assert not check.restored(None, model, inputs)
    assert not check.restored(copy.train(), model, inputs)
    assert ".eval()" in capsys.readouterr().out
    assert not check.restored(MLP(**model.config).eval(), model, inputs)
    assert "load_state_dict" in capsys.readouterr().out
    assert not check.restored(model.state_dict(), model, inputs)
    assert "dictionary" in capsys.readouterr().out


def history(values: list[float], start: int = 1) -> History:
    return History(
        [
            {"epoch": float(start + i), "train_loss": v, "valid_loss": v / 2}
            for i, v in enumerate(values)
        ]
    )


def test_resumed(capsys: pytest.CaptureFixture[str]) -> None:
    reference = history([1.0, 0.8, 0.6, 0.5])
    assert check.resumed(history([1.0, 0.8, 0.6, 0.5]), reference, killed_after=2)
    assert not check.resumed(None, reference, killed_after=2)
    assert not check.resumed(history([0.9, 0.7, 0.6, 0.45]), reference, killed_after=2)
    assert "resume=True" in capsys.readouterr().out
    assert not check.resumed(history([1.0, 0.8]), reference, killed_after=2)
    assert "total number of epochs" in capsys.readouterr().out
    assert not check.resumed(history([1.0, 0.8, 0.6, 0.4]), reference, killed_after=2)
    assert "make_model" in capsys.readouterr().out


def test_verified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorchScriptDeprecationWarning)
        exported = export_torchscript(MLP(5, 3, hidden=(4,)), torch.randn(2, 5), tmp_path)
    assert check.verified(verify(exported.out_dir), "torchscript")
    assert not check.verified(None)
    assert not check.verified(exported)
    assert "verify(" in capsys.readouterr().out
    assert not check.verified(verify(exported.out_dir), "onnx")


def good_from_fortran(buffer: bytes, n_features: int, n_samples: int) -> torch.Tensor:
    values = np.frombuffer(buffer, dtype=np.float32).reshape(n_samples, n_features)
    return torch.from_numpy(values.copy())


def test_from_fortran(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.from_fortran(good_from_fortran)
    assert not check.from_fortran(stub)
    assert "NotImplementedError" in capsys.readouterr().out

    def fortran_order(buffer: bytes, n_features: int, n_samples: int) -> torch.Tensor:
        values = np.frombuffer(buffer, dtype=np.float32).reshape(n_samples, n_features, order="F")
        return torch.from_numpy(values.copy())

    assert not check.from_fortran(fortran_order)
    assert "wrong places" in capsys.readouterr().out

    def transposed(buffer: bytes, n_features: int, n_samples: int) -> torch.Tensor:
        return torch.from_numpy(np.frombuffer(buffer, np.float32).reshape(n_features, -1).copy())

    assert not check.from_fortran(transposed)
    assert "one row per sample" in capsys.readouterr().out

    def numpy_only(buffer: bytes, n_features: int, n_samples: int) -> Any:
        return np.frombuffer(buffer, dtype=np.float32).reshape(n_samples, n_features)

    assert not check.from_fortran(numpy_only)
    assert "torch.from_numpy" in capsys.readouterr().out

    def float64(buffer: bytes, n_features: int, n_samples: int) -> torch.Tensor:
        values = np.frombuffer(buffer).reshape(n_samples, n_features)
        return torch.from_numpy(values.copy())

    assert not check.from_fortran(float64)
    assert "dtype=np.float32" in capsys.readouterr().out

    def with_torch(buffer: bytes, n_features: int, n_samples: int) -> torch.Tensor:
        return torch.frombuffer(bytearray(buffer), dtype=torch.float32).view(n_samples, -1)

    def fortran_view(buffer: bytes, n_features: int, n_samples: int) -> torch.Tensor:
        values = np.frombuffer(buffer, np.float32).reshape(n_features, n_samples, order="F")
        return torch.from_numpy(values.T.copy())

    assert check.from_fortran(with_torch)
    assert check.from_fortran(fortran_view)


def test_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.deployment({"TorchScript": 0.0, "ONNX": 1e-7})
    assert not check.deployment(None)
    assert not check.deployment({"TorchScript": 0.0, "ONNX": 0.3})
    assert "eval mode" in capsys.readouterr().out
    assert not check.deployment({})
