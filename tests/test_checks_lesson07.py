"""Lesson 07 self-checks: pass on the solution, fail with a hint on stubs and on common mistakes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from practicaltorch import EarlyStopping, TensorBatches, fit
from practicaltorch.checks import lesson07 as check
from practicaltorch.training import History
from tests.checks_helpers import stub

BACKGROUND = -0.4242


def make_history(train: list[float], valid: list[float], acc: list[float] | None = None) -> History:
    acc = acc or [0.5] * len(valid)
    return History(
        [
            {"epoch": float(i + 1), "train_loss": t, "valid_loss": v, "valid_accuracy": a}
            for i, (t, v, a) in enumerate(zip(train, valid, acc, strict=True))
        ]
    )


def test_best_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    history = make_history([1.0, 0.5, 0.2, 0.1], [0.9, 0.6, 0.7, 0.8])
    assert check.best_epoch(2, history)
    assert not check.best_epoch(None, history)
    assert not check.best_epoch(1, history)
    assert "counting from 0" in capsys.readouterr().out
    assert not check.best_epoch(4, history)
    assert "training" in capsys.readouterr().out
    assert check.best_epoch(torch.tensor(history["valid_loss"]).argmin() + 1, history)
    assert check.best_epoch(2.0, history)
    with_accuracy = make_history([1.0, 0.5, 0.2, 0.1], [0.9, 0.6, 0.7, 0.8], [0.5, 0.6, 0.7, 0.6])
    assert not check.best_epoch(3, with_accuracy)
    assert "highest validation *accuracy*" in capsys.readouterr().out
    assert not check.best_epoch(2.5, history)
    assert "whole number" in capsys.readouterr().out


@pytest.fixture(scope="module")
def overfitting_run() -> dict[str, Any]:
    """A tiny overfitting problem: few noisy points, a wide network."""
    torch.manual_seed(0)
    x = torch.randn(80, 2)
    y = (x[:, 0] > 0).long()
    y[:16] = 1 - y[:16]  # label noise to memorise
    valid = TensorBatches(x[40:], y[40:], 40)

    def run(stopper: EarlyStopping | None, epochs: int = 60) -> tuple[nn.Module, History]:
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(2, 256), nn.ReLU(), nn.Linear(256, 2))
        history = fit(
            model,
            TensorBatches(x[:40], y[:40], 10, shuffle=True),
            valid,
            nn.CrossEntropyLoss(),
            torch.optim.Adam(model.parameters(), lr=3e-2),
            epochs=epochs,
            device=torch.device("cpu"),
            callbacks=[] if stopper is None else [stopper],
        )
        return model, history

    return {"run": run, "valid": valid}


def test_early_stopping(
    overfitting_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    run, valid = overfitting_run["run"], overfitting_run["valid"]
    stopper = EarlyStopping(patience=4)
    model, history = run(stopper)
    assert check.early_stopping(stopper, history, model, valid, max_epochs=60)
    assert not check.early_stopping(None, None, None, valid, max_epochs=60)

    no_restore = EarlyStopping(patience=4, restore_best=False)
    model, history = run(no_restore)
    assert not check.early_stopping(no_restore, history, model, valid, max_epochs=60)
    assert "restore_best=True" in capsys.readouterr().out

    unused = EarlyStopping(patience=4)
    model, history = run(None)
    assert not check.early_stopping(unused, history, model, valid, max_epochs=60)
    assert "early_stopping=stopper" in capsys.readouterr().out

    watching_accuracy = EarlyStopping(monitor="valid_accuracy", mode="max", patience=4)
    assert not check.early_stopping(watching_accuracy, history, model, valid, max_epochs=60)
    assert "watch 'valid_loss'" in capsys.readouterr().out

    stopper = EarlyStopping(patience=4)
    _, history = run(stopper)
    other_model, _ = run(None, epochs=20)
    assert not check.early_stopping(stopper, history, other_model, valid, max_epochs=60)
    assert "not restored" in capsys.readouterr().out

    patient = EarlyStopping(patience=100)
    model, history = run(patient, epochs=10)
    assert not check.early_stopping(patient, history, model, valid, max_epochs=10)
    assert "never triggered" in capsys.readouterr().out


def good_scheduler(kind: str, optimizer: Any, epochs: int, steps: int) -> Any:
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    peak = optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=epochs * steps)


def test_schedulers(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.schedulers(good_scheduler)
    assert not check.schedulers(stub)
    assert "NotImplementedError" in capsys.readouterr().out

    def one_cycle_per_epoch(kind: str, optimizer: Any, epochs: int, steps: int) -> Any:
        if kind == "step":
            return good_scheduler(kind, optimizer, epochs, steps)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=epochs)

    assert not check.schedulers(one_cycle_per_epoch)
    assert "total_steps=epochs * steps_per_epoch" in capsys.readouterr().out

    def every_epoch(kind: str, optimizer: Any, epochs: int, steps: int) -> Any:
        if kind == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
        return good_scheduler(kind, optimizer, epochs, steps)

    assert not check.schedulers(every_epoch)
    assert "step_size is in epochs" in capsys.readouterr().out

    def wrong_peak(kind: str, optimizer: Any, epochs: int, steps: int) -> Any:
        if kind == "step":
            return good_scheduler(kind, optimizer, epochs, steps)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=1.0, total_steps=epochs * steps
        )

    assert not check.schedulers(wrong_peak)
    assert "max_lr" in capsys.readouterr().out

    def per_epoch_steps(kind: str, optimizer: Any, epochs: int, steps: int) -> Any:
        if kind == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, epochs // 3, gamma=0.1)
        lr = optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps
        )

    assert check.schedulers(per_epoch_steps)

    def halving(kind: str, optimizer: Any, epochs: int, steps: int) -> Any:
        if kind == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=epochs // 3, gamma=0.5)
        return good_scheduler(kind, optimizer, epochs, steps)

    assert not check.schedulers(halving)
    assert "gamma=0.1" in capsys.readouterr().out


def good_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    s, size = max_shift, images.shape[-1]
    padded = nn.functional.pad(images, (s,) * 4, value=BACKGROUND)
    offsets = torch.randint(0, 2 * s + 1, (len(images), 2), generator=generator)
    crops = [one[:, dy : dy + size, dx : dx + size] for one, (dy, dx) in zip(padded, offsets)]
    return torch.stack(crops)


def test_shift(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.shift(good_shift, background=BACKGROUND)
    assert not check.shift(stub, background=BACKGROUND)
    assert "NotImplementedError" in capsys.readouterr().out

    def zero_padding(images: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
        s, size = max_shift, images.shape[-1]
        padded = nn.functional.pad(images, (s, s, s, s))
        offsets = torch.randint(0, 2 * s + 1, (len(images), 2), generator=g).tolist()
        return torch.stack(
            [padded[i, :, dy : dy + size, dx : dx + size] for i, (dy, dx) in enumerate(offsets)]
        )

    assert not check.shift(zero_padding, background=BACKGROUND)
    assert "value=background" in capsys.readouterr().out

    def whole_batch(images: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
        dy, dx = torch.randint(1, max_shift + 1, (2,), generator=g).tolist()
        return torch.roll(images, shifts=(dy, dx), dims=(2, 3))

    assert not check.shift(whole_batch, background=BACKGROUND)
    assert "each image" in capsys.readouterr().out

    assert not check.shift(lambda images, s, g: images, background=BACKGROUND)
    assert "unchanged" in capsys.readouterr().out

    def short_range(images: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
        s, size = max_shift, images.shape[-1]
        padded = nn.functional.pad(images, (s, s, s, s), value=BACKGROUND)
        offsets = torch.randint(0, 2 * s, (len(images), 2), generator=g).tolist()
        return torch.stack(
            [padded[i, :, dy : dy + size, dx : dx + size] for i, (dy, dx) in enumerate(offsets)]
        )

    assert not check.shift(short_range, background=BACKGROUND)
    assert "upper end is left out" in capsys.readouterr().out

    def unseeded(images: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
        seed = int(torch.randint(1000, ()))
        return good_shift(images, max_shift, torch.Generator().manual_seed(seed))

    assert not check.shift(unseeded, background=BACKGROUND)
    assert "generator=generator" in capsys.readouterr().out

    def in_place(images: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
        shifted = good_shift(images, max_shift, g)
        images.copy_(shifted)
        return shifted

    assert not check.shift(in_place, background=BACKGROUND)
    assert "in place" in capsys.readouterr().out

    def rolled(images: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
        offsets = torch.randint(-max_shift, max_shift + 1, (len(images), 2), generator=g)
        return torch.stack(
            [torch.roll(x, tuple(o.tolist()), dims=(1, 2)) for x, o in zip(images, offsets)]
        )

    assert check.shift(rolled, background=BACKGROUND)  # wraps only background round: fine


def test_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.parameters(lambda m: sum(p.numel() for p in m.parameters()))
    assert not check.parameters(stub)
    assert not check.parameters(lambda m: len(list(m.parameters())))
    assert "p.numel()" in capsys.readouterr().out
    assert not check.parameters(
        lambda m: sum(p.numel() for name, p in m.named_parameters() if "weight" in name)
    )
    assert "biases" in capsys.readouterr().out
    assert check.parameters(lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad))
    assert check.parameters(lambda m: sum(v.numel() for v in m.state_dict().values()))
    assert not check.parameters(lambda m: float(sum(p.numel() for p in m.parameters())))
    assert "return an int" in capsys.readouterr().out


def test_improved(capsys: pytest.CaptureFixture[str]) -> None:
    overfit = make_history([0.1, 0.01], [0.4, 0.5], [0.90, 0.90])
    better = make_history([0.5, 0.3], [0.4, 0.2], [0.92, 0.94])
    assert check.improved(better, overfit)
    assert not check.improved(None, overfit)
    assert not check.improved(overfit, better)
    assert "should beat both" in capsys.readouterr().out
