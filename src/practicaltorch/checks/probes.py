"""Instrumented probes for checking a learner's training and evaluation loops.

A lesson builds a tiny network and a few small batches; the functions here run
the learner's ``train_epoch`` (or ``validate``, ``accuracy``) on a
:class:`RecordingModel` wrapped around that network, with a
:class:`CountingSGD` optimiser, and turn what was recorded into a hint about
the likely mistake: ``model.train()`` or ``model.eval()`` forgotten, no
``optimizer.zero_grad()``, too many or too few ``optimizer.step()`` calls,
gradients tracked where none are needed, a loss returned as a tensor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import CheckResult, call_learner, fail, not_done, passed

__all__ = [
    "Batches",
    "CountingSGD",
    "RecordingModel",
    "accuracy_problem",
    "check_train_epoch",
    "eval_problem",
    "probe_batches",
    "probe_outputs",
]

Batches = list[tuple[Tensor, Tensor]]
_CPU = torch.device("cpu")


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

    def output_weight(self) -> Tensor:
        """Return the weight of the last ``nn.Linear``: every real update changes it."""
        linears = [m for m in self.net.modules() if isinstance(m, nn.Linear)]
        return linears[-1].weight


class CountingSGD(torch.optim.SGD):
    """SGD that counts its steps and gradient resets."""

    def __init__(self, params: Any, lr: float) -> None:
        super().__init__(params, lr=lr)
        self.steps = 0
        self.zero_grads = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Count the reset, then reset the gradients."""
        self.zero_grads += 1
        super().zero_grad(set_to_none)

    def step(self, closure: Any = None) -> Any:
        """Count the step, then take it."""
        self.steps += 1
        return super().step(closure)


def probe_batches(feature_shape: Sequence[int], *, seed: int, n_classes: int = 3) -> Batches:
    """Return three seeded batches of five samples: inputs and class indices."""
    generator = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(5, *feature_shape, generator=generator),
            torch.randint(0, n_classes, (5,), generator=generator),
        )
        for _ in range(3)
    ]


def probe_outputs(probe: RecordingModel, batches: Batches) -> tuple[Tensor, Tensor]:
    """Return the probe's logits on all the batches, and all their targets (not recorded)."""
    inputs = torch.cat([x for x, _ in batches])
    targets = torch.cat([y for _, y in batches])
    with torch.no_grad():
        logits = probe.net(inputs)
    return logits, targets


def check_train_epoch(
    train_epoch: Any,
    net: nn.Module,
    batches: Batches,
    *,
    one_forward_per_batch: bool = False,
    name: str = "train_epoch",
) -> CheckResult:
    """Run ``train_epoch(model, batches, loss_fn, optimizer, device)`` on a probe of ``net``.

    Parameters
    ----------
    train_epoch
        The learner's function, returning the mean loss as a number.
    net
        A tiny classifier for ``batches``; it is trained in place.
    batches
        The batches to train on, for example from :func:`probe_batches`.
    one_forward_per_batch
        Require exactly one forward pass per batch, not merely at least one.
    name
        What the function is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(train_epoch, name)
    if stub is not None:
        return stub
    probe = RecordingModel(net).eval()  # the function must switch it to training mode
    optimizer = CountingSGD(probe.parameters(), lr=0.1)
    before = probe.output_weight().detach().clone()
    value, problem = call_learner(
        train_epoch, name, probe, batches, nn.CrossEntropyLoss(), optimizer, _CPU
    )
    if problem is not None:
        return problem
    if not probe.calls:
        return fail(f"`{name}` never ran the model on the batches")
    if one_forward_per_batch and len(probe.calls) != len(batches):
        return fail(
            f"`{name}` ran the model {len(probe.calls)} times on {len(batches)} batches: "
            "one forward pass per batch"
        )
    if not all(training for training, _ in probe.calls):
        return fail(f"`{name}` ran the model in evaluation mode: call model.train() first")
    if optimizer.steps != len(batches) or torch.equal(before, probe.output_weight()):
        return fail(
            f"`{name}` called optimizer.step() {optimizer.steps} times on {len(batches)} "
            "batches: call it once per batch, after loss.backward()"
        )
    if optimizer.zero_grads < len(batches):
        return fail(
            f"`{name}` does not call optimizer.zero_grad() before every backward pass, "
            "so gradients add up from batch to batch"
        )
    if isinstance(value, Tensor) and value.requires_grad:
        return fail(f"`{name}` returns a tensor that tracks gradients: return loss.item()")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return fail(f"`{name}` should return the mean loss as a number, got {value!r}")
    if not math.isfinite(number) or number <= 0:
        return fail(f"`{name}` returned {number}; expected the (positive) mean loss")
    return passed(f"`{name}` trains: train mode, zero_grad, forward, loss, backward, step")


def eval_problem(probe: RecordingModel, name: str) -> CheckResult | None:
    """Return a hint if an evaluation function ran ``probe`` in training mode or with gradients.

    Parameters
    ----------
    probe
        The probe the learner's function was given (starting in training mode).
    name
        What the function is called in the exercise.

    Returns
    -------
    CheckResult or None
        A failure with a hint, or ``None`` if every forward pass was in eval mode
        without gradients.
    """
    if not probe.calls:
        return fail(f"`{name}` never ran the model on the batches")
    if any(training for training, _ in probe.calls):
        return fail(
            f"`{name}` ran the model in training mode: call model.eval() first (batch norm "
            "and dropout behave differently while training, and the scores are wrong)"
        )
    if any(grad for _, grad in probe.calls):
        return fail(
            f"`{name}` tracks gradients it never uses: wrap the loop in `with torch.no_grad():`"
        )
    return None


def accuracy_problem(
    got: float, logits: Tensor, targets: Tensor, *, name: str, items: str
) -> CheckResult | None:
    """Return a hint if ``got`` is not the fraction of ``logits`` whose argmax is the target.

    Parameters
    ----------
    got
        The accuracy the learner's function returned.
    logits, targets
        The right outputs and targets, for example from :func:`probe_outputs`.
    name
        What the function is called in the exercise.
    items
        What the samples are, in the plural: ``"birds"``, ``"images"``.

    Returns
    -------
    CheckResult or None
    """
    want = float((logits.argmax(dim=1) == targets).float().mean())
    if want > 0 and abs(got - 100 * want) < 1e-4:
        return fail(
            f"`{name}` returns the accuracy as a percentage: return a fraction between 0 and 1"
        )
    if abs(got - want) > 1e-4:
        return fail(
            f"`{name}` returned the accuracy {got:.4g}, expected {want:.4g}: count "
            f"outputs.argmax(dim=1) == targets over all {items}, divide by the number of {items}"
        )
    return None
