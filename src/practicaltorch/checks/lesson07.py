"""Self-checks for lesson 07: overfitting, early stopping, schedules, augmentation, model size.

Each function is called in the exercise notebook right after a task, prints one
line (a pass or a hint about the likely mistake) and returns a
:class:`~practicaltorch.checks.CheckResult`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import CheckResult, call_learner, fail, not_done, passed
from practicaltorch.training.callbacks import EarlyStopping
from practicaltorch.training.loop import History, evaluate

__all__ = [
    "RESTORE_TOLERANCE",
    "best_epoch",
    "early_stopping",
    "improved",
    "parameters",
    "schedulers",
    "shift",
]

RESTORE_TOLERANCE = 0.01
"""The restored model's validation loss may exceed the best epoch's by at most 1%."""


def _series(history: Any, key: str) -> list[float] | None:
    try:
        return [float(v) for v in history[key]]
    except (KeyError, TypeError, IndexError):
        return None


def best_epoch(value: Any, history: History) -> CheckResult:
    """Check the learner found the epoch with the lowest validation loss.

    Parameters
    ----------
    value
        The learner's ``best_epoch``, counting from 1.
    history
        The run's history.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, "best_epoch")
    if stub is not None:
        return stub
    losses = history["valid_loss"]
    epochs = [int(e) for e in history["epoch"]]
    right = epochs[losses.index(min(losses))]
    try:
        number = int(value)
    except (TypeError, ValueError):
        return fail(f"`best_epoch` should be a whole number, got {type(value).__name__}")
    if number == right:
        return passed(f"`best_epoch` is {right}: after it the validation loss only rises")
    if number == right - 1:
        return fail(
            f"`best_epoch` is {number}, one too few: that is a list index counting from 0; "
            "epochs count from 1 (use history['epoch'])"
        )
    train = history["train_loss"]
    if number == epochs[train.index(min(train))]:
        return fail(
            f"`best_epoch` is {number}, the epoch of the lowest *training* loss; look at "
            "history['valid_loss']"
        )
    return fail(f"`best_epoch` is {number}; the lowest validation loss is at another epoch")


def early_stopping(
    stopper: Any,
    history: Any,
    model: Any,
    valid_batches: Iterable[tuple[Tensor, Tensor]],
    *,
    max_epochs: int,
    device: torch.device | str | None = None,
) -> CheckResult:
    """Check early stopping stopped before the limit and restored the best epoch's weights.

    Parameters
    ----------
    stopper
        The learner's :class:`~practicaltorch.EarlyStopping`.
    history
        The history of the run it stopped.
    model
        The trained model, after ``fit`` returned.
    valid_batches
        The validation batches, to measure the restored model.
    max_epochs
        The ``epochs`` passed to ``fit``.
    device
        Where the model lives; ``None`` uses its parameters' device.

    Returns
    -------
    CheckResult
    """
    for value, name in ((stopper, "stopper"), (history, "stopped"), (model, "stopped_model")):
        stub = not_done(value, name)
        if stub is not None:
            return stub
    if not isinstance(stopper, EarlyStopping):
        return fail(f"`stopper` should be an EarlyStopping, got {type(stopper).__name__}")
    if stopper.monitor != "valid_loss":
        return fail(f"`stopper` watches {stopper.monitor!r}; watch 'valid_loss'")
    if stopper.best_epoch == 0:
        return fail("`stopper` never saw an epoch: pass it to train as early_stopping=stopper")
    if not isinstance(model, nn.Module):
        return fail(f"`stopped_model` is a {type(model).__name__}, not a model")
    losses = _series(history, "valid_loss")
    if not losses:
        return fail("`stopped` should be the history fit returned, with a 'valid_loss'")
    if len(losses) >= max_epochs:
        return fail(
            f"training ran all {max_epochs} epochs: early stopping never triggered. Use a "
            "patience of a few epochs (4), not more than the run is long"
        )
    if not stopper.restore_best:
        return fail(
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
        return fail(
            f"the model's validation loss is {restored_loss:.4g}, but the best epoch reached "
            f"{best:.4g}: the best weights were not restored (was this model the one trained "
            "with the stopper?)"
        )
    return passed(
        f"stopped after {len(losses)} of {max_epochs} epochs and restored epoch "
        f"{stopper.best_epoch} (validation loss {restored_loss:.4g}, best {best:.4g})"
    )


def _learning_rates(
    make: Any, kind: str, epochs: int, steps: int
) -> tuple[list[float] | None, CheckResult | None]:
    """Run the learner's scheduler on a dummy optimiser; return the rate used per batch."""
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scheduler, problem = call_learner(make, "make_scheduler", kind, optimizer, epochs, steps)
    if problem is not None:
        return None, problem
    if not isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        return None, fail(
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
        return None, fail(
            f"the {kind} scheduler could not be stepped {epochs * steps} times ({error}). "
            "OneCycleLR needs total_steps=epochs * steps_per_epoch: it is stepped every batch"
        )
    return rates, None


def schedulers(make: Any, *, epochs: int = 9, steps: int = 5) -> CheckResult:
    """Check ``make_scheduler`` builds a step decay and a one-cycle schedule correctly.

    Parameters
    ----------
    make
        The learner's ``make_scheduler(kind, optimizer, epochs, steps_per_epoch)``.
    epochs, steps
        The probe's epochs and batches per epoch.

    Returns
    -------
    CheckResult
    """
    stub = not_done(make, "make_scheduler")
    if stub is not None:
        return stub
    step_rates, problem = _learning_rates(make, "step", epochs, steps)
    if problem is not None or step_rates is None:
        return problem or fail("make_scheduler('step', ...) gave no rates")
    per_epoch = step_rates[::steps]
    if isinstance(make, type) or per_epoch[0] != 0.1:
        return fail("the 'step' schedule should start at the optimiser's learning rate")
    drops = [i for i in range(1, epochs) if per_epoch[i] < per_epoch[i - 1] * 0.999]
    if not drops:
        return fail("the 'step' schedule never lowers the rate: use StepLR(step_size=epochs // 3)")
    if len(drops) > 3 or per_epoch[-1] < 1e-4 * per_epoch[0]:
        return fail(
            f"the 'step' schedule lowers the rate {len(drops)} times in {epochs} epochs, down to "
            f"{per_epoch[-1]:.1e}: step_size is in epochs; use epochs // 3"
        )
    if abs(per_epoch[drops[0]] / per_epoch[0] - 0.1) > 1e-6:
        return fail("the 'step' schedule should divide the rate by 10 each time (gamma=0.1)")
    cycle_rates, problem = _learning_rates(make, "onecycle", epochs, steps)
    if problem is not None or cycle_rates is None:
        return problem or fail("make_scheduler('onecycle', ...) gave no rates")
    peak = max(cycle_rates)
    peak_at = cycle_rates.index(peak)
    if abs(peak - 0.1) > 1e-3:
        return fail(
            f"the one-cycle peak is {peak:.3g}; use max_lr=optimizer.param_groups[0]['lr'] (0.1 "
            "in this probe)"
        )
    if not 0 < peak_at < len(cycle_rates) - 1 or cycle_rates[-1] > 0.01 * peak:
        return fail(
            "the one-cycle rate should warm up, peak, and end near zero after "
            "epochs * steps_per_epoch batches: check total_steps"
        )
    return passed(
        f"StepLR divides the rate by 10 at epochs {drops}; OneCycleLR peaks at batch {peak_at} "
        f"of {len(cycle_rates)} and ends at {cycle_rates[-1]:.1e}"
    )


def _probe_digits(background: float) -> Tensor:
    """Sixteen 28x28 'images': background with a bright block in the middle."""
    images = torch.full((16, 1, 28, 28), background)
    images[:, :, 10:18, 11:17] = 2.0
    images[:, :, 12, 12] = 3.0  # an asymmetric mark, so every shift is distinguishable
    return images


def shift(function: Any, *, background: float, max_shift: int = 2) -> CheckResult:
    """Check a random-shift augmentation: per-image offsets, background fill, content kept.

    Parameters
    ----------
    function
        The learner's ``shift_images(images, max_shift, generator)``.
    background
        The standardised background value the padding must use.
    max_shift
        The largest shift in pixels.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "shift_images")
    if stub is not None:
        return stub
    images = _probe_digits(background)
    original = images.clone()
    generator = torch.Generator().manual_seed(0)
    out, problem = call_learner(function, "shift_images", images, max_shift, generator)
    if problem is not None:
        return problem
    if not torch.equal(images, original):
        return fail("`shift_images` changed its input in place: return a new tensor")
    if not isinstance(out, Tensor) or out.shape != images.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        return fail(
            f"`shift_images` returned {shape}, expected {tuple(images.shape)}: cut a 28x28 "
            "window out of the padded images"
        )
    if out.dtype != images.dtype:
        return fail(f"`shift_images` returned {out.dtype}; keep the input's {images.dtype}")
    if torch.equal(out, images):
        return fail("`shift_images` returned the images unchanged: no image was shifted")
    if bool((out == 0).any()) and background != 0:
        return fail(
            "the uncovered pixels are 0, but the background of standardised images is "
            f"{background:.3f}: pad with value=background"
        )
    content = (out - background).sum(dim=(1, 2, 3))
    want = (images - background).sum(dim=(1, 2, 3))
    if not torch.allclose(content, want, rtol=1e-4):
        return fail(
            "the shifted images do not hold the same digit: cut windows of the padded batch "
            "with offsets between 0 and 2 * max_shift, without resizing"
        )
    marks = {tuple((image[0] == 3.0).nonzero()[0].tolist()) for image in out}
    if len(marks) < 2:
        return fail(
            "every image in the batch got the same shift: draw a separate random offset for "
            "each image"
        )
    rows = [r for r, _ in marks]
    cols = [c for _, c in marks]
    if min(rows + cols) < 12 - max_shift or max(rows + cols) > 12 + max_shift:
        return fail(f"some images moved by more than max_shift={max_shift} pixels")
    return passed(f"`shift_images` moves each image on its own ({len(marks)} different shifts)")


def parameters(function: Any) -> CheckResult:
    """Check ``count_parameters`` on a small model.

    Parameters
    ----------
    function
        The learner's ``count_parameters(model)``.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "count_parameters")
    if stub is not None:
        return stub
    probe = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    got, problem = call_learner(function, "count_parameters", probe)
    if problem is not None:
        return problem
    want = 784 * 16 + 16 + 16 * 10 + 10
    if got == 784 * 16 + 16 * 10:
        return fail("`count_parameters` left out the biases: count every tensor in parameters()")
    if got == len(list(probe.parameters())):
        return fail("`count_parameters` counts tensors, not numbers: add up p.numel()")
    if got != want:
        return fail(f"`count_parameters` gave {got} for a 784-16-10 network; expected {want}")
    return passed(f"`count_parameters` gives {want:,} for a 784-16-10 network")


def improved(regularised: Any, overfit: Any) -> CheckResult:
    """Check the regularised run beats the overfit one on validation loss and accuracy.

    Parameters
    ----------
    regularised, overfit
        The two runs' histories.

    Returns
    -------
    CheckResult
    """
    stub = not_done(regularised, "regularised")
    if stub is not None:
        return stub
    loss_r, loss_o = _series(regularised, "valid_loss"), _series(overfit, "valid_loss")
    acc_r, acc_o = _series(regularised, "valid_accuracy"), _series(overfit, "valid_accuracy")
    if not (loss_r and loss_o and acc_r and acc_o):
        return fail("both histories need 'valid_loss' and 'valid_accuracy' (pass metrics to fit)")
    if loss_r[-1] >= loss_o[-1] or acc_r[-1] <= acc_o[-1]:
        return fail(
            f"the regularised model ends with validation loss {loss_r[-1]:.3f} and accuracy "
            f"{100 * acc_r[-1]:.1f}%, the overfit one with {loss_o[-1]:.3f} and "
            f"{100 * acc_o[-1]:.1f}%: it should beat both"
        )
    return passed(
        f"regularised: validation loss {loss_r[-1]:.3f} vs {loss_o[-1]:.3f}, accuracy "
        f"{100 * acc_r[-1]:.1f}% vs {100 * acc_o[-1]:.1f}%"
    )
