"""Learners' answers shared by the self-check tests: stubs, correct forms and mistakes.

Each training loop has the signature ``(model, loader, loss_fn, optimizer, device,
scheduler=None)``, steps the scheduler (if any) after each optimiser step, and returns
the mean batch loss. ``CORRECT_TRAINING`` holds the forms every training check must
accept, ``WRONG_TRAINING`` the mistakes it must reject, with a word of the expected hint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

Batches = Iterable[tuple[Tensor, Tensor]]


def stub(*args: Any) -> Any:
    """The exercise notebook's stub."""
    raise NotImplementedError()


def output(capsys: pytest.CaptureFixture[str]) -> str:
    """Return what the checks printed since the last call."""
    return capsys.readouterr().out


def eval_predictions(net: nn.Module, inputs: Tensor) -> Tensor:
    """Predict ``inputs`` in evaluation mode after one training-mode pass, which moves
    batch norm's running statistics; ``net`` is left in training mode."""
    net(inputs)
    with torch.no_grad():
        predicted = net.eval()(inputs)
    net.train()
    return predicted


def said(capsys: pytest.CaptureFixture[str], text: str) -> bool:
    """Whether the checks printed ``text`` since the last call."""
    return text in capsys.readouterr().out


def training_loop(
    *,
    zero: str = "first",
    train_mode: bool = True,
    step_each_batch: bool = True,
    schedule_each_batch: bool = True,
    returns: str = "mean",
) -> Callable[..., Any]:
    """Return a training loop written one way: the worked solution or one mistake.

    ``zero`` is where the gradients are cleared: ``"first"`` (optimizer.zero_grad()
    before the forward pass), ``"last"`` (model.zero_grad() after the step),
    ``"between"`` (between backward() and step(), a mistake) or ``"never"``.
    ``returns`` is ``"mean"``, ``"per_sample"`` (the mean over samples), ``"last"``
    (the last batch's loss) or ``"tensor"`` (the mean of the loss tensors).
    """

    def train(
        model: nn.Module,
        loader: Batches,
        loss_fn: Any,
        optimizer: torch.optim.Optimizer,
        device: Any,
        scheduler: Any = None,
    ) -> Any:
        if train_mode:
            model.train()
        if not step_each_batch:
            optimizer.zero_grad()
        losses, sizes = [], []
        for inputs, targets in loader:
            if zero == "first" and step_each_batch:
                optimizer.zero_grad()
            loss = loss_fn(model(inputs.to(device)), targets.to(device))
            loss.backward()
            if zero == "between":
                optimizer.zero_grad()
            if step_each_batch:
                optimizer.step()
                if scheduler is not None and schedule_each_batch:
                    scheduler.step()
            if zero == "last":
                model.zero_grad()
            losses.append(loss if returns == "tensor" else loss.item())
            sizes.append(len(targets))
        if not step_each_batch:
            optimizer.step()
        if scheduler is not None and not schedule_each_batch:
            scheduler.step()
        if returns == "last":
            return losses[-1]
        if returns == "per_sample":
            return sum(v * n for v, n in zip(losses, sizes)) / sum(sizes)
        return sum(losses) / len(losses)

    return train


train_zero_first = training_loop()
"""The worked solution: zero_grad, forward, loss, backward, step; the mean loss."""

CORRECT_TRAINING: list[Callable[..., Any]] = [
    train_zero_first,
    training_loop(zero="last", returns="per_sample"),  # model.zero_grad() after each step
]
WRONG_TRAINING: list[tuple[Callable[..., Any], str]] = [
    (training_loop(zero="never"), "zero_grad"),
    (training_loop(zero="between"), "did not change"),
    (training_loop(train_mode=False), "model.train()"),
    (training_loop(step_each_batch=False), "optimizer.step() 1 times"),
    (training_loop(returns="last"), "last batch"),
    (training_loop(returns="tensor"), "loss.item()"),
]
