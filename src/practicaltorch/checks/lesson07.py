"""Self-checks for lesson 07: overfitting, early stopping, schedules, augmentation, model size.

The schedule and augmentation checks run the learner's functions on probes (a dummy
optimiser, a batch of marked squares) and look at what they do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.checks._core import Hint, call, check, number
from practicaltorch.training.callbacks import EarlyStopping
from practicaltorch.training.loop import History, evaluate

RESTORE_TOLERANCE = 0.01
"""The restored model's validation loss may exceed the best epoch's by at most 1%."""


def _series(history: Any, key: str) -> list[float] | None:
    try:
        return [float(v) for v in history[key]]
    except (KeyError, TypeError, IndexError):
        return None


@check("best_epoch")
def best_epoch(value: Any, history: History) -> str:
    """Check the learner found the epoch (counting from 1) with the lowest validation loss."""
    losses = history["valid_loss"]
    epochs = [int(e) for e in history["epoch"]]
    right = epochs[losses.index(min(losses))]
    got = number(value, "best_epoch")
    if not got.is_integer():
        raise Hint(f"`best_epoch` is {got}, not a whole number: an epoch counts from 1")
    if got == right:
        return f"`best_epoch` is {right}: after it the validation loss only rises"
    if got == right - 1:
        raise Hint(
            f"`best_epoch` is {got:.0f}, one too few: that is a list index counting from 0; "
            "epochs count from 1 (use history['epoch'])"
        )
    train = history["train_loss"]
    if got == epochs[train.index(min(train))]:
        raise Hint(
            f"`best_epoch` is {got:.0f}, the epoch of the lowest *training* loss; look at "
            "history['valid_loss']"
        )
    accuracy = _series(history, "valid_accuracy")
    if accuracy and got == epochs[accuracy.index(max(accuracy))]:
        raise Hint(
            f"`best_epoch` is {got:.0f}, the epoch of the highest validation *accuracy*; this "
            "task asks for the lowest validation loss"
        )
    raise Hint(f"`best_epoch` is {got:.0f}; the lowest validation loss is at another epoch")


@check("stopper", "stopped", "stopped_model")
def early_stopping(
    stopper: Any,
    history: Any,
    model: Any,
    valid_batches: Iterable[tuple[Tensor, Tensor]],
    *,
    max_epochs: int,
    device: torch.device | str | None = None,
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
    losses = _series(history, "valid_loss")
    if not losses:
        raise Hint("`stopped` should be the history fit returned, with a 'valid_loss'")
    if len(losses) >= max_epochs:
        raise Hint(
            f"training ran all {max_epochs} epochs: early stopping never triggered. Use a "
            "patience of a few epochs (4), not more than the run is long"
        )
    if not stopper.restore_best:
        raise Hint(
            "`stopper` has restore_best=False, so the model keeps the last epoch's weights, "
            "which are already overfitting: set restore_best=True"
        )
    parameter = next(model.parameters(), None)
    where = torch.device(device) if device is not None else None
    if where is None:
        where = parameter.device if parameter is not None else torch.device("cpu")
    restored_loss = evaluate(model, valid_batches, nn.CrossEntropyLoss(), where)["loss"]
    best = min(losses)
    if restored_loss > best * (1 + RESTORE_TOLERANCE):
        raise Hint(
            f"the model's validation loss is {restored_loss:.4g}, but the best epoch reached "
            f"{best:.4g}: the best weights were not restored (was this model the one trained "
            "with the stopper?)"
        )
    return (
        f"stopped after {len(losses)} of {max_epochs} epochs and restored epoch "
        f"{stopper.best_epoch} (validation loss {restored_loss:.4g}, best {best:.4g})"
    )


def _learning_rates(make: Any, kind: str, epochs: int, steps: int) -> list[float]:
    """Run the learner's scheduler on a dummy optimiser; return the rate used per batch."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = call(make, "make_scheduler", kind, optimizer, epochs, steps)
    if not isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        raise Hint(
            f"make_scheduler({kind!r}, ...) returned {type(scheduler).__name__}, not a scheduler"
        )
    rates: list[float] = []
    try:
        for _ in range(epochs):
            for _ in range(steps):
                rates.append(float(optimizer.param_groups[0]["lr"]))
                optimizer.step()
                if kind == "onecycle":
                    scheduler.step()
            if kind == "step":
                scheduler.step()
    except ValueError as error:
        raise Hint(
            f"the {kind} scheduler could not be stepped {epochs * steps} times ({error}). "
            "OneCycleLR needs total_steps=epochs * steps_per_epoch: it is stepped every batch"
        ) from None
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
        raise Hint(
            f"the 'step' schedule lowers the rate {len(drops)} times in {epochs} epochs, down to "
            f"{per_epoch[-1]:.1e}: step_size is in epochs; use epochs // 3"
        )
    if abs(per_epoch[drops[0]] / per_epoch[0] - 0.1) > 1e-6:
        raise Hint("the 'step' schedule should divide the rate by 10 each time (gamma=0.1)")
    cycle = _learning_rates(make, "onecycle", epochs, steps)
    peak = max(cycle)
    peak_at = cycle.index(peak)
    if abs(peak - 0.1) > 1e-3:
        raise Hint(
            f"the one-cycle peak is {peak:.3g}; use max_lr=optimizer.param_groups[0]['lr'] (0.1 "
            "in this probe)"
        )
    if not 0 < peak_at < len(cycle) - 1 or cycle[-1] > 0.01 * peak:
        raise Hint(
            "the one-cycle rate should warm up, peak, and end near zero after "
            "epochs * steps_per_epoch batches: check total_steps"
        )
    return (
        f"StepLR divides the rate by 10 at epochs {drops}; OneCycleLR peaks at batch {peak_at} "
        f"of {len(cycle)} and ends at {cycle[-1]:.1e}"
    )


_MARK = 3.0  # one asymmetric pixel, so every shift is distinguishable


def _probe_digits(background: float, count: int = 200) -> Tensor:
    """``count`` 28x28 'images': background with a bright block and one marked pixel at (12, 12)."""
    images = torch.full((count, 1, 28, 28), background)
    images[:, :, 10:18, 11:17] = 2.0
    images[:, :, 12, 12] = _MARK
    return images


def _shift_once(function: Any, images: Tensor, max_shift: int, seed: int) -> Tensor:
    out = call(function, "shift_images", images, max_shift, torch.Generator().manual_seed(seed))
    if not isinstance(out, Tensor) or out.shape != images.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise Hint(
            f"`shift_images` returned {shape}, expected {tuple(images.shape)}: cut a 28x28 "
            "window out of the padded images"
        )
    return out


@check("shift_images")
def shift(function: Any, *, background: float, max_shift: int = 2) -> str:
    """Check a random-shift augmentation: per-image offsets, background fill, seeded, in range."""
    images = _probe_digits(background)
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
        raise Hint(
            "the uncovered pixels are 0, but the background of standardised images is "
            f"{background:.3f}: pad with value=background"
        )
    if not torch.allclose(
        (out - background).sum(dim=(1, 2, 3)), (images - background).sum(dim=(1, 2, 3)), rtol=1e-4
    ):
        raise Hint(
            "the shifted images do not hold the same digit: cut windows of the padded batch "
            "with offsets between 0 and 2 * max_shift, without resizing"
        )
    if not torch.equal(out, again) or torch.equal(out, other):
        raise Hint(
            "the shifts do not follow `generator`: draw them with "
            "torch.randint(..., generator=generator), so a seeded run repeats exactly"
        )
    marks = np.array([(image[0] == _MARK).nonzero()[0].tolist() for image in out]) - 12
    if len({tuple(m) for m in marks}) < 2:
        raise Hint(
            "every image in the batch got the same shift: draw a separate random offset for "
            "each image"
        )
    if int(np.abs(marks).max()) > max_shift:
        raise Hint(f"some images moved by more than max_shift={max_shift} pixels")
    if {int(marks.min()), int(marks.max())} != {-max_shift, max_shift}:
        raise Hint(
            f"no image moved by the full {max_shift} pixels both ways: draw offsets with "
            "torch.randint(0, 2 * max_shift + 1, ...), whose upper end is left out"
        )
    return f"`shift_images` moves each image on its own, by up to {max_shift} pixels each way"


@check("count_parameters")
def parameters(function: Any) -> str:
    """Check ``count_parameters`` on a small model: an int, weights and biases."""
    probe = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    got = call(function, "count_parameters", probe)
    want = 784 * 16 + 16 + 16 * 10 + 10
    if isinstance(got, Tensor | float):
        raise Hint(f"`count_parameters` returned a {type(got).__name__}: return an int")
    if got == 784 * 16 + 16 * 10:
        raise Hint("`count_parameters` left out the biases: count every tensor in parameters()")
    if got == len(list(probe.parameters())):
        raise Hint("`count_parameters` counts tensors, not numbers: add up p.numel()")
    if got != want:
        raise Hint(f"`count_parameters` gave {got} for a 784-16-10 network; expected {want}")
    return f"`count_parameters` gives {want:,} for a 784-16-10 network"


@check("regularised")
def improved(regularised: Any, overfit: Any) -> str:
    """Check the regularised run beats the overfit one on validation loss and accuracy."""
    loss_r, loss_o = _series(regularised, "valid_loss"), _series(overfit, "valid_loss")
    acc_r, acc_o = _series(regularised, "valid_accuracy"), _series(overfit, "valid_accuracy")
    if not (loss_r and loss_o and acc_r and acc_o):
        raise Hint("both histories need 'valid_loss' and 'valid_accuracy' (pass metrics to fit)")
    if loss_r[-1] >= loss_o[-1] or acc_r[-1] <= acc_o[-1]:
        raise Hint(
            f"the regularised model ends with validation loss {loss_r[-1]:.3f} and accuracy "
            f"{100 * acc_r[-1]:.1f}%, the overfit one with {loss_o[-1]:.3f} and "
            f"{100 * acc_o[-1]:.1f}%: it should beat both"
        )
    return (
        f"regularised: validation loss {loss_r[-1]:.3f} vs {loss_o[-1]:.3f}, accuracy "
        f"{100 * acc_r[-1]:.1f}% vs {100 * acc_o[-1]:.1f}%"
    )
