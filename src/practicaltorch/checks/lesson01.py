"""Self-checks for lesson 01: a first classifier, the training loop, non-linearity."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import check_decreasing, check_metric, expect_loaders, expect_tensor
from practicaltorch.checks._core import CheckResult, Hint, call, check, model_output, number
from practicaltorch.checks.probes import (
    RecordingModel,
    check_train_epoch,
    expect_evaluation,
    expect_not_affine,
    probe_loader,
    probe_outputs,
    superposition_output,
)
from practicaltorch.data.cancer import BreastCancer

ROC_AUC_BAR = 0.99
"""The lesson's quality bar: validation ROC-AUC on the breast cancer data."""

_CPU = torch.device("cpu")
_ACTIVATIONS = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.GELU, nn.Softplus)


@check("features_batch", "targets_batch")
def batch(
    features: Any,
    targets: Any,
    train_loader: Any = None,
    valid_loader: Any = None,
    *,
    batch_size: int = 32,
    n_features: int = 30,
) -> str:
    """Check the loaders (when given) and one training batch, both float32."""
    if train_loader is not None or valid_loader is not None:
        leak = (
            "`valid_loader` serves the training tumours: build it from valid_set, so the "
            "model is judged on tumours it never trained on"
        )
        expect_loaders(train_loader, valid_loader, batch_size=batch_size, leak=leak)
    if isinstance(features, Tensor) and tuple(features.shape) == (n_features,):
        raise Hint(
            "`features_batch` is a single tumour (shape (30,)): take a whole batch from the "
            "loader with next(iter(train_loader)), not an item from the dataset"
        )
    if isinstance(features, Tensor) and features.ndim == 2 and len(features) > batch_size:
        raise Hint(
            f"`features_batch` holds {len(features)} tumours: take the batch from "
            "train_loader, not valid_loader"
        )
    want_x, want_y = (batch_size, n_features), (batch_size, 1)
    expect_tensor(features, shape=want_x, name="features_batch")
    expect_tensor(targets, shape=want_y, name="targets_batch")
    if features.dtype != torch.float32 or targets.dtype != torch.float32:
        raise Hint("the batch should be float32: the dataset already gives float32 tensors")
    return f"a batch holds {batch_size} tumours: features {want_x} and targets {want_y}, float32"


@check("model")
def classifier(model: Any, n_features: int = 30) -> str:
    """Check a binary classifier: ``(N, n_features)`` in, one raw logit per sample out."""
    output = model_output(model, "model", torch.randn(5, n_features), n_features=n_features)
    if isinstance(list(model.modules())[-1], nn.Sigmoid):
        raise Hint(
            "`model` ends with a sigmoid: leave it out. nn.BCEWithLogitsLoss applies the "
            "sigmoid itself, more accurately, and expects raw scores (logits)"
        )
    if tuple(output.shape) == (5, 2):
        raise Hint(
            "`model` gives two outputs per tumour: with nn.BCEWithLogitsLoss a binary "
            "classifier needs one logit (out_features=1)"
        )
    expect_tensor(output, shape=(5, 1), name="model(inputs)")
    return f"`model` maps a batch of shape (N, {n_features}) to one logit each, (N, 1)"


@check("loss")
def first_loss(loss: Any, logits: Tensor, targets: Tensor) -> str:
    """Check the loss of one batch computed with ``nn.BCEWithLogitsLoss``."""
    if not isinstance(loss, Tensor):
        raise Hint(
            f"`loss` is a {type(loss).__name__}: keep the tensor the loss function returns "
            "(backward() needs it); use loss.item() only for printing"
        )
    if loss.numel() != 1:
        raise Hint(f"`loss` has shape {tuple(loss.shape)}: the loss should be a single number")
    logits = logits.detach().float().cpu()
    targets = targets.float().cpu().reshape(logits.shape)
    bce = nn.functional.binary_cross_entropy_with_logits
    got = float(loss.detach())
    if math.isclose(got, float(bce(torch.sigmoid(logits), targets)), rel_tol=1e-4):
        raise Hint(
            "`loss` was computed from sigmoid(logits): nn.BCEWithLogitsLoss applies the "
            "sigmoid itself, so pass it the raw logits"
        )
    expected = float(bce(logits, targets))
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-6):
        raise Hint(
            f"`loss` is {got:.4g}, expected {expected:.4g}: compute loss_fn(logits, targets) "
            "with the logits first and targets of the same shape"
        )
    if not loss.requires_grad:
        raise Hint("`loss` does not track gradients: was it computed under torch.no_grad()?")
    return f"`loss` is {got:.4g}: about log 2 = 0.69 for an untrained model"


def _toy_problem(seed: int = 0) -> tuple[nn.Linear, list[tuple[Tensor, Tensor]]]:
    """Return a small, seeded binary problem: a linear model and four batches of 16."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(64, 3, generator=generator)
    targets = (inputs @ torch.tensor([[1.5], [-2.0], [0.5]]) > 0).float()
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 3, generator=generator))
        model.bias.zero_()
    return model, [(inputs[i : i + 16], targets[i : i + 16]) for i in range(0, 64, 16)]


def train_one_epoch(function: Any) -> CheckResult:
    """Check ``train_one_epoch(model, loader, loss_fn, optimizer, device)`` on a probe."""
    model, batches = _toy_problem()
    return check_train_epoch(
        function, model, batches, loss_fn=nn.BCEWithLogitsLoss(), name="train_one_epoch"
    )


@check("evaluate")
def evaluate(function: Any) -> str:
    """Check ``evaluate(model, loader, loss_fn, device) -> (loss, logits, targets)``."""
    net, batches = _toy_problem()
    probe = RecordingModel(copy.deepcopy(net)).train()
    loader = probe_loader(batches)
    value = call(function, "evaluate", probe, loader, nn.BCEWithLogitsLoss(), _CPU)
    expect_evaluation(probe, "evaluate")
    if any(p.grad is not None for p in probe.parameters()):
        raise Hint("`evaluate` changed the model: no backward() or optimizer.step() here")
    try:
        loss, logits, targets = value
    except (TypeError, ValueError):
        raise Hint("`evaluate` should return three things: (mean loss, logits, targets)") from None
    loss = number(loss, "the loss evaluate returns")
    if not isinstance(logits, Tensor) or not isinstance(targets, Tensor):
        raise Hint("`evaluate` should return the logits and targets as tensors (torch.cat)")
    want_logits, all_targets = probe_outputs(probe, batches)
    if tuple(logits.shape) != tuple(all_targets.shape) or tuple(targets.shape) != tuple(
        all_targets.shape
    ):
        raise Hint(
            f"`evaluate` returned logits {tuple(logits.shape)} and targets "
            f"{tuple(targets.shape)}, expected {tuple(all_targets.shape)} each: join the "
            "batches with torch.cat(list_of_batches)"
        )
    if not torch.allclose(logits.cpu(), want_logits, atol=1e-5) or not torch.equal(
        targets.cpu(), all_targets
    ):
        raise Hint("the logits or targets are not the model's outputs on every batch, in order")
    want_loss = float(nn.functional.binary_cross_entropy_with_logits(want_logits, all_targets))
    if not math.isclose(loss, want_loss, rel_tol=1e-4):
        raise Hint(
            f"`evaluate` returned the loss {loss:.4g}, expected the mean over all samples "
            f"{want_loss:.4g}"
        )
    return "`evaluate` computes the loss, logits and targets without training"


def _key(x: Tensor) -> float:
    """Name a probe batch by its first number (random, so distinct between batches)."""
    return float(x.reshape(-1)[0])


class _BatchRecorder(RecordingModel):
    """A probe that also records which batch each forward pass saw."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__(net)
        self.seen: list[tuple[bool, float]] = []

    def forward(self, x: Tensor) -> Tensor:
        """Record the mode and the batch, then run the network."""
        self.seen.append((self.training, _key(x)))
        return super().forward(x)


@check("train_model")
def train_model(function: Any, epochs: int = 2) -> str:
    """Check ``train_model(model, train_loader, valid_loader, loss_fn, optimizer, device, epochs)``.

    A probe records which batches were trained on and which were evaluated.
    """
    net, train_batches = _toy_problem(0)
    _, valid_batches = _toy_problem(1)
    probe = _BatchRecorder(net)
    optimizer = torch.optim.SGD(probe.parameters(), lr=0.1)
    loaders = probe_loader(train_batches), probe_loader(valid_batches)
    args = (probe, *loaders, nn.BCEWithLogitsLoss(), optimizer, _CPU, epochs)
    result = call(function, "train_model", *args)
    valid = {_key(x) for x, _ in valid_batches}
    if any(training and key in valid for training, key in probe.seen):
        raise Hint(
            "`train_model` trains on the validation batches: pass train_loader to "
            "train_one_epoch and valid_loader to evaluate"
        )
    evaluated = {key for training, key in probe.seen if not training}
    if not evaluated & valid:
        where = "evaluates on the training batches" if evaluated else "never evaluates"
        raise Hint(
            f"`train_model` {where}: call evaluate(model, valid_loader, ...) after every epoch"
        )
    if not isinstance(result, dict) or not {"train_loss", "valid_loss"} <= set(result):
        raise Hint("`train_model` should return the dict `history`")
    for key in ("train_loss", "valid_loss"):
        if len(result[key]) != epochs:
            raise Hint(
                f"history['{key}'] has {len(result[key])} values after {epochs} epochs: "
                "append one per epoch"
            )
        if any(isinstance(v, tuple) for v in result[key]):
            raise Hint(
                f"history['{key}'] holds tuples: evaluate returns (loss, logits, targets), "
                "append only the loss"
            )
        for v in result[key]:
            number(v, f"history['{key}'] values")
    return "`train_model` trains on the training batches and evaluates on the validation ones"


@check("history")
def history(value: Any) -> CheckResult:
    """Check the per-epoch history returned by ``train_model``: the training loss fell."""
    if not isinstance(value, dict) or not {"train_loss", "valid_loss"} <= set(value):
        raise Hint(
            "`history` should be a dict with the lists 'train_loss' and 'valid_loss', "
            "one value appended per epoch"
        )
    if len(value["train_loss"]) != len(value["valid_loss"]):
        raise Hint("'train_loss' and 'valid_loss' should have one value per epoch each")
    return check_decreasing(value["train_loss"], name="training loss", min_drop=0.5)


def _auc(scores: Tensor, targets: Tensor) -> float:
    """Return the ROC-AUC: the chance that a positive outscores a negative (ties count half)."""
    positive, negative = scores[targets == 1], scores[targets == 0]
    wins = (positive[:, None] > negative[None, :]).double()
    ties = (positive[:, None] == negative[None, :]).double()
    return float((wins + ties / 2).mean())


def _expect_validation_scores(value: float, logits: Any, targets: Any) -> None:
    """Raise a hint unless ``value`` is the ROC-AUC of ``logits`` on the validation targets."""
    truth = BreastCancer(train=False).targets.reshape(-1)
    logits = torch.as_tensor(logits).detach().cpu().double().reshape(-1)
    targets = torch.as_tensor(targets).detach().cpu().reshape(-1)
    if len(targets) == len(BreastCancer(train=True)):
        raise Hint(
            "these are the training tumours' scores: a model looks better on data it trained "
            "on. Evaluate on valid_loader"
        )
    if len(logits) != len(truth) or not torch.equal(targets.double(), truth.double()):
        raise Hint(
            f"`valid_targets` are not the {len(truth)} validation targets in order: take both "
            "from evaluate(model, valid_loader, ...)"
        )
    if math.isclose(value, _auc((logits > 0).double(), truth), abs_tol=1e-6) and not (
        math.isclose(value, _auc(logits, truth), abs_tol=1e-4)
    ):
        raise Hint(
            "`valid_auc` was computed from 0/1 predictions: pass the raw logits (or "
            "probabilities), so the ROC curve sees every threshold"
        )
    if not math.isclose(value, _auc(logits, truth), abs_tol=1e-4):
        raise Hint(
            f"`valid_auc` is {value:.4f}, but the ROC-AUC of valid_logits is "
            f"{_auc(logits, truth):.4f}: compute it from valid_logits and valid_targets"
        )


@check("valid_auc")
def roc_auc(
    value: Any, logits: Any = None, targets: Any = None, bar: float = ROC_AUC_BAR
) -> CheckResult:
    """Check the validation ROC-AUC, and that it was measured on the validation split.

    With ``logits`` and ``targets`` (the validation scores it came from) the check also
    finds a metric taken on the training tumours or on thresholded predictions.
    """
    auc = number(value, "valid_auc")
    if logits is not None and targets is not None:
        _expect_validation_scores(auc, logits, targets)
    if auc < 0.5:
        raise Hint(
            f"the ROC-AUC is {auc:.3f}, worse than guessing (0.5): the scores rank the "
            "classes backwards. Are the targets and predictions swapped in the call?"
        )
    return check_metric(auc, bar, name="validation ROC-AUC")


@check("deep_model")
def nonlinear_model(model: Any, n_features: int = 2) -> str:
    """Check a model that can bend: one logit per sample, and not an affine map."""
    output = superposition_output(model, "deep_model", n_features, 64)
    if tuple(output.shape) != (4 * 64, 1):
        expect_tensor(output[:64], shape=(64, 1), name="deep_model(inputs)")
    last = list(model.modules())[-1]
    if isinstance(last, _ACTIVATIONS):
        raise Hint(
            f"`deep_model` ends with {type(last).__name__}: the last layer must give raw "
            "logits (any real number), so put the activations between the Linear layers only"
        )
    expect_not_affine(
        output,
        "`deep_model` is still a linear (affine) function: Linear layers stacked without "
        "an activation between them collapse into one Linear layer. Put nn.ReLU() "
        "between them",
    )
    return "`deep_model` is non-linear and gives one logit per sample"


@check("class_targets")
def class_indices(value: Any, targets: Tensor) -> str:
    """Check class indices ``(N,)`` of dtype ``long`` made from float targets ``(N, 1)``."""
    want = targets.detach().cpu().reshape(-1).long()
    n = len(want)
    if isinstance(value, Tensor) and tuple(value.shape) == (n, 1):
        raise Hint(
            "`class_targets` has shape (N, 1): CrossEntropyLoss wants one class index per "
            "sample, shape (N,). Use .squeeze(1)"
        )
    if isinstance(value, Tensor) and tuple(value.shape) == (n, 2):
        raise Hint(
            "`class_targets` is one-hot, shape (N, 2): CrossEntropyLoss wants the class "
            "index of each sample, shape (N,)"
        )
    if isinstance(value, Tensor) and tuple(value.shape) == (n,) and value.dtype != torch.long:
        raise Hint(
            f"`class_targets` has dtype {value.dtype}: class indices are integers, so "
            "convert with .long()"
        )
    value = expect_tensor(value, shape=(n,), dtype=torch.long, name="class_targets")
    if not bool(((value == 0) | (value == 1)).all()):
        raise Hint("`class_targets` should hold the class indices 0 and 1 only")
    if torch.equal(value.cpu(), 1 - want):
        raise Hint("`class_targets` has the classes flipped: keep class 1 as 1")
    if not torch.equal(value.cpu(), want):
        raise Hint(f"`class_targets` are not the {n} targets as class indices, in order")
    return f"`class_targets` holds {n} class indices of dtype torch.int64"
