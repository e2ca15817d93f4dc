"""Self-checks for lesson 01: a first classifier, the training loop, non-linearity.

Each function prints one line, a pass or a hint, and returns a
:class:`~practicaltorch.checks.CheckResult` that is truthy when it passed::

    from practicaltorch.checks import lesson01 as check

    check.batch(features_batch, targets_batch)
    check.train_one_epoch(train_one_epoch)
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import (
    CheckResult,
    as_number,
    call_learner,
    call_model,
    check_decreasing,
    check_metric,
    check_tensor,
    fail,
    not_done,
    passed,
)

__all__ = [
    "ROC_AUC_BAR",
    "batch",
    "class_indices",
    "classifier",
    "evaluate",
    "first_loss",
    "history",
    "nonlinear_model",
    "roc_auc",
    "train_one_epoch",
]

ROC_AUC_BAR = 0.99
"""The lesson's quality bar: validation ROC-AUC on the breast cancer data."""


def batch(features: Any, targets: Any, batch_size: int = 32, n_features: int = 30) -> CheckResult:
    """Check one training batch from the ``DataLoader``.

    Parameters
    ----------
    features, targets
        The batch: features ``(batch_size, n_features)`` and targets
        ``(batch_size, 1)``, both float32.
    batch_size, n_features
        The expected sizes.

    Returns
    -------
    CheckResult
    """
    for value, name in ((features, "features_batch"), (targets, "targets_batch")):
        stub = not_done(value, name)
        if stub is not None:
            return stub
    if isinstance(features, Tensor) and tuple(features.shape) == (n_features,):
        return fail(
            "`features_batch` is a single tumour (shape (30,)): take a whole batch from the "
            "loader with next(iter(train_loader)), not an item from the dataset"
        )
    want_x, want_y = (batch_size, n_features), (batch_size, 1)
    if not (isinstance(features, Tensor) and tuple(features.shape) == want_x):
        return check_tensor(features, shape=want_x, dtype=torch.float32, name="features_batch")
    if not (isinstance(targets, Tensor) and tuple(targets.shape) == want_y):
        return check_tensor(targets, shape=want_y, dtype=torch.float32, name="targets_batch")
    if features.dtype != torch.float32 or targets.dtype != torch.float32:
        return fail("the batch should be float32: the dataset already gives float32 tensors")
    return passed(
        f"a batch holds {batch_size} tumours: features {want_x} and targets {want_y}, float32"
    )


def _outputs(model: Any, example: Tensor, name: str) -> tuple[Tensor | None, CheckResult | None]:
    """Run a learner's model on ``example`` in eval mode, without printing on success."""
    stub = not_done(model, name)
    if stub is not None:
        return None, stub
    if not isinstance(model, nn.Module):
        return None, fail(f"`{name}` is a {type(model).__name__}, not a torch.nn.Module")
    parameter = next(model.parameters(), None)
    if parameter is not None:
        example = example.to(parameter.device)
    output, problem = call_model(model, name, example)
    if problem is not None:
        return None, problem
    if not isinstance(output, Tensor):
        return None, fail(f"`{name}` returned a {type(output).__name__}, not a tensor")
    return output, None


def classifier(model: Any, n_features: int = 30) -> CheckResult:
    """Check a binary classifier: ``(N, n_features)`` in, one raw logit per sample out.

    Parameters
    ----------
    model
        The learner's ``nn.Module``.
    n_features
        Input features per sample.

    Returns
    -------
    CheckResult
    """
    output, problem = _outputs(model, torch.randn(5, n_features), "model")
    if problem is not None:
        return problem
    assert output is not None
    last = list(model.modules())[-1]
    if isinstance(last, nn.Sigmoid):
        return fail(
            "`model` ends with a sigmoid: leave it out. nn.BCEWithLogitsLoss applies the "
            "sigmoid itself, more accurately, and expects raw scores (logits)"
        )
    if tuple(output.shape) == (5, 2):
        return fail(
            "`model` gives two outputs per tumour: with nn.BCEWithLogitsLoss a binary "
            "classifier needs one logit (out_features=1)"
        )
    if tuple(output.shape) != (5, 1):
        return check_tensor(output, shape=(5, 1), name="model(inputs)")
    return passed(f"`model` maps a batch of shape (N, {n_features}) to one logit each, (N, 1)")


def first_loss(loss: Any, logits: Tensor, targets: Tensor) -> CheckResult:
    """Check the loss of one batch computed with ``nn.BCEWithLogitsLoss``.

    Parameters
    ----------
    loss
        The learner's loss tensor.
    logits
        The model's outputs on the batch.
    targets
        The batch's targets, 0.0 or 1.0.

    Returns
    -------
    CheckResult
    """
    stub = not_done(loss, "loss")
    if stub is not None:
        return stub
    if not isinstance(loss, Tensor):
        return fail(
            f"`loss` is a {type(loss).__name__}: keep the tensor the loss function returns "
            "(backward() needs it); use loss.item() only for printing"
        )
    if loss.numel() != 1:
        return fail(f"`loss` has shape {tuple(loss.shape)}: the loss should be a single number")
    logits = logits.detach().float().cpu()
    targets = targets.float().cpu().reshape(logits.shape)
    bce = nn.functional.binary_cross_entropy_with_logits
    got = float(loss.detach())
    if math.isclose(got, float(bce(torch.sigmoid(logits), targets)), rel_tol=1e-4):
        return fail(
            "`loss` was computed from sigmoid(logits): nn.BCEWithLogitsLoss applies the "
            "sigmoid itself, so pass it the raw logits"
        )
    expected = float(bce(logits, targets))
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-6):
        return fail(
            f"`loss` is {got:.4g}, expected {expected:.4g}: compute loss_fn(logits, targets) "
            "with the logits first and targets of the same shape"
        )
    if not loss.requires_grad:
        return fail("`loss` does not track gradients: was it computed under torch.no_grad()?")
    return passed(f"`loss` is {got:.4g}: about log 2 = 0.69 for an untrained model")


def _toy_problem() -> tuple[nn.Linear, list[tuple[Tensor, Tensor]]]:
    """Return a small, seeded binary problem: a linear model and four batches of 16."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 3, generator=generator)
    targets = (inputs @ torch.tensor([[1.5], [-2.0], [0.5]]) > 0).float()
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 3, generator=generator))
        model.bias.zero_()
    batches = [(inputs[i : i + 16], targets[i : i + 16]) for i in range(0, 64, 16)]
    return model, batches


def _reference_epoch(
    model: nn.Module, batches: list[tuple[Tensor, Tensor]], lr: float
) -> list[float]:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    losses = []
    for inputs, targets in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _same_parameters(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in zip(a.parameters(), b.parameters())
    )


def train_one_epoch(function: Any) -> CheckResult:
    """Check ``train_one_epoch(model, loader, loss_fn, optimizer, device) -> float``.

    The function is run for one epoch on a small problem whose parameters start
    with stale gradients, and compared with a reference implementation of the
    six steps.

    Parameters
    ----------
    function
        The learner's function.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "train_one_epoch")
    if stub is not None:
        return stub
    lr = 0.5
    model, batches = _toy_problem()
    reference = copy.deepcopy(model)
    expected_losses = _reference_epoch(reference, batches, lr)
    before = copy.deepcopy(model)
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, math.nan)  # stale gradients
    model.eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    args = (model, batches, nn.BCEWithLogitsLoss(), optimizer, torch.device("cpu"))
    value, problem = call_learner(function, "train_one_epoch", *args)
    if problem is not None:
        return problem
    if any(not torch.isfinite(p).all() for p in model.parameters()):
        return fail(
            "the weights became NaN because the first update used stale gradients: call "
            "optimizer.zero_grad() at the start of every step, before loss.backward()"
        )
    if _same_parameters(model, before):
        return fail(
            "the weights did not change: call optimizer.step() after loss.backward(), and "
            "make sure optimizer.zero_grad() comes before backward(), not between it and step()"
        )
    if not model.training:
        return fail("call model.train() at the start, so layers such as dropout train properly")
    if not _same_parameters(model, reference):
        return fail(
            "the weights differ from one correct step per batch: in every step do "
            "zero_grad(), forward pass, loss, backward(), step(), in that order"
        )
    try:
        mean_loss = as_number(value)
    except (TypeError, ValueError, RuntimeError):
        return fail(
            f"`train_one_epoch` returned {type(value).__name__}: return the mean loss of "
            "the epoch as a float"
        )
    expected = sum(expected_losses) / len(expected_losses)
    if not math.isclose(mean_loss, expected, rel_tol=1e-4):
        return fail(
            f"`train_one_epoch` returned {mean_loss:.4g}, expected the mean batch loss "
            f"{expected:.4g}: add up loss.item() over the batches and divide by their number"
        )
    return passed("`train_one_epoch` does the six steps in the right order")


def evaluate(function: Any) -> CheckResult:
    """Check ``evaluate(model, loader, loss_fn, device) -> (loss, logits, targets)``.

    Parameters
    ----------
    function
        The learner's function.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "evaluate")
    if stub is not None:
        return stub
    model, batches = _toy_problem()
    before = copy.deepcopy(model)
    model.train()
    value, problem = call_learner(
        function, "evaluate", model, batches, nn.BCEWithLogitsLoss(), torch.device("cpu")
    )
    if problem is not None:
        return problem
    try:
        loss, logits, targets = value
        loss = as_number(loss)
    except (TypeError, ValueError, RuntimeError):
        return fail("`evaluate` should return three things: (mean loss, logits, targets)")
    if not _same_parameters(model, before) or any(p.grad is not None for p in model.parameters()):
        return fail("`evaluate` changed the model: no backward() or optimizer.step() here")
    if model.training:
        return fail("call model.eval() at the start of `evaluate`")
    inputs = torch.cat([x for x, _ in batches])
    all_targets = torch.cat([y for _, y in batches])
    if not isinstance(logits, Tensor) or not isinstance(targets, Tensor):
        return fail("`evaluate` should return the logits and targets as tensors (torch.cat)")
    if logits.requires_grad:
        return fail(
            "the logits track gradients: wrap the loop in `with torch.no_grad():` "
            "(faster, and it uses less memory)"
        )
    if tuple(logits.shape) != tuple(all_targets.shape) or tuple(targets.shape) != tuple(
        all_targets.shape
    ):
        return fail(
            f"`evaluate` returned logits {tuple(logits.shape)} and targets "
            f"{tuple(targets.shape)}, expected {tuple(all_targets.shape)} each: join the "
            "batches with torch.cat(list_of_batches)"
        )
    with torch.no_grad():
        want_logits = before(inputs)
    if not torch.allclose(logits.cpu(), want_logits, atol=1e-5) or not torch.equal(
        targets.cpu(), all_targets
    ):
        return fail("the logits or targets are not the model's outputs on every batch, in order")
    want_loss = float(nn.functional.binary_cross_entropy_with_logits(want_logits, all_targets))
    if not math.isclose(loss, want_loss, rel_tol=1e-4):
        return fail(
            f"`evaluate` returned the loss {loss:.4g}, expected the mean over all samples "
            f"{want_loss:.4g}"
        )
    return passed("`evaluate` computes the loss, logits and targets without training")


def history(value: Any) -> CheckResult:
    """Check the per-epoch history returned by ``train_model``: the training loss fell.

    Parameters
    ----------
    value
        A dict with lists ``"train_loss"`` and ``"valid_loss"``, one value per epoch.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, "history")
    if stub is not None:
        return stub
    if not isinstance(value, dict) or not {"train_loss", "valid_loss"} <= set(value):
        return fail(
            "`history` should be a dict with the lists 'train_loss' and 'valid_loss', "
            "one value appended per epoch"
        )
    if len(value["train_loss"]) != len(value["valid_loss"]):
        return fail("'train_loss' and 'valid_loss' should have one value per epoch each")
    return check_decreasing(value["train_loss"], name="training loss", min_drop=0.5)


def roc_auc(value: Any, bar: float = ROC_AUC_BAR) -> CheckResult:
    """Check the validation ROC-AUC against the lesson's bar.

    Parameters
    ----------
    value
        The area under the ROC curve, between 0 and 1.
    bar
        The value to reach.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, "valid_auc")
    if stub is not None:
        return stub
    if as_number(value) < 0.5:
        return fail(
            f"the ROC-AUC is {as_number(value):.3f}, worse than guessing (0.5): the scores rank "
            "the classes backwards. Are the targets and predictions swapped in the call?"
        )
    return check_metric(as_number(value), bar, name="validation ROC-AUC")


def nonlinear_model(model: Any, n_features: int = 2) -> CheckResult:
    """Check a model that can bend: one logit per sample, and not an affine map.

    An affine map ``f`` satisfies ``f(a) + f(b) = f(a + b) + f(0)`` for all
    inputs; a network with activations between its layers does not.

    Parameters
    ----------
    model
        The learner's ``nn.Module``.
    n_features
        Input features per sample.

    Returns
    -------
    CheckResult
    """
    generator = torch.Generator().manual_seed(0)
    a, b = 2 * torch.randn(2, 64, n_features, generator=generator)
    output, problem = _outputs(model, torch.cat([a, b, a + b, torch.zeros_like(a)]), "deep_model")
    if problem is not None:
        return problem
    assert output is not None
    if tuple(output.shape) != (4 * 64, 1):
        return check_tensor(output[:64], shape=(64, 1), name="deep_model(inputs)")
    f_a, f_b, f_ab, f_0 = output.chunk(4)
    if torch.allclose(f_a + f_b, f_ab + f_0, atol=1e-4):
        return fail(
            "`deep_model` is still a linear (affine) function: Linear layers stacked without "
            "an activation between them collapse into one Linear layer. Put nn.ReLU() "
            "between them"
        )
    return passed("`deep_model` is non-linear and gives one logit per sample")


def class_indices(value: Any, n_samples: int) -> CheckResult:
    """Check targets prepared for ``nn.CrossEntropyLoss``: ``long`` class indices ``(N,)``.

    Parameters
    ----------
    value
        The learner's targets.
    n_samples
        How many samples they describe.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, "class_targets")
    if stub is not None:
        return stub
    if isinstance(value, Tensor) and tuple(value.shape) == (n_samples, 1):
        return fail(
            "`class_targets` has shape (N, 1): CrossEntropyLoss wants one class index per "
            "sample, shape (N,). Use .squeeze(1)"
        )
    if (
        isinstance(value, Tensor)
        and tuple(value.shape) == (n_samples,)
        and value.dtype != (torch.long)
    ):
        return fail(
            f"`class_targets` has dtype {value.dtype}: class indices are integers, so "
            "convert with .long()"
        )
    if not (isinstance(value, Tensor) and tuple(value.shape) == (n_samples,)):
        return check_tensor(value, shape=(n_samples,), dtype=torch.long, name="class_targets")
    if not bool(((value == 0) | (value == 1)).all()):
        return fail("`class_targets` should hold the class indices 0 and 1 only")
    return passed(f"`class_targets` holds {n_samples} class indices of dtype torch.int64")
