"""Self-checks for lesson 01: a first classifier, the training loop, non-linearity."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.functional.classification import binary_auroc

import practicaltorch.checks.probes as probes
from practicaltorch.checks import check_decreasing, check_metric, expect_loaders, expect_tensor
from practicaltorch.checks._core import CheckResult, Hint, call, check, model_output, number
from practicaltorch.data.cancer import BreastCancer

ROC_AUC_BAR = 0.99
"""The lesson's quality bar: validation ROC-AUC on the breast cancer data."""

_CPU = torch.device("cpu")
_ACTIVATIONS = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.GELU, nn.Softplus)
_LOSS = nn.BCEWithLogitsLoss()


@check("features_batch", "targets_batch")
def batch(features: Any, targets: Any, train_loader: Any = None, valid_loader: Any = None) -> str:
    """Check the loaders (when given) and one training batch of 32 tumours, float32."""
    if train_loader is not None or valid_loader is not None:
        leak = "`valid_loader` serves the training tumours: build it from valid_set"
        expect_loaders(train_loader, valid_loader, batch_size=32, leak=leak)
    if isinstance(features, Tensor) and features.ndim == 1:
        raise Hint("`features_batch` is a single tumour: take a batch, next(iter(train_loader))")
    if isinstance(features, Tensor) and features.ndim == 2 and len(features) > 32:
        raise Hint("`features_batch` is too large: take it from train_loader, not valid_loader")
    expect_tensor(features, shape=(32, 30), dtype=torch.float32, name="features_batch")
    expect_tensor(targets, shape=(32, 1), dtype=torch.float32, name="targets_batch")
    return "a batch holds 32 tumours: features (32, 30) and targets (32, 1), float32"


@check("model")
def classifier(model: Any, n_features: int = 30) -> str:
    """Check a binary classifier: ``(N, n_features)`` in, one raw logit per sample out."""
    output = model_output(model, "model", torch.randn(5, n_features), n_features=n_features)
    if isinstance(list(model.modules())[-1], nn.Sigmoid):
        raise Hint("`model` ends with a sigmoid: drop it; nn.BCEWithLogitsLoss wants raw logits")
    if tuple(output.shape) == (5, 2):
        raise Hint("`model` gives two outputs per tumour: for nn.BCEWithLogitsLoss, one logit")
    expect_tensor(output, shape=(5, 1), name="model(inputs)")
    return f"`model` maps a batch of shape (N, {n_features}) to one logit each, (N, 1)"


@check("loss")
def first_loss(loss: Any, logits: Tensor, targets: Tensor) -> str:
    """Check the loss of one batch computed with ``nn.BCEWithLogitsLoss``."""
    if not isinstance(loss, Tensor):
        raise Hint("`loss` must be the tensor backward() needs: use loss.item() only to print")
    if loss.numel() != 1:
        raise Hint(f"`loss` has shape {tuple(loss.shape)}: the loss should be a single number")
    logits = logits.detach().float().cpu()
    targets = targets.float().cpu().reshape(logits.shape)
    got, want = float(loss.detach()), float(_LOSS(logits, targets))
    if math.isclose(got, float(_LOSS(torch.sigmoid(logits), targets)), rel_tol=1e-4):
        raise Hint("`loss` saw sigmoid(logits): pass the raw logits, the loss applies the sigmoid")
    if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-6):
        raise Hint(f"`loss` is {got:.4g}, not {want:.4g}: loss_fn(logits, targets), logits first")
    if not loss.requires_grad:
        raise Hint("`loss` does not track gradients: was it computed under torch.no_grad()?")
    return f"`loss` is {got:.4g}: about log 2 = 0.69 for an untrained model"


def _probe(seed: int) -> tuple[nn.Linear, probes.Batches]:
    """Return a linear classifier of three features, and three seeded batches of 0/1 targets."""
    net = nn.Linear(3, 1)
    nn.utils.vector_to_parameters(torch.tensor([1.5, -2.0, 0.5, 0.0]), net.parameters())
    batches = probes.probe_batches((3,), seed=seed, n_classes=2)
    return net, [(x, y.float().unsqueeze(1)) for x, y in batches]


def train_one_epoch(function: Any) -> CheckResult:
    """Check ``train_one_epoch(model, loader, loss_fn, optimizer, device)`` on a probe."""
    net, batches = _probe(0)
    return probes.check_train_epoch(function, net, batches, loss_fn=_LOSS, name="train_one_epoch")


@check("evaluate")
def evaluate(function: Any) -> str:
    """Check ``evaluate(model, loader, loss_fn, device) -> (loss, logits, targets)``."""
    net, batches = _probe(0)
    probe = probes.RecordingModel(net).train()
    value = call(function, "evaluate", probe, probes.probe_loader(batches), _LOSS, _CPU)
    probes.expect_evaluation(probe, "evaluate")
    if any(p.grad is not None for p in probe.parameters()):
        raise Hint("`evaluate` changed the model: no backward() or optimizer.step() here")
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise Hint("`evaluate` should return three things: (mean loss, logits, targets)")
    loss, logits, targets = value
    loss = number(loss, "the loss evaluate returns")
    want_logits, want_targets = probes.probe_outputs(probe, batches)
    shape = tuple(want_targets.shape)
    if not all(isinstance(v, Tensor) and tuple(v.shape) == shape for v in (logits, targets)):
        raise Hint(f"`evaluate` should return logits and targets of shape {shape}: torch.cat them")
    right = torch.allclose(logits.cpu(), want_logits, atol=1e-5)
    if not right or not torch.equal(targets.cpu(), want_targets):
        raise Hint("the logits or targets are not the model's outputs on every batch, in order")
    want = float(_LOSS(want_logits, want_targets))
    if not math.isclose(loss, want, rel_tol=1e-4):
        raise Hint(f"`evaluate` returned the loss {loss:.4g}, expected the mean {want:.4g}")
    return "`evaluate` computes the loss, logits and targets without training"


def _expect_history(value: Any, name: str, epochs: int = 0) -> None:
    """Raise a hint unless ``value`` holds one number per epoch for each loss."""
    if not isinstance(value, dict) or not {"train_loss", "valid_loss"} <= set(value):
        raise Hint(f"`{name}` should be a dict of lists 'train_loss' and 'valid_loss'")
    for key in ("train_loss", "valid_loss"):
        values, want = value[key], epochs or len(value["train_loss"])
        if not isinstance(values, list) or len(values) != want:
            raise Hint(f"history['{key}'] should be a list of {want} values: one per epoch")
        if any(isinstance(v, tuple) for v in values):
            raise Hint(f"history['{key}'] holds tuples: append only the loss from evaluate")
        for v in values:
            number(v, f"history['{key}'] values")


@check("train_model")
def train_model(function: Any, epochs: int = 2) -> str:
    """Check ``train_model(model, train_loader, valid_loader, loss_fn, optimizer, device, n)``."""
    net, train_batches = _probe(0)
    valid_batches = _probe(1)[1]
    seen: list[tuple[bool, float]] = []  # (training, first number of the batch)
    net.register_forward_pre_hook(lambda m, args: seen.append((m.training, float(args[0][0, 0]))))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    loaders = probes.probe_loader(train_batches), probes.probe_loader(valid_batches)
    args = (net, *loaders, _LOSS, optimizer, _CPU, epochs)
    result = call(function, "train_model", *args)
    valid = {float(x[0, 0]) for x, _ in valid_batches}
    if any(training and key in valid for training, key in seen):
        raise Hint("`train_model` trains on the validation batches: train on train_loader")
    evaluated = {key for training, key in seen if not training}
    if not evaluated & valid:
        where = "evaluates on the training batches" if evaluated else "never evaluates"
        raise Hint(f"`train_model` {where}: call evaluate(model, valid_loader, ...) each epoch")
    _expect_history(result, "the history train_model returns", epochs)
    return "`train_model` trains on the training batches and evaluates on the validation ones"


@check("history")
def history(value: Any) -> CheckResult:
    """Check the per-epoch history returned by ``train_model``: the training loss fell."""
    _expect_history(value, "history")
    return check_decreasing(value["train_loss"], name="training loss", min_drop=0.5)


def _auc(scores: Tensor, targets: Tensor) -> float:
    """Return the ROC-AUC of ``scores`` for the 0/1 ``targets``."""
    return float(binary_auroc(scores, targets.long()))


@check("valid_auc")
def roc_auc(
    value: Any, logits: Any = None, targets: Any = None, bar: float = ROC_AUC_BAR
) -> CheckResult:
    """Check the validation ROC-AUC; given its ``logits`` and ``targets``, also how it was made."""
    auc = number(value, "valid_auc")
    if logits is not None and targets is not None:
        truth = BreastCancer(train=False).targets.reshape(-1)
        scores = torch.as_tensor(logits).detach().cpu().double().reshape(-1)
        targets = torch.as_tensor(targets).detach().cpu().reshape(-1)
        if len(targets) == len(BreastCancer(train=True)):
            raise Hint("these are the training tumours' scores: evaluate on valid_loader")
        if len(scores) != len(truth) or not torch.equal(targets.double(), truth.double()):
            raise Hint("`valid_targets` are not valid_loader's targets in order: use evaluate's")
        want = _auc(scores, truth)
        if not math.isclose(auc, want, abs_tol=1e-4):
            if math.isclose(auc, _auc((scores > 0).double(), truth), abs_tol=1e-6):
                raise Hint("`valid_auc` was computed from 0/1 predictions: pass the raw logits")
            raise Hint(f"`valid_auc` is {auc:.4f}, but valid_logits give {want:.4f}: use them")
    if auc < 0.5:
        raise Hint(f"the ROC-AUC is {auc:.3f}, ranking backwards: are scores and targets swapped?")
    return check_metric(auc, bar, name="validation ROC-AUC")


@check("deep_model")
def nonlinear_model(model: Any, n_features: int = 2) -> str:
    """Check a model that can bend: one logit per sample, and not an affine map."""
    output = probes.superposition_output(model, "deep_model", n_features, 64)
    if tuple(output.shape) != (4 * 64, 1):
        expect_tensor(output[:64], shape=(64, 1), name="deep_model(inputs)")
    last = list(model.modules())[-1]
    if isinstance(last, _ACTIVATIONS):
        raise Hint(f"`deep_model` ends with {type(last).__name__}: end with Linear, for raw logits")
    hint = "`deep_model` is affine: stacked Linear layers collapse into one; put nn.ReLU() between"
    probes.expect_not_affine(output, hint)
    return "`deep_model` is non-linear and gives one logit per sample"


@check("class_targets")
def class_indices(value: Any, targets: Tensor) -> str:
    """Check class indices ``(N,)`` of dtype ``long`` made from float targets ``(N, 1)``."""
    want = targets.detach().cpu().reshape(-1).long()
    n = len(want)
    slips: dict[tuple[int, ...], str] = {
        (n, 1): "`class_targets` has shape (N, 1): CrossEntropyLoss wants shape (N,), .squeeze(1)",
        (n, 2): "`class_targets` is one-hot, shape (N, 2): CrossEntropyLoss wants indices, (N,)",
    }
    if isinstance(value, Tensor) and tuple(value.shape) in slips:
        raise Hint(slips[tuple(value.shape)])
    value = expect_tensor(value, shape=(n,), name="class_targets").cpu()
    if value.dtype != torch.long:
        raise Hint(f"`class_targets` has dtype {value.dtype}: class indices are integers, .long()")
    if not bool(((value == 0) | (value == 1)).all()):
        raise Hint("`class_targets` should hold the class indices 0 and 1 only")
    if torch.equal(value, 1 - want):
        raise Hint("`class_targets` has the classes flipped: keep class 1 as 1")
    if not torch.equal(value, want):
        raise Hint(f"`class_targets` are not the {n} targets as class indices, in order")
    return f"`class_targets` holds {n} class indices of dtype torch.int64"
