"""Probes for a learner's training and evaluation loops: run them on a recording model."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from practicaltorch.checks._core import Hint, call, check, model_output, number

Batches = list[tuple[Tensor, Tensor]]
_CPU = torch.device("cpu")
_LR = 0.1


class RecordingModel(nn.Module):
    """Wraps ``net`` and records, for every forward pass, ``(training, grad_enabled)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: Tensor) -> Tensor:
        """Record the mode and whether gradients are on, then run the network."""
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.net(x)  # type: ignore[no-any-return]


def probe_batches(feature_shape: Sequence[int], *, seed: int, n_classes: int = 3) -> Batches:
    """Return three seeded batches of five samples: inputs and class indices."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(3, 5, *feature_shape, generator=generator)
    return list(zip(inputs, torch.randint(0, n_classes, (3, 5), generator=generator)))


def _joined(batches: Batches) -> tuple[Tensor, Tensor]:
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


def probe_loader(batches: Batches) -> DataLoader[tuple[Tensor, ...]]:
    """Return a ``DataLoader`` serving ``batches`` in order, so ``len(loader.dataset)`` works."""
    return DataLoader(TensorDataset(*_joined(batches)), batch_size=len(batches[0][1]))


def probe_outputs(probe: RecordingModel, batches: Batches) -> tuple[Tensor, Tensor]:
    """Return the probe's logits on all the batches, and all their targets (not recorded)."""
    inputs, targets = _joined(batches)
    with torch.no_grad():
        return probe.net(inputs), targets


def _reference_epoch(
    net: nn.Module, batches: Batches, loss_fn: nn.Module, *, clear: bool
) -> tuple[list[Tensor], list[float]]:
    """Train a copy of ``net`` for one epoch; return its parameters and the batch losses."""
    net = copy.deepcopy(net).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=_LR)
    losses = []
    for inputs, targets in batches:
        if clear:
            optimizer.zero_grad()
        loss = loss_fn(net(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return [p.detach() for p in net.parameters()], losses


def _same(a: Sequence[Tensor], b: Sequence[Tensor]) -> bool:
    return all(torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in zip(a, b))


def _expect_mean_loss(name: str, value: Any, losses: list[float]) -> None:
    if isinstance(value, Tensor) and value.requires_grad:
        raise Hint(f"`{name}` returns a tensor that keeps every batch's graph: add up loss.item()")
    got, mean = number(value, f"the value {name} returns"), sum(losses) / len(losses)
    if math.isclose(got, mean, rel_tol=1e-4):
        return
    if math.isclose(got, losses[-1], rel_tol=1e-4):
        raise Hint(f"`{name}` returns the last batch's loss: return the mean over all batches")
    if math.isclose(got, sum(losses), rel_tol=1e-4):
        raise Hint(f"`{name}` returns the sum of the batch losses: divide by their number")
    raise Hint(f"`{name}` returned {got:.4g}, expected the mean of loss.item() {mean:.4g}")


@check("{name}")
def check_train_epoch(
    train_epoch: Any,
    net: nn.Module,
    batches: Batches,
    *,
    loss_fn: nn.Module | None = None,
    one_forward_per_batch: bool = False,
    with_scheduler: bool = False,
    name: str = "train_epoch",
) -> str:
    """Run ``train_epoch(model, loader, loss_fn, optimizer, device)`` on a probe of ``net``.

    It must take one SGD step per batch (clearing gradients any way) and return the mean loss;
    ``loss_fn`` defaults to cross-entropy. See also ``one_forward_per_batch``, ``with_scheduler``.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    want, losses = _reference_epoch(net, batches, loss_fn, clear=True)
    probe = RecordingModel(copy.deepcopy(net)).eval()  # it must switch to training mode
    start = [p.detach().clone() for p in probe.parameters()]
    optimizer = torch.optim.SGD(probe.parameters(), lr=_LR)
    steps: list[None] = []
    optimizer.register_step_post_hook(lambda *_: steps.append(None))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1)  # counts last_epoch
    extra = (scheduler,) if with_scheduler else ()
    value = call(train_epoch, name, probe, probe_loader(batches), loss_fn, optimizer, _CPU, *extra)
    n, forwards, stepped = len(batches), len(probe.calls), len(steps)
    if not forwards:
        raise Hint(f"`{name}` never ran the model on the batches")
    if one_forward_per_batch and forwards != n:
        raise Hint(f"`{name}`: {forwards} passes on {n} batches; one forward pass per batch")
    if not all(training for training, _ in probe.calls):
        raise Hint(f"`{name}` ran the model in evaluation mode: call model.train() first")
    got = [p.detach() for p in probe.parameters()]
    if not _same(got, want):
        if _same(got, _reference_epoch(net, batches, loss_fn, clear=False)[0]):
            raise Hint(f"`{name}` never clears the gradients, so they add up: call zero_grad()")
        if _same(got, start):
            raise Hint(
                f"`{name}`: weights did not change: step() after backward(), no zero_grad() between"
            )
        if stepped != n:
            raise Hint(f"`{name}`: optimizer.step() {stepped} times on {n} batches; once per batch")
        raise Hint(f"`{name}`: wrong weights; a step is zero_grad, forward, loss, backward, step")
    _expect_mean_loss(name, value, losses)
    if with_scheduler and (ran := scheduler.last_epoch) != n:
        raise Hint(f"`{name}`: scheduler.step() {ran} times on {n} batches; once per batch")
    return f"`{name}` trains: train mode, zero_grad, forward, loss, backward, step"


def expect_evaluation(probe: RecordingModel, name: str) -> None:
    """Raise a hint if ``probe``, given in training mode, ran in training mode or with gradients."""
    if not probe.calls:
        raise Hint(f"`{name}` never ran the model on the batches")
    if any(training for training, _ in probe.calls):
        raise Hint(f"`{name}` ran in training mode: call model.eval() first (dropout, batch norm)")
    if any(grad for _, grad in probe.calls):
        raise Hint(f"`{name}` tracks unused gradients: wrap the loop in `with torch.no_grad():`")


def expect_accuracy(got: float, logits: Tensor, targets: Tensor, *, name: str, items: str) -> None:
    """Raise a hint unless ``got`` is the fraction of ``logits`` whose argmax is the target."""
    want = float((logits.argmax(dim=1) == targets).float().mean())
    if want > 0 and abs(got - 100 * want) < 1e-4:
        raise Hint(f"`{name}` returns a percentage: return a fraction between 0 and 1")
    if abs(got - want) > 1e-4:
        raise Hint(f"`{name}` is {got:.4g}, not {want:.4g}: divide by the number of {items}")


def superposition_output(model: Any, name: str, n_features: int, count: int) -> Tensor:
    """Return `model` on seeded inputs `a`, `b`, `a + b` and `0`, `count` rows each, stacked."""
    a, b = 2 * torch.randn(2, count, n_features, generator=torch.Generator().manual_seed(0))
    inputs = torch.cat([a, b, a + b, torch.zeros_like(a)])
    return model_output(model, name, inputs, n_features=n_features)


def expect_not_affine(output: Tensor, hint: str) -> None:
    """Raise ``hint`` if :func:`superposition_output` shows ``f(a) + f(b) = f(a + b) + f(0)``."""
    f_a, f_b, f_ab, f_0 = output.chunk(4)
    if torch.allclose(f_a + f_b, f_ab + f_0, atol=1e-4):
        raise Hint(hint)


def looks_like_probabilities(output: Tensor) -> bool:
    """Whether every row of ``output`` is non-negative and sums to 1: a softmax at the end."""
    sums = output.sum(dim=1)
    return bool((output >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4))
