"""Self-checks for lesson 07: overfitting, early stopping, schedules, augmentation, model size."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.checks._core import Hint, call, check, number
from practicaltorch.training.callbacks import EarlyStopping
from practicaltorch.training.loop import History, evaluate

RESTORE_TOLERANCE = 0.01
"""The restored model's validation loss may exceed the best epoch's by at most 1%."""
_MARK = 3.0  # the probe images' one marked pixel, so every shift is distinguishable


def _series(history: Any, key: str) -> list[float] | None:
    try:
        return [float(v) for v in history[key]]
    except (KeyError, TypeError, IndexError):
        return None


def _best(history: Any, key: str, pick: Callable[[list[float]], float] = min) -> int | None:
    """Return the epoch where ``history[key]`` is lowest (or highest), or None if absent."""
    series = _series(history, key)
    return int(history["epoch"][series.index(pick(series))]) if series else None


@check("best_epoch")
def best_epoch(value: Any, history: History) -> str:
    """Check the learner found the epoch (counting from 1) with the lowest validation loss."""
    got, right = number(value, "best_epoch"), _best(history, "valid_loss")
    if not got.is_integer():
        raise Hint(f"`best_epoch` is {got}, not a whole number: an epoch counts from 1")
    if got == right:
        return f"`best_epoch` is {right}: no other epoch has a lower validation loss"
    if right and got == right - 1:
        raise Hint("`best_epoch` is one too few: an index counting from 0; use history['epoch']")
    if got == _best(history, "train_loss"):
        raise Hint("`best_epoch` is the epoch of the lowest *training* loss; use 'valid_loss'")
    if got == _best(history, "valid_accuracy", max):
        raise Hint("`best_epoch` has the highest validation *accuracy*, not the lowest loss")
    raise Hint(f"`best_epoch` is {got:.0f}; the lowest validation loss is at another epoch")


@check("stopper", "stopped", "stopped_model")
def early_stopping(
    stopper: Any,
    history: Any,
    model: Any,
    valid_batches: Iterable[tuple[Tensor, Tensor]],
    *,
    max_epochs: int,
) -> str:
    """Check early stopping stopped before the limit and restored the best epoch's weights."""
    if not isinstance(stopper, EarlyStopping):
        raise Hint(f"`stopper` should be an EarlyStopping, got {type(stopper).__name__}")
    if stopper.monitor != "valid_loss":
        raise Hint(f"`stopper` watches {stopper.monitor!r}; watch 'valid_loss'")
    if stopper.best_epoch == 0:
        raise Hint("`stopper` never saw an epoch: pass it to train as early_stopping=stopper")
    if not isinstance(model, nn.Module):
        raise Hint(f"`stopped_model` is a {type(model).__name__}, not a model")
    if not (losses := _series(history, "valid_loss")):
        raise Hint("`stopped` should be the history fit returned, with a 'valid_loss'")
    if len(losses) >= max_epochs:
        raise Hint(f"all {max_epochs} epochs ran: early stopping never triggered (use patience=4)")
    if not stopper.restore_best:
        raise Hint("`stopper` keeps the last epoch's overfit weights: set restore_best=True")
    device = next(model.parameters(), torch.empty(0)).device
    restored = evaluate(model, valid_batches, nn.CrossEntropyLoss(), device)["loss"]
    best = min(losses)
    if restored > best * (1 + RESTORE_TOLERANCE):
        raise Hint("the best weights were not restored: was this model trained with the stopper?")
    return f"stopped after {len(losses)}/{max_epochs} epochs; restored epoch {stopper.best_epoch}"


def _learning_rates(make: Any, kind: str, epochs: int, steps: int) -> list[float]:
    """Run the learner's scheduler on a dummy optimiser; return the rate used per batch."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = call(make, "make_scheduler", kind, optimizer, epochs, steps)
    if not isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        raise Hint(f"make_scheduler({kind!r}) gave {type(scheduler).__name__}, not a scheduler")
    rates: list[float] = []
    try:
        for batch in range(1, epochs * steps + 1):
            rates.append(float(optimizer.param_groups[0]["lr"]))
            optimizer.step()
            if kind == "onecycle" or batch % steps == 0:  # StepLR steps once per epoch
                scheduler.step()
    except ValueError:
        raise Hint(f"`{kind}` ran out of steps: total_steps=epochs * steps_per_epoch") from None
    return rates


@check("make_scheduler")
def schedulers(make: Any, *, epochs: int = 9, steps: int = 5) -> str:
    """Check ``make_scheduler`` builds a step decay and a one-cycle schedule correctly."""
    per_epoch = _learning_rates(make, "step", epochs, steps)[::steps]
    if per_epoch[0] != 0.1:
        raise Hint("the 'step' schedule should start at the optimiser's learning rate")
    drops = [i for i in range(1, epochs) if per_epoch[i] < per_epoch[i - 1] * 0.999]
    if not drops:
        raise Hint("the 'step' schedule never lowers the rate: use StepLR(step_size=epochs // 3)")
    if len(drops) > 3 or per_epoch[-1] < 1e-4 * per_epoch[0]:
        raise Hint(f"the rate drops {len(drops)} times: step_size is in epochs; use epochs // 3")
    if abs(per_epoch[drops[0]] / per_epoch[0] - 0.1) > 1e-6:
        raise Hint("the 'step' schedule should divide the rate by 10 each time (gamma=0.1)")
    cycle = _learning_rates(make, "onecycle", epochs, steps)
    peak, peak_at = max(cycle), cycle.index(max(cycle))
    if abs(peak - 0.1) > 1e-3:
        raise Hint(f"the one-cycle peak is {peak:.3g}: use max_lr=optimizer.param_groups[0]['lr']")
    if not 0 < peak_at < len(cycle) - 1 or cycle[-1] > 0.01 * peak:
        raise Hint("the one-cycle rate should warm up, peak and end near zero: check total_steps")
    return f"StepLR lowers the rate at epochs {drops}; OneCycleLR peaks at batch {peak_at}"


def _shift_once(function: Any, images: Tensor, max_shift: int, seed: int) -> Tensor:
    out = call(function, "shift_images", images, max_shift, torch.Generator().manual_seed(seed))
    if not isinstance(out, Tensor) or out.shape != images.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise Hint(f"`shift_images` returned {shape}, expected {tuple(images.shape)}: crop 28x28")
    return out


@check("shift_images")
def shift(function: Any, *, background: float, max_shift: int = 2) -> str:
    """Check a random-shift augmentation: per-image offsets, background fill, seeded, in range."""
    images = torch.full((200, 1, 28, 28), background)  # a bright block and one marked pixel
    images[:, :, 10:18, 11:17] = 2.0
    images[:, :, 12, 12] = _MARK
    original = images.clone()
    with torch.random.fork_rng():
        out = _shift_once(function, images, max_shift, seed=0)
        if not torch.equal(images, original):
            raise Hint("`shift_images` changed its input in place: return a new tensor")
        again = _shift_once(function, images, max_shift, seed=0)
        other = _shift_once(function, images, max_shift, seed=1)
    if out.dtype != images.dtype:
        raise Hint(f"`shift_images` returned {out.dtype}; keep the input's {images.dtype}")
    if torch.equal(out, images):
        raise Hint("`shift_images` returned the images unchanged: no image was shifted")
    if bool((out == 0).any()) and background != 0:
        raise Hint(f"the new pixels are 0, not {background:.3f}: pad with value=background")
    mass = (out - background).sum(dim=(1, 2, 3))
    if not torch.allclose(mass, (images - background).sum(dim=(1, 2, 3)), rtol=1e-4):
        raise Hint("the shifted images lost part of the digit: crop the padded batch, not resize")
    if not torch.equal(out, again) or torch.equal(out, other):
        raise Hint("the shifts ignore `generator`: use torch.randint(..., generator=generator)")
    marks = np.array([(image[0] == _MARK).nonzero()[0].tolist() for image in out]) - 12
    if len({tuple(m) for m in marks}) < 2:
        raise Hint("every image in the batch got the same shift: draw an offset for each image")
    if int(np.abs(marks).max()) > max_shift:
        raise Hint(f"some images moved by more than max_shift={max_shift} pixels")
    if {int(marks.min()), int(marks.max())} != {-max_shift, max_shift}:
        raise Hint(f"no shift reaches ±{max_shift}: randint's upper end is left out; add 1 to it")
    return f"`shift_images` moves each image on its own, by up to {max_shift} pixels each way"


@check("count_parameters")
def parameters(function: Any) -> str:
    """Check ``count_parameters`` on a 784-16-10 network: an int, weights and biases."""
    probe = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    got, want = call(function, "count_parameters", probe), 784 * 16 + 16 + 16 * 10 + 10
    if not isinstance(got, numbers.Integral):
        raise Hint(f"`count_parameters` returned a {type(got).__name__}: return an int")
    slips = {
        784 * 16 + 16 * 10: "left out the biases: count every tensor in parameters()",
        len(list(probe.parameters())): "counts tensors, not numbers: add up p.numel()",
    }
    if got != want:
        raise Hint(f"`count_parameters` {slips.get(int(got), f'gave {got}; expected {want}')}")
    return f"`count_parameters` gives {want:,} for a 784-16-10 network"


def _last(history: Any) -> tuple[float, float]:
    loss, accuracy = _series(history, "valid_loss"), _series(history, "valid_accuracy")
    if not (loss and accuracy):
        raise Hint("both histories need 'valid_loss' and 'valid_accuracy' (pass metrics to fit)")
    return loss[-1], accuracy[-1]


@check("regularised")
def improved(regularised: Any, overfit: Any) -> str:
    """Check the regularised run beats the overfit one on validation loss and accuracy."""
    (loss_r, acc_r), (loss_o, acc_o) = _last(regularised), _last(overfit)
    summary = f"validation loss {loss_r:.3f} vs {loss_o:.3f}, accuracy {acc_r:.1%} vs {acc_o:.1%}"
    if loss_r >= loss_o or acc_r <= acc_o:
        raise Hint(f"regularised vs overfit: {summary}; the regularised model should beat both")
    return f"regularised vs overfit: {summary}"
