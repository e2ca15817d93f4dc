"""Learners' answers shared by the self-check tests: stubs, correct forms and mistakes.

Each training loop has the signature ``(model, loader, loss_fn, optimizer, device,
scheduler=None)``, steps the scheduler (if any) after each optimiser step, and returns
the mean batch loss; each evaluation loop ``(model, loader, loss_fn,
device)``. ``CORRECT_TRAINING`` holds the forms every training check must accept,
``WRONG_TRAINING`` the mistakes it must reject, with a word of the expected hint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

Batches = Iterable[tuple[Tensor, Tensor]]
Optimizer = torch.optim.Optimizer


def stub(*args: Any) -> Any:
    """The exercise notebook's stub."""
    raise NotImplementedError()


def output(capsys: pytest.CaptureFixture[str]) -> str:
    """Return what the checks printed since the last call."""
    return capsys.readouterr().out


def _step(scheduler: Any) -> None:
    if scheduler is not None:
        scheduler.step()


def train_zero_first(
    model: nn.Module,
    loader: Batches,
    loss_fn: Any,
    optimizer: Optimizer,
    device: Any,
    scheduler: Any = None,
) -> float:
    """The worked solution: zero_grad, forward, loss, backward, step; the mean loss."""
    model.train()
    losses = []
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        _step(scheduler)
        losses.append(loss.item())
    return sum(losses) / len(losses)


def train_model_zero_grad_last(
    model: nn.Module,
    loader: Batches,
    loss_fn: Any,
    optimizer: Optimizer,
    device: Any,
    scheduler: Any = None,
) -> float:
    """Correct too: model.zero_grad() at the end of each step, a mean over the samples."""
    model.train()
    total = 0.0
    for inputs, targets in loader:
        loss = loss_fn(model(inputs.to(device)), targets.to(device))
        loss.backward()
        optimizer.step()
        _step(scheduler)
        model.zero_grad()
        total += loss.item() * len(targets)
    return total / len(loader.dataset)  # type: ignore[attr-defined]


def train_no_zero_grad(
    model: nn.Module,
    loader: Batches,
    loss_fn: Any,
    optimizer: Optimizer,
    device: Any,
    scheduler: Any = None,
) -> float:
    """Mistake: gradients are never cleared."""
    model.train()
    losses = []
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        _step(scheduler)
        losses.append(loss.item())
    return sum(losses) / len(losses)


def train_zero_between(
    model: nn.Module,
    loader: Batches,
    loss_fn: Any,
    optimizer: Optimizer,
    device: Any,
    scheduler: Any = None,
) -> float:
    """Mistake: the gradients are cleared between backward() and step()."""
    model.train()
    losses = []
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        _step(scheduler)
        losses.append(loss.item())
    return sum(losses) / len(losses)


def train_no_train_mode(
    model: nn.Module,
    loader: Batches,
    loss_fn: Any,
    optimizer: Optimizer,
    device: Any,
    scheduler: Any = None,
) -> float:
    """Mistake: model.train() is missing."""
    losses = []
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        _step(scheduler)
        losses.append(loss.item())
    return sum(losses) / len(losses)


def train_step_once(
    model: nn.Module,
    loader: Batches,
    loss_fn: Any,
    optimizer: Optimizer,
    device: Any,
    scheduler: Any = None,
) -> float:
    """Mistake: optimizer.step() after the loop, once per epoch."""
    model.train()
    optimizer.zero_grad()
    losses = []
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        losses.append(loss.item())
    optimizer.step()
    return sum(losses) / len(losses)


def train_last_loss(
    model: nn.Module,
    loader: Batches,
    loss_fn: Any,
    optimizer: Optimizer,
    device: Any,
    scheduler: Any = None,
) -> float:
    """Mistake: returns the last batch's loss, not the mean."""
    model.train()
    loss = torch.zeros(())
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        _step(scheduler)
    return loss.item()


def train_sum_of_tensors(
    model: nn.Module,
    loader: Batches,
    loss_fn: Any,
    optimizer: Optimizer,
    device: Any,
    scheduler: Any = None,
) -> Tensor:
    """Mistake: adds up the loss tensors (no .item()), keeping every batch's graph."""
    model.train()
    total = torch.zeros(())
    count = 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        _step(scheduler)
        total = total + loss
        count += 1
    return total / count


CORRECT_TRAINING: list[Callable[..., Any]] = [train_zero_first, train_model_zero_grad_last]
WRONG_TRAINING: list[tuple[Callable[..., Any], str]] = [
    (train_no_zero_grad, "zero_grad"),
    (train_zero_between, "did not change"),
    (train_no_train_mode, "model.train()"),
    (train_step_once, "optimizer.step() 1 times"),
    (train_last_loss, "last batch"),
    (train_sum_of_tensors, "loss.item()"),
]
