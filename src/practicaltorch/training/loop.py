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
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from tqdm.auto import tqdm

from practicaltorch.distributed import all_reduce_sum, barrier, is_main_process, unwrap
from practicaltorch.training.callbacks import EarlyStopping, load_checkpoint, save_checkpoint
from practicaltorch.training.metrics import to_floats

__all__ = ["History", "NonFiniteLossError", "evaluate", "fit", "train_one_epoch"]

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


@dataclass
class History:
    """Per-epoch records of a training run.

    Attributes
    ----------
    records
        One dict per epoch, for example
        ``{"epoch": 3, "train_loss": 0.21, "valid_loss": 0.25, "valid_accuracy": 0.93}``.
    """

    records: list[dict[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[float]:
        """Return one quantity across epochs, for example ``history["valid_loss"]``."""
        if self.records and key not in self.records[-1]:
            raise KeyError(f"no {key!r} in this history; recorded: {sorted(self.keys())}")
        return [r[key] for r in self.records if key in r]

    def keys(self) -> list[str]:
        """Return the names of the recorded quantities."""
        names: dict[str, None] = {}
        for record in self.records:
            names.update(dict.fromkeys(record))
        return list(names)

    @property
    def last(self) -> dict[str, float]:
        """The record of the last epoch."""
        if not self.records:
            raise IndexError("this history is empty: no epoch has finished yet")
        return self.records[-1]

    def to_list(self) -> list[dict[str, float]]:
        """Return the records as plain data (for JSON and checkpoints)."""
        return [dict(r) for r in self.records]


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
        results.update(to_floats(metrics.compute()))
    return results


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
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scheduler_interval: Literal["batch", "epoch"] = "batch",
    early_stopping: EarlyStopping | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    amp: bool = False,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    metadata: dict[str, Any] | None = None,
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
        A learning-rate scheduler, or ``None``.
    scheduler_interval
        ``"batch"`` to step the scheduler after every batch (``OneCycleLR``),
        ``"epoch"`` after every epoch (``StepLR``). ``ReduceLROnPlateau`` is
        stepped every epoch with the validation loss.
    early_stopping
        Stops when its monitored value stops improving, and restores the best
        weights at the end.
    checkpoint_dir
        If given, ``last.pt`` is written there after every epoch (model,
        optimiser, scheduler, history, random state) and ``best.pt`` whenever
        the early-stopping value improves.
    resume
        Continue from ``checkpoint_dir/last.pt`` if it exists, so an
        interrupted run loses nothing.
    amp
        bfloat16 mixed precision.
    progress
        Show a progress bar: ``True``, ``False``, or ``None`` to show it only
        when the output is a terminal.
    log
        Called with a one-line summary after each epoch, for example ``print``.
    metadata
        Plain values saved in every checkpoint (architecture, feature names,
        normalisation statistics): what is needed to rebuild the model later.

    Returns
    -------
    History
        One record per epoch: ``epoch``, ``train_loss``, ``valid_loss``, the
        validation metrics, the learning rate ``lr`` and the cumulative
        training time ``seconds``.

    Notes
    -----
    The same call runs unchanged under ``torchrun`` (see
    :mod:`practicaltorch.distributed`): each process trains on its shard of
    the data, losses and metrics are reduced across processes, and only the
    main process shows progress, logs and writes checkpoints.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir to resume from")
    history = History()
    first_epoch = 1
    elapsed = 0.0
    last_path = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None

    if resume and last_path is not None and last_path.exists():
        state = load_checkpoint(last_path)
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if early_stopping is not None and state.get("early_stopping") is not None:
            early_stopping.load_state_dict(state["early_stopping"])
        if state.get("batches") is not None and hasattr(train_batches, "load_state_dict"):
            train_batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["rng"])
        history = History(list(state["history"]))
        first_epoch = int(state["epoch"]) + 1
        elapsed = history.last["seconds"] if history.records else 0.0

    batch_scheduler = scheduler if scheduler_interval == "batch" else None
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if plateau:
        batch_scheduler = None

    bar = tqdm(
        range(first_epoch, epochs + 1),
        desc="training",
        unit="epoch",
        disable=not is_main_process()
        or (not progress if progress is not None else not sys.stderr.isatty()),
    )
    for epoch in bar:
        set_epoch = getattr(getattr(train_batches, "sampler", None), "set_epoch", None)
        if callable(set_epoch):  # DistributedSampler: a new shuffle each epoch
            set_epoch(epoch)
        start = time.perf_counter()
        record: dict[str, float] = {"epoch": float(epoch)}
        record["lr"] = float(optimizer.param_groups[0]["lr"])
        record["train_loss"] = train_one_epoch(
            model,
            train_batches,
            loss_fn,
            optimizer,
            device,
            scheduler=batch_scheduler,
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
            record.update({f"valid_{k}": v for k, v in results.items()})
        if scheduler is not None and batch_scheduler is None:
            if plateau:
                scheduler.step(record.get("valid_loss", record["train_loss"]))  # type: ignore[arg-type]
            else:
                scheduler.step()
        elapsed += time.perf_counter() - start
        record["seconds"] = elapsed
        history.records.append(record)

        stop = False
        improved = False
        if early_stopping is not None:
            if early_stopping.monitor not in record:
                raise KeyError(
                    f"early stopping watches {early_stopping.monitor!r}, but the epoch "
                    f"record has only {sorted(record)}"
                )
            improved = early_stopping.improved(record[early_stopping.monitor])
            stop = early_stopping.step(record[early_stopping.monitor], unwrap(model), epoch)
        if last_path is not None and is_main_process():
            contents: dict[str, Any] = {
                "model": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "early_stopping": early_stopping.state_dict() if early_stopping else None,
                "batches": train_batches.state_dict()
                if hasattr(train_batches, "state_dict")
                else None,
                "rng": torch.get_rng_state(),
                "history": history.to_list(),
                "epoch": epoch,
                "metadata": metadata or {},
            }
            save_checkpoint(last_path, **contents)
            if improved:
                save_checkpoint(
                    last_path.with_name("best.pt"),
                    model=unwrap(model).state_dict(),
                    epoch=epoch,
                    metadata=metadata or {},
                )

        barrier()  # nobody reads a checkpoint before the main process has written it
        summary = "  ".join(f"{k}={v:.4g}" for k, v in record.items() if k not in ("epoch", "lr"))
        bar.set_postfix_str(summary, refresh=False)
        if log is not None and is_main_process():
            log(f"epoch {epoch}/{epochs}  {summary}")
        if stop:
            if log is not None and is_main_process():
                log(
                    f"early stopping: no improvement in {early_stopping.monitor} "  # type: ignore[union-attr]
                    f"for {early_stopping.patience} epochs; best was epoch "  # type: ignore[union-attr]
                    f"{early_stopping.best_epoch}"  # type: ignore[union-attr]
                )
            break
    bar.close()
    if early_stopping is not None:
        early_stopping.restore(unwrap(model))
    return history
