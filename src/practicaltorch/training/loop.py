"""The training loop: one epoch of training, one pass of evaluation, and ``fit``.

Every training step in PyTorch is the same six moves, and the code below keeps
them in that order so it can be read top to bottom:

1. take a batch and move it to the device,
2. clear the gradients left from the previous step,
3. forward pass: compute the model's outputs,
4. compute the loss,
5. backward pass: compute the gradients,
6. let the optimiser update the weights.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from practicaltorch.distributed import all_reduce_sum, set_epoch
from practicaltorch.training.callbacks import Callback, FitState, ProgressBar, Scheduler
from practicaltorch.training.history import History

if TYPE_CHECKING:  # torchmetrics is slow to import and only needed with metrics
    from torchmetrics import MetricCollection

__all__ = [
    "PER_BATCH_SCHEDULERS",
    "History",
    "NonFiniteLossError",
    "evaluate",
    "fit",
    "train_one_epoch",
]

Batches = Iterable[tuple[Tensor, Tensor]]
"""Anything that yields ``(inputs, targets)``: a ``DataLoader`` or ``TensorBatches``."""
MetricTransform = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
LossFn = Callable[[Tensor, Tensor], Tensor]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite, so further training would be meaningless."""

    def __init__(self, epoch: int, batch: int, value: float) -> None:
        self.epoch, self.batch, self.value = epoch, batch, value
        super().__init__(
            f"the loss became {value} at epoch {epoch}, batch {batch}. Training stopped. "
            "Common causes: a learning rate that is too high, unscaled inputs, or NaN "
            "values in the data. Try a lower learning rate or check the inputs with "
            "torch.isfinite(x).all()."
        )


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision where asked for: bfloat16 autocast on CPU and GPUs."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _first_bad(losses: list[Tensor]) -> tuple[int, float] | None:
    """Return (1-based batch number, value) of the first non-finite loss, if any."""
    stacked = torch.stack(losses)
    bad = (~torch.isfinite(stacked)).nonzero()
    if len(bad) == 0:
        return None
    index = int(bad[0, 0])
    return index + 1, float(stacked[index])


def train_one_epoch(
    model: nn.Module,
    batches: Batches,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    amp: bool = False,
    epoch: int = 1,
) -> float:
    """Train ``model`` for one pass over ``batches``.

    Parameters
    ----------
    model
        The network, already on ``device``.
    batches
        A ``DataLoader`` or :class:`~practicaltorch.data.TensorBatches` of
        ``(inputs, targets)``.
    loss_fn
        For example ``nn.CrossEntropyLoss()``.
    optimizer
        For example ``torch.optim.Adam(model.parameters())``.
    device
        Where to compute.
    scheduler
        A learning-rate scheduler stepped after every batch (such as
        ``OneCycleLR``), or ``None``.
    amp
        Compute the forward pass in bfloat16 mixed precision.
    epoch
        The epoch number, used in error messages.

    Returns
    -------
    float
        The mean training loss over the samples of this epoch.

    Raises
    ------
    NonFiniteLossError
        If the loss becomes NaN or infinite; says which epoch and batch.
    """
    model.train()
    losses: list[Tensor] = []
    sizes: list[int] = []
    for inputs, targets in batches:
        inputs, targets = inputs.to(device), targets.to(device)  # 1. batch to device
        optimizer.zero_grad(set_to_none=True)  # 2. clear old gradients
        with _autocast(device, amp):
            outputs = model(inputs)  # 3. forward pass
            loss = loss_fn(outputs, targets)  # 4. loss
        # On the CPU checking at once is free; on a GPU it would stall the queue,
        # so there the check waits for the end of the epoch.
        if device.type == "cpu" and not math.isfinite(loss.item()):
            raise NonFiniteLossError(epoch, len(losses) + 1, loss.item())
        loss.backward()  # 5. backward pass
        optimizer.step()  # 6. update the weights
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.detach())
        sizes.append(len(inputs))

    if not losses:
        raise ValueError("the training batches were empty: is the dataset empty?")
    bad = _first_bad(losses)
    if bad is not None:
        raise NonFiniteLossError(epoch, *bad)
    weights = torch.tensor(sizes, dtype=torch.float32, device=losses[0].device)
    total, count = all_reduce_sum((torch.stack(losses).float() * weights).sum(), weights.sum())
    return float(total / count)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Batches,
    loss_fn: LossFn,
    device: torch.device,
    *,
    metrics: MetricCollection | None = None,
    metric_transform: MetricTransform | None = None,
    amp: bool = False,
) -> dict[str, float]:
    """Compute the loss and metrics of ``model`` over ``batches`` without training.

    Parameters
    ----------
    model
        The network, already on ``device``.
    batches
        Validation or test ``(inputs, targets)`` batches.
    loss_fn
        The same loss as in training.
    device
        Where to compute.
    metrics
        A torchmetrics collection (see :mod:`practicaltorch.training.metrics`);
        it is reset here, so one collection can serve every epoch.
    metric_transform
        Converts ``(outputs, targets)`` to what the metrics expect, for example
        to undo target scaling so errors are reported in physical units.
    amp
        Compute in bfloat16 mixed precision.

    Returns
    -------
    dict
        ``{"loss": ..., **metrics}`` as plain floats.
    """
    model.eval()
    if metrics is not None:
        metrics = metrics.to(device)
        metrics.reset()
    total = torch.zeros((), device=device)
    count = 0
    for inputs, targets in batches:
        inputs, targets = inputs.to(device), targets.to(device)
        with _autocast(device, amp):
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
        total += loss.float() * len(inputs)
        count += len(inputs)
        if metrics is not None:
            preds, truth = (
                metric_transform(outputs.float(), targets)
                if metric_transform
                else (outputs.float(), targets)
            )
            metrics.update(preds, truth)
    total, samples = all_reduce_sum(total, torch.tensor(float(count), device=device))
    if samples.item() == 0:
        raise ValueError("the evaluation batches were empty: is the dataset empty?")
    results = {"loss": float(total / samples)}
    if metrics is not None:
        results.update({name: float(value) for name, value in metrics.compute().items()})
    return results


PER_BATCH_SCHEDULERS = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)
"""Schedules whose length is counted in batches: ``fit`` steps them after every batch."""


def _step_per_epoch(scheduler: Scheduler | None, record: dict[str, float]) -> None:
    """Step an epoch-wise scheduler; ``ReduceLROnPlateau`` gets the validation loss.

    Schedulers in :data:`PER_BATCH_SCHEDULERS` (and ``None``) are left alone:
    :func:`train_one_epoch` steps those after every batch.
    """
    if scheduler is None or isinstance(scheduler, PER_BATCH_SCHEDULERS):
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(record.get("valid_loss", record["train_loss"]))
    else:
        scheduler.step()


def fit(
    model: nn.Module,
    train_batches: Batches,
    valid_batches: Batches | None,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    device: torch.device,
    metrics: MetricCollection | None = None,
    metric_transform: MetricTransform | None = None,
    scheduler: Scheduler | None = None,
    callbacks: Sequence[Callback] | None = None,
    amp: bool = False,
) -> History:
    """Train for several epochs, validating after each, and return the history.

    Parameters
    ----------
    model
        The network, already on ``device``.
    train_batches, valid_batches
        Training and validation batches (``DataLoader`` or ``TensorBatches``).
        ``valid_batches`` may be ``None`` to train without validation.
    loss_fn, optimizer
        As in :func:`train_one_epoch`.
    epochs
        The total number of epochs (a resumed run counts the ones already done).
    device
        Where to compute.
    metrics, metric_transform
        Validation metrics, as in :func:`evaluate`; recorded as ``valid_<name>``.
    scheduler
        A learning-rate scheduler, or ``None``. ``OneCycleLR`` and ``CyclicLR``
        (whose length is counted in batches) are stepped after every batch,
        every other scheduler after every epoch; ``ReduceLROnPlateau`` gets
        the validation loss.
    callbacks
        Extra behaviour (see :mod:`~practicaltorch.training.callbacks`):
        ``EarlyStopping``, ``Checkpoint`` (with resume), ``ProgressBar``,
        ``PrintLog``. ``None`` means ``[ProgressBar()]``, a bar shown only in
        a terminal.
    amp
        bfloat16 mixed precision.

    Returns
    -------
    History
        One record per epoch: ``epoch``, the learning rate ``lr``,
        ``train_loss``, ``valid_loss``, the validation metrics and the
        cumulative training time ``seconds``.

    Notes
    -----
    The same call runs unchanged under ``torchrun`` (see
    :mod:`practicaltorch.distributed`): each process trains on its shard of
    the data, losses and metrics are reduced across processes, and only the
    main process shows progress, logs and writes checkpoints.
    """
    callbacks = [ProgressBar()] if callbacks is None else callbacks
    state = FitState(model, optimizer, scheduler, train_batches, epochs, callbacks)
    per_batch = scheduler if isinstance(scheduler, PER_BATCH_SCHEDULERS) else None
    for callback in state.callbacks:
        callback.before_fit(state)  # a resuming Checkpoint fills in weights, history, ...
    for epoch in range(state.epoch + 1, epochs + 1):
        set_epoch(train_batches, epoch)  # a new shuffle each epoch under torchrun
        start = time.perf_counter()
        record = {"epoch": float(epoch), "lr": float(optimizer.param_groups[0]["lr"])}
        record["train_loss"] = train_one_epoch(
            model,
            train_batches,
            loss_fn,
            optimizer,
            device,
            scheduler=per_batch,
            amp=amp,
            epoch=epoch,
        )
        if valid_batches is not None:
            results = evaluate(
                model,
                valid_batches,
                loss_fn,
                device,
                metrics=metrics,
                metric_transform=metric_transform,
                amp=amp,
            )
            record.update({f"valid_{name}": value for name, value in results.items()})
        _step_per_epoch(scheduler, record)  # StepLR, ReduceLROnPlateau, ... (not OneCycleLR)
        record["seconds"] = state.history.seconds + time.perf_counter() - start
        state.history.records.append(record)
        for callback in state.callbacks:
            callback.after_epoch(state)  # early stopping, checkpoints, progress, logs
        if state.stop:
            break
    for callback in state.callbacks:
        callback.after_fit(state)
    return state.history
