"""Self-checks for lesson 02: penguin species with a fully-connected network."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from practicaltorch.checks import (
    check_decreasing,
    check_metric,
    expect_decreasing,
    expect_loaders,
    probes,
)
from practicaltorch.checks._core import CheckResult, Hint, call, check, model_output, number
from practicaltorch.data.penguins import COLUMNS, SPECIES

ACCURACY_BAR = 59 / 60 - 1e-9
"""At most one of the 60 validation birds misclassified (98.3%)."""
N_VALID = 60
"""The number of validation birds."""

_BIASED = {
    "island": "where a bird was caught, not what it is: the network would fail on other islands",
    "year": "when a bird was measured, not what it is: the network would learn that year's catch",
}


def expect_columns(chosen: Any, *, target: str, why: str) -> None:
    """Raise a hint unless ``chosen`` names distinct columns, without ``target`` (``why``)."""
    if isinstance(chosen, str) or not isinstance(chosen, Sequence):
        raise Hint(f"`features` should be a list of column names, not a {type(chosen).__name__}")
    if len(chosen) == 0:
        raise Hint("`features` is empty: choose at least one measurement")
    for name in chosen:
        if name not in COLUMNS:
            close = [c for c in COLUMNS if c.split("_")[0] in str(name)]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise Hint(f"`features` names {name!r}, which is not a column{hint}")
    if target in chosen:
        raise Hint(f"`features` contains {target!r}, {why}")
    for name, reason in _BIASED.items():
        if name in chosen:
            raise Hint(f"`features` contains {name!r}, {reason}. Leave it out")
    if len(set(chosen)) != len(chosen):
        raise Hint("`features` names a column twice")


@check("features")
def features(chosen: Any) -> str:
    """Check the chosen input columns: real columns, no target, no island or year."""
    why = "the answer itself: the network would copy it, useless on birds of unknown species"
    expect_columns(chosen, target="species", why=why)
    return f"{len(chosen)} features, all properties of the bird itself: {list(chosen)}"


def _item(data: Any, index: int, n_features: int, name: str) -> tuple[Tensor, Tensor]:
    """Return item ``index``, ``(n_features,)`` float32 features and a 0-d long class, or a hint."""
    item, at = call(data.__getitem__, f"{name}[{index}]", index), f"`{name}[{index}]`"
    if not isinstance(item, tuple) or len(item) != 2:
        raise Hint(f"{at} should be a pair (features, target), not a {type(item).__name__}")
    x, y = item
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise Hint(f"{at} holds ({type(x).__name__}, {type(y).__name__}): make both tensors")
    if x.dtype == torch.float64:
        raise Hint(f"{at} features are float64 (NumPy's default): convert with .float()")
    if tuple(x.shape) != (n_features,) or x.dtype != torch.float32:
        raise Hint(f"{at} features: {tuple(x.shape)} {x.dtype}, expected ({n_features},) float32")
    if y.ndim == 1 and len(y) > 1:
        raise Hint(f"{at} target looks one-hot: CrossEntropyLoss wants a class index, tensor(2)")
    if y.dtype != torch.int64:
        raise Hint(f"{at} target is {y.dtype}: class indices must be integers, torch.long")
    if y.ndim:
        raise Hint(f"{at} target has shape {tuple(y.shape)}, expected a 0-d class index")
    return x, y


def _expect_table_items(data: Any, table: pd.DataFrame, chosen: Sequence[str], name: str) -> None:
    """Raise a hint unless the items code ``table``'s rows, read from tensors made in __init__."""
    columns = [table[c] == "male" if c == "sex" else table[c] for c in chosen]
    want_x = torch.from_numpy(np.stack([c.to_numpy(np.float32) for c in columns], axis=1))
    want_y = torch.tensor(table["species"].map(SPECIES.index).to_numpy(), dtype=torch.long)
    got = [_item(data, i, len(chosen), name) for i in range(len(table))]
    if not torch.equal(torch.stack([y for _, y in got]), want_y):
        raise Hint(f"`{name}` gives wrong class indices: Adelie 0, Chinstrap 1, Gentoo 2 (SPECIES)")
    got_x = torch.stack([x for x, _ in got])
    flipped = torch.where(torch.tensor([c == "sex" for c in chosen]), 1 - want_x, want_x)
    if "sex" in chosen and torch.allclose(got_x, flipped):
        raise Hint(f"`{name}` codes sex the other way round: 1.0 for male, 0.0 for female")
    if not torch.allclose(got_x, want_x):
        raise Hint(f"`{name}` features are not the table's columns in the order of `features`")
    stored = getattr(data, "features", None)
    if not isinstance(stored, Tensor) or not isinstance(getattr(data, "targets", None), Tensor):
        raise Hint(f"`{name}` should store tensors `self.features` and `self.targets` in __init__")
    marked = copy.copy(data)
    marked.features = stored + 1000.0
    if torch.equal(_item(marked, 0, len(chosen), name)[0], got_x[0]):
        slow = "table.iloc per item is hundreds of times slower"
        raise Hint(f"`{name}[index]` does not read self.features: index the tensors ({slow})")


@check("{name}")
def dataset(
    data: Any,
    *,
    length: int,
    n_features: int,
    name: str = "dataset",
    table: pd.DataFrame | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """Check a species dataset's length and items; with ``table`` and ``columns``, their values."""
    if isinstance(data, type):
        raise Hint(f"`{name}` is a class: create an instance, e.g. `{data.__name__}(table, ...)`")
    size = call(len, f"len({name})", data)
    if size != length:
        raise Hint(f"len({name}) is {size}, expected {length}: one item per bird (row)")
    first, last = _item(data, 0, n_features, name), _item(data, length - 1, n_features, name)
    if all(torch.equal(a, b) for a, b in zip(first, last)):
        raise Hint(f"`{name}[0]` and `{name}[{length - 1}]` are equal: does __getitem__ use index?")
    if not torch.equal(_item(data, length - 1, n_features, name)[0], last[0]):
        raise Hint(f"`{name}[{length - 1}]` changed between two calls: items must be reproducible")
    if table is not None and columns is not None:
        _expect_table_items(data, table, columns, name)
    return f"`{name}` holds {size} birds: ({n_features},) float32 features, a torch.long class"


def _stacked(data: Any, name: str) -> Tensor:
    """Return the features of every item of ``data``, stacked, as float64."""
    return torch.stack(call(lambda d: [d[i][0] for i in range(len(d))], name, data)).double()


@check("{name}")
def standardised(data: Any, valid: Any = None, *, name: str = "train_set") -> str:
    """Check measurements (not 0/1 columns) have mean 0, std 1, from the training birds alone."""
    stacked = _stacked(data, name)
    continuous = [j for j in range(stacked.shape[1]) if len(stacked[:, j].unique()) > 2]
    if not continuous:
        raise Hint(f"`{name}` has no measurement columns to standardise")
    mean = stacked[:, continuous].mean(0).abs().max()
    std = stacked[:, continuous].std(0, correction=0)
    if mean > 0.05:
        raise Hint(f"`{name}` features have means up to {mean:.3g}: pass transform=... to scale")
    if mean > 1e-3:
        raise Hint(f"`{name}` means reach {mean:.3g}: take them from the training birds only")
    if (std - 1).abs().max() > 0.01:
        worst = std[(std - 1).abs().argmax()]
        raise Hint(f"`{name}` has a standard deviation of {worst:.3g}: divide by the training std")
    if valid is not None:
        _expect_scaled_like(valid, data, stacked, continuous)
    return f"`{name}` measurements have mean 0 and standard deviation 1"


def _expect_scaled_like(valid: Any, train: Any, scaled: Tensor, continuous: list[int]) -> None:
    """Raise a hint unless the validation items use the training set's mean and std."""
    raw_train, raw_valid = (getattr(d, "features", None) for d in (train, valid))
    if not isinstance(raw_train, Tensor) or not isinstance(raw_valid, Tensor):
        return
    raw_train, raw_valid = raw_train.double(), raw_valid.double()
    if torch.allclose(scaled, raw_train):
        return  # the stored features are already scaled: nothing to compare with
    mean, std = raw_train.mean(0), raw_train.std(0, correction=0)
    got = _stacked(valid, "my_valid")
    if torch.allclose(got, raw_valid):
        raise Hint("`my_valid` is not standardised: pass transform=standardise to it too")
    want = (raw_valid[:, continuous] - mean[continuous]) / std[continuous]
    if not torch.allclose(got[:, continuous], want, atol=0.02):
        raise Hint("`my_valid` is scaled with other statistics: use the training mean and std")


@check("train_loader", "valid_loader")
def loaders(train_loader: Any, valid_loader: Any, *, n_features: int, batch_size: int = 32) -> str:
    """Check the training and validation ``DataLoader`` objects."""
    expect_loaders(
        train_loader,
        valid_loader,
        batch_size=batch_size,
        leak="`valid_loader` serves {served} birds: build it from valid_set, the 60 unseen birds",
        valid_size=N_VALID,
        why_shuffle=", so each epoch sees a new order (the table is sorted by species)",
    )
    x, y = call(lambda loader: next(iter(loader)), "next(iter(train_loader))", train_loader)
    if tuple(x.shape) != (batch_size, n_features) or tuple(y.shape) != (batch_size,):
        want = f"({batch_size}, {n_features}) and ({batch_size},)"
        raise Hint(f"a training batch is {tuple(x.shape)} and {tuple(y.shape)}, expected {want}")
    batches = f"{len(train_loader)} training and {len(valid_loader)} validation batches"
    return f"batches of {batch_size} birds, shuffled for training; {batches}"


@check("{name}")
def model(net: Any, n_features: int, n_classes: int = 3, *, name: str = "model") -> str:
    """Check a classifier: ``(N, n_features)`` to ``(N, n_classes)`` logits, using every layer."""
    output = probes.superposition_output(net, name, n_features, 8)
    if tuple(output.shape) != (32, n_classes):
        shape, out = tuple(output[:8].shape), f"out_features={n_classes}"
        raise Hint(f"`{name}` maps 8 birds to {shape}: the last Linear needs {out}, one per class")
    if probes.looks_like_probabilities(output):
        raise Hint(f"`{name}` ends with a softmax: return logits, nn.CrossEntropyLoss applies it")
    if (output >= 0).all():
        raise Hint(f"`{name}` never outputs a negative number: it ends with an activation; drop it")
    probes.expect_not_affine(output, f"`{name}` is linear: put a ReLU after each hidden layer")
    scratch = copy.deepcopy(net).cpu()
    scratch(torch.ones(8, n_features)).sum().backward()
    unused = [n for n, p in scratch.named_parameters() if p.requires_grad and p.grad is None]
    if unused:
        raise Hint(f"`{name}` never uses {unused[0]} in forward: every layer must be applied")
    parameters = sum(p.numel() for p in net.parameters())
    return f"`{name}` maps (N, {n_features}) to (N, {n_classes}); {parameters} parameters"


@check("loss_fn", "optimizer")
def loss_and_optimizer(
    loss_fn: Any, optimizer: Any, net: Any, scheduler: Any = None, *, total_steps: int | None = None
) -> str:
    """Check the loss suits class indices, the optimiser updates ``net``, and the schedule fits."""
    if isinstance(loss_fn, nn.NLLLoss):
        raise Hint("`loss_fn` is NLLLoss, for log-probabilities: use nn.CrossEntropyLoss on logits")
    if not isinstance(loss_fn, nn.CrossEntropyLoss):
        raise Hint(f"`loss_fn` is {type(loss_fn).__name__}: for classes use nn.CrossEntropyLoss()")
    if not isinstance(optimizer, torch.optim.Optimizer):
        kind = type(optimizer).__name__
        raise Hint(f"`optimizer` is a {kind}: use torch.optim.AdamW(model.parameters(), lr=1e-2)")
    if not isinstance(net, nn.Module):
        raise Hint("`model` is not an nn.Module yet: build it first")
    given = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if given != {id(p) for p in net.parameters()}:
        raise Hint("`optimizer` has another model's parameters: pass model.parameters()")
    if scheduler is None and total_steps is None:
        return f"CrossEntropyLoss and {type(optimizer).__name__} over the model's parameters"
    if not isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        raise Hint(f"`scheduler` is a {type(scheduler).__name__}: use lr_scheduler.OneCycleLR")
    if scheduler.optimizer is not optimizer:
        raise Hint("`scheduler` drives another optimiser: create it from `optimizer`")
    if total_steps is not None and scheduler.total_steps != total_steps:
        plan = f"{scheduler.total_steps} steps, training takes {total_steps}"
        raise Hint(f"`scheduler` plans {plan}: total_steps=epochs * len(train_loader)")
    return f"CrossEntropyLoss, {type(optimizer).__name__} and OneCycleLR over the model"


def _probe_net() -> nn.Linear:
    """Return a tiny classifier of two features into three classes, with fixed weights."""
    net, weight = nn.Linear(2, 3), torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    net.load_state_dict({"weight": weight, "bias": torch.zeros(3)})
    return net


@check("train_epoch")
def train_function(train_epoch: Any) -> CheckResult:
    """Run the learner's ``train_epoch`` on a tiny model: the six moves and a per-batch schedule."""
    batches = probes.probe_batches((2,), seed=2)
    return probes.check_train_epoch(
        train_epoch, _probe_net(), batches, one_forward_per_batch=True, with_scheduler=True
    )


@check("validate")
def validate_function(validate: Any) -> str:
    """Run the learner's ``validate`` on a tiny model: mode, gradients, loss and accuracy."""
    probe = probes.RecordingModel(_probe_net()).train()  # validate must switch it to eval mode
    x, y = (torch.cat(parts) for parts in zip(*probes.probe_batches((2,), seed=2)))
    batches = [(x[i : i + 6], y[i : i + 6]) for i in (0, 6, 12)]  # 6, 6 and 3 birds: uneven
    loader = probes.probe_loader(batches)
    result = call(validate, "validate", probe, loader, nn.CrossEntropyLoss(), torch.device("cpu"))
    probes.expect_evaluation(probe, "validate")
    if not isinstance(result, tuple) or len(result) != 2:
        raise Hint(f"`validate` should return (mean loss, accuracy), got {result!r}")
    logits, targets = probes.probe_outputs(probe, batches)
    want_loss = float(nn.functional.cross_entropy(logits, targets))
    want_accuracy = float((logits.argmax(dim=1) == targets).float().mean())
    loss, accuracy_ = (number(v, "validate's results") for v in result)
    if abs(loss - want_accuracy) < 1e-4 and abs(accuracy_ - want_loss) < 1e-4:
        raise Hint("`validate` returns (accuracy, loss): return (mean loss, accuracy)")
    probes.expect_accuracy(accuracy_, logits, targets, name="validate", items="birds")
    if abs(loss - want_loss) > 1e-4:
        weigh = "weigh each batch's loss by its size and divide by the number of birds"
        raise Hint(f"`validate` gave mean loss {loss:.4g}, expected {want_loss:.4g}: {weigh}")
    return "`validate` evaluates: eval mode, no gradients, right loss and accuracy"


def losses(values: Any, *, name: str = "train_losses") -> CheckResult:
    """Check that the training loss fell over the epochs."""
    return check_decreasing(values, name=name, min_drop=0.5)


@check("valid_accuracies[-1]")
def accuracy(value: Any, bar: float = ACCURACY_BAR) -> CheckResult:
    """Check the validation accuracy: a share of the 60 validation birds, reaching the bar."""
    got = number(value, "the validation accuracy")
    if abs(got * N_VALID - round(got * N_VALID)) > 1e-6:
        share = f"{got:.4g} is not a share of the {N_VALID} validation birds"
        raise Hint(f"the accuracy {share}: validate on valid_loader, not on the training birds")
    return check_metric(got, bar, name="validation accuracy", unit="%")


@check("train_losses", "valid_losses", "valid_accuracies")
def training_run(
    train_losses: Any, valid_losses: Any, valid_accuracies: Any, *, epochs: int
) -> CheckResult:
    """Check the three per-epoch lists of the training loop, then the final accuracy."""
    labels = ("train_losses", "valid_losses", "valid_accuracies")
    for label, values in zip(labels, (train_losses, valid_losses, valid_accuracies)):
        if len(values) != epochs:
            raise Hint(f"`{label}` has {len(values)} values for {epochs} epochs: one per epoch")
        if any(isinstance(v, tuple) for v in values):
            raise Hint(f"`{label}` holds pairs; unpack them: loss, accuracy = validate(...)")
        for v in values:
            number(v, f"the values in {label}")
    expect_decreasing(train_losses, name="train_losses", min_drop=0.5)
    return accuracy(valid_accuracies[-1])


@check("matrix")
def confusion(matrix: Any, *, total: int = N_VALID, n_classes: int = 3) -> str:
    """Check a confusion matrix counts every validation bird once."""
    try:
        counts = torch.as_tensor(np.asarray(matrix))
    except (TypeError, ValueError, RuntimeError):
        counts = torch.empty(0)
    if tuple(counts.shape) != (n_classes, n_classes):
        got = tuple(counts.shape) if counts.numel() else type(matrix).__name__
        raise Hint(f"`matrix` is {got}, not {n_classes}x{n_classes}: use confusion_matrix(...)")
    count = int(counts.sum())
    if count != total:
        where = "the training birds? Use valid_set" if count > total else "count each bird once"
        raise Hint(f"`matrix` counts {count} birds, expected {total}: {where}")
    return f"`matrix` counts all {total} birds; {int(counts.trace())} on the diagonal (correct)"


@check("probs")
def probabilities(
    probs: Any,
    net: Any = None,
    data: Any = None,
    bird: dict[str, Any] | None = None,
    *,
    n_birds: int = 1,
    n_classes: int = 3,
) -> str:
    """Check class probabilities: shape, range, rows summing to 1; with the model, the bird's."""
    if not isinstance(probs, Tensor):
        raise Hint(f"`probs` is a {type(probs).__name__}, not a tensor")
    if tuple(probs.shape) != (n_birds, n_classes):
        raise Hint(f"`probs` is {tuple(probs.shape)}, not ({n_birds}, {n_classes}): a row per bird")
    if (probs < 0).any() or (probs > 1).any():
        raise Hint("`probs` has values outside [0, 1]: logits? Apply softmax(logits, dim=1)")
    rows = probs.detach().sum(dim=1)
    if not torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
        raise Hint("the rows of `probs` do not sum to 1: apply softmax over the classes, dim=1")
    if net is not None and data is not None and bird is not None:
        encoded = data.encode(bird).float()
        raw = encoded * data.std + data.mean  # the same columns, not standardised
        want, unscaled = (torch.softmax(model_output(net, "model", x), 1) for x in (encoded, raw))
        given = probs.detach().cpu().float()
        if not torch.allclose(given, want, atol=1e-4):
            if torch.allclose(given, unscaled, atol=1e-4):
                raise Hint("`probs` come from unstandardised inputs: encode with train_set.encode")
            raise Hint("`probs` are not softmax(model(train_set.encode(new_bird)), 1), eval mode")
    shown = ", ".join(f"{float(p):.3f}" for p in probs[0])
    return f"`probs` holds one probability per species, summing to 1: {shown}"
