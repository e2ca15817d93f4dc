"""Self-checks for lesson 02: penguin species with a fully-connected network."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from practicaltorch.checks import check_decreasing, check_metric, expect_decreasing, expect_loaders
from practicaltorch.checks._core import CheckResult, Hint, call, check, model_output, number
from practicaltorch.checks.probes import (
    RecordingModel,
    check_train_epoch,
    expect_accuracy,
    expect_evaluation,
    expect_not_affine,
    looks_like_probabilities,
    probe_batches,
    probe_loader,
    probe_outputs,
    superposition_output,
)
from practicaltorch.data.penguins import COLUMNS, SPECIES

_CPU = torch.device("cpu")
ACCURACY_BAR = 59 / 60 - 1e-9
"""At most one of the 60 validation birds misclassified (98.3%)."""
N_VALID = 60
"""The number of validation birds."""

_BIASED = {
    "island": "island says where a bird was caught, not what it is: a network that leans on "
    "it fails on birds from other islands",
    "year": "year is when a bird was measured, not what it is: a network could learn how "
    "many of each species happened to be caught that year",
}


def expect_columns(chosen: Any, *, target: str, why: str) -> None:
    """Raise a hint unless ``chosen`` names distinct columns: not ``target``, island or year.

    ``why`` says why the target must not be an input.
    """
    if isinstance(chosen, str) or not isinstance(chosen, Sequence):
        raise Hint(
            f"`features` should be a list of column names such as ['bill_length_mm', ...], "
            f"not a {type(chosen).__name__}"
        )
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
            raise Hint(f"`features` contains {name!r}: {reason}. Leave it out")
    if len(set(chosen)) != len(chosen):
        raise Hint("`features` names a column twice")


@check("features")
def features(chosen: Any) -> str:
    """Check the chosen input columns: real columns, no target, no island or year."""
    expect_columns(
        chosen,
        target="species",
        why="the answer itself: the network would learn to copy it and could never be used "
        "on a bird whose species is unknown",
    )
    return f"{len(chosen)} features, all properties of the bird itself: {list(chosen)}"


def _item(data: Any, index: int, name: str) -> tuple[Tensor, Tensor]:
    """Return item ``index`` of the learner's dataset as a pair of tensors, or raise a hint."""
    item = call(data.__getitem__, f"{name}[{index}]", index)
    if not isinstance(item, tuple) or len(item) != 2:
        raise Hint(f"`{name}[0]` should be a pair (features, target), got {type(item).__name__}")
    x, y = item
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise Hint(
            f"`{name}[0]` should hold two tensors, got ({type(x).__name__}, {type(y).__name__}): "
            "convert with torch.tensor(...) or torch.from_numpy(...)"
        )
    return x, y


def _expect_item_types(x: Tensor, y: Tensor, n_features: int, name: str) -> None:
    if x.dtype == torch.float64:
        raise Hint(
            f"`{name}[0]` features are float64 (NumPy's default); networks use float32: "
            "convert with .float() or np.float32"
        )
    if tuple(x.shape) != (n_features,) or x.dtype != torch.float32:
        raise Hint(
            f"`{name}[0]` features have shape {tuple(x.shape)} and dtype {x.dtype}; expected "
            f"({n_features},) float32, one number per chosen feature"
        )
    if y.ndim == 1 and len(y) > 1:
        raise Hint(
            f"`{name}[0]` target has shape {tuple(y.shape)}: it looks one-hot. "
            "nn.CrossEntropyLoss wants the class index, a single integer such as tensor(2)"
        )
    if y.is_floating_point():
        raise Hint(
            f"`{name}[0]` target is {y.dtype}; class indices must be integers: use torch.long"
        )
    if tuple(y.shape) != () or y.dtype != torch.int64:
        raise Hint(
            f"`{name}[0]` target has shape {tuple(y.shape)} and dtype {y.dtype}; expected a "
            "0-d torch.long class index"
        )


def _expect_table_values(data: Any, table: pd.DataFrame, chosen: Sequence[str], name: str) -> None:
    """Raise a hint unless the dataset's items code ``table``'s rows as the lesson says."""
    columns = [
        (table["sex"] == "male").to_numpy(np.float32)
        if column == "sex"
        else table[column].to_numpy(np.float32)
        for column in chosen
    ]
    want_x = torch.from_numpy(np.stack(columns, axis=1))
    want_y = torch.tensor(table["species"].map(SPECIES.index).to_numpy(), dtype=torch.long)
    got = [_item(data, i, name) for i in range(len(table))]
    got_x, got_y = torch.stack([x for x, _ in got]), torch.stack([y for _, y in got])
    if not torch.equal(got_y, want_y):
        raise Hint(
            f"`{name}` gives the wrong class indices: Adelie 0, Chinstrap 1, Gentoo 2, the "
            "order of SPECIES"
        )
    flipped = want_x.clone()
    if "sex" in chosen:
        flipped[:, list(chosen).index("sex")] = 1 - flipped[:, list(chosen).index("sex")]
    if "sex" in chosen and torch.allclose(got_x, flipped):
        raise Hint(f"`{name}` codes sex the other way round: 1.0 for male, 0.0 for female")
    if not torch.allclose(got_x, want_x):
        raise Hint(
            f"`{name}` features are not the table's columns in the order of `features`, with "
            "sex as 1.0 for male and 0.0 for female"
        )


def _expect_reads_tensors(data: Any, name: str) -> None:
    """Raise a hint unless ``__getitem__`` reads ``self.features`` (converted once in __init__)."""
    stored = getattr(data, "features", None)
    targets = getattr(data, "targets", None)
    if not isinstance(stored, Tensor) or not isinstance(targets, Tensor):
        raise Hint(
            f"`{name}` should store `self.features` and `self.targets` as tensors in "
            "__init__: later cells use my_train.features"
        )
    marked = copy.copy(data)
    marked.features = stored + 1000.0
    if torch.equal(_item(marked, 0, name)[0], _item(data, 0, name)[0]):
        raise Hint(
            f"`{name}[index]` does not read self.features: convert the table once in "
            "__init__ and index the tensors in __getitem__ (table.iloc per item is hundreds "
            "of times slower)"
        )


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
    """Check a species dataset: its length, its items, and (with ``table``) their values.

    With ``table`` and ``columns`` (the chosen features) every item is compared with the
    table's row, and ``__getitem__`` must read the stored tensors.
    """
    if isinstance(data, type):
        raise Hint(f"`{name}` is a class: create an instance, e.g. `{data.__name__}(table, ...)`")
    size = call(len, f"len({name})", data)
    if size != length:
        raise Hint(f"len({name}) is {size}, expected {length}: one item per bird (row)")
    x, y = _item(data, 0, name)
    _expect_item_types(x, y, n_features, name)
    last = _item(data, length - 1, name)
    if torch.equal(last[0], x) and torch.equal(last[1], y):
        raise Hint(f"`{name}[0]` and `{name}[{length - 1}]` are equal: does __getitem__ use index?")
    if not torch.equal(_item(data, length - 1, name)[0], last[0]):
        raise Hint(f"`{name}[{length - 1}]` changed between two calls: items must be reproducible")
    if table is not None and columns is not None:
        _expect_table_values(data, table, columns, name)
        _expect_reads_tensors(data, name)
    return (
        f"`{name}` holds {size} birds; items are ({n_features},) float32 features and a "
        "torch.long class index"
    )


def _stacked(data: Any, name: str) -> Tensor:
    items = call(lambda d: [d[i][0] for i in range(len(d))], name, data)
    return torch.stack(items).double()


@check("{name}")
def standardised(data: Any, valid: Any = None, *, name: str = "train_set") -> str:
    """Check the training features have mean 0 and standard deviation 1, from training statistics.

    Columns with only two values (such as sex coded 0/1) are not checked. With ``valid``
    (the validation dataset, storing its raw ``features``) the validation items must be
    scaled with the training statistics too.
    """
    stacked = _stacked(data, name)
    continuous = [j for j in range(stacked.shape[1]) if len(stacked[:, j].unique()) > 2]
    if not continuous:
        raise Hint(f"`{name}` has no measurement columns to standardise")
    mean = stacked[:, continuous].mean(0)
    std = stacked[:, continuous].std(0, correction=0)
    if mean.abs().max() > 0.05:
        raise Hint(
            f"`{name}` features have means up to {mean.abs().max():.3g}, expected about 0: pass "
            "transform=... and compute mean and std from the training split"
        )
    if mean.abs().max() > 1e-3:
        raise Hint(
            f"`{name}` features have means up to {mean.abs().max():.3g}, not 0: compute the "
            "mean and standard deviation from the training birds only (my_train.features), "
            "not from all the birds"
        )
    if (std - 1).abs().max() > 0.01:
        raise Hint(
            f"`{name}` features have standard deviations from {std.min():.3g} to "
            f"{std.max():.3g}, expected 1: divide by the training standard deviation"
        )
    if valid is not None:
        _expect_scaled_like(valid, data, continuous)
    return f"`{name}` measurements have mean 0 and standard deviation 1"


def _expect_scaled_like(valid: Any, train: Any, continuous: list[int]) -> None:
    """Raise a hint unless the validation items use the training set's mean and std."""
    raw_train = getattr(train, "features", None)
    raw_valid = getattr(valid, "features", None)
    if not isinstance(raw_train, Tensor) or not isinstance(raw_valid, Tensor):
        return
    if torch.allclose(_stacked(train, "my_train"), raw_train.double()):
        return  # the stored features are already scaled: nothing to compare with
    raw_train, raw_valid = raw_train.double(), raw_valid.double()
    mean, std = raw_train.mean(0), raw_train.std(0, correction=0)
    got = _stacked(valid, "my_valid")
    if torch.allclose(got, raw_valid):
        raise Hint("`my_valid` is not standardised: pass transform=standardise to it too")
    want = (raw_valid[:, continuous] - mean[continuous]) / std[continuous]
    if not torch.allclose(got[:, continuous], want, atol=0.02):
        raise Hint(
            "`my_valid` is scaled with other statistics: use the training mean and standard "
            "deviation for the validation birds as well (they stand for birds not yet seen)"
        )


@check("train_loader", "valid_loader")
def loaders(train_loader: Any, valid_loader: Any, *, n_features: int, batch_size: int = 32) -> str:
    """Check the training and validation ``DataLoader`` objects."""
    leak = (
        "`valid_loader` serves {served} birds: build it from valid_set (the 60 validation "
        "birds), so the scores come from birds never trained on"
    )
    why = " so every epoch sees the birds in a new order (the table is sorted by species)"
    expect_loaders(
        train_loader,
        valid_loader,
        batch_size=batch_size,
        leak=leak,
        valid_size=N_VALID,
        why_shuffle=why,
    )
    x, y = call(lambda loader: next(iter(loader)), "next(iter(train_loader))", train_loader)
    if tuple(x.shape) != (batch_size, n_features) or tuple(y.shape) != (batch_size,):
        raise Hint(
            f"a training batch has inputs {tuple(x.shape)} and targets {tuple(y.shape)}; "
            f"expected ({batch_size}, {n_features}) and ({batch_size},)"
        )
    return (
        f"batches of {batch_size} birds, shuffled for training; {len(train_loader)} training "
        f"and {len(valid_loader)} validation batches"
    )


def _unused_parameters(net: nn.Module, example: Tensor) -> list[str]:
    """Return the names of parameters that get no gradient from a forward pass on ``example``."""
    scratch = copy.deepcopy(net).cpu()
    scratch(example).sum().backward()
    return [n for n, p in scratch.named_parameters() if p.requires_grad and p.grad is None]


@check("{name}")
def model(net: Any, n_features: int, n_classes: int = 3, *, name: str = "model") -> str:
    """Check a classifier: ``(N, n_features)`` to ``(N, n_classes)`` logits, using every layer."""
    output = superposition_output(net, name, n_features, 8)
    if tuple(output.shape) != (32, n_classes):
        raise Hint(
            f"`{name}` maps 8 birds to shape {tuple(output[:8].shape)}; expected (8, "
            f"{n_classes}): one output per class (the last Linear needs out_features={n_classes})"
        )
    if looks_like_probabilities(output):
        raise Hint(
            f"`{name}` ends with a softmax. nn.CrossEntropyLoss applies log-softmax itself: "
            "return the raw outputs (logits) and apply softmax only to read probabilities"
        )
    if (output >= 0).all():
        raise Hint(
            f"`{name}` never outputs a negative number: it ends with an activation. Logits "
            "come straight from the last Linear layer"
        )
    expect_not_affine(
        output,
        f"`{name}` is a linear function of its inputs: put a ReLU after each hidden layer "
        "(without them the layers collapse into one Linear)",
    )
    unused = _unused_parameters(net, torch.ones(8, n_features))
    if unused:
        raise Hint(f"`{name}` never uses {unused[0]} in forward: every layer must be applied")
    parameters = sum(p.numel() for p in net.parameters())
    return f"`{name}` maps (N, {n_features}) to (N, {n_classes}); {parameters} parameters"


def _expect_scheduler(scheduler: Any, optimizer: Any, total_steps: int | None) -> None:
    if not isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        raise Hint(
            f"`scheduler` is a {type(scheduler).__name__}: use "
            "torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=..., total_steps=...)"
        )
    if scheduler.optimizer is not optimizer:
        raise Hint("`scheduler` drives another optimiser: create it from `optimizer`")
    if total_steps is not None and scheduler.total_steps != total_steps:
        raise Hint(
            f"`scheduler` plans {scheduler.total_steps} steps, but training takes "
            f"{total_steps}: one step per batch, total_steps=epochs * len(train_loader)"
        )


@check("loss_fn", "optimizer")
def loss_and_optimizer(
    loss_fn: Any,
    optimizer: Any,
    net: Any,
    scheduler: Any = None,
    *,
    total_steps: int | None = None,
) -> str:
    """Check the loss suits class indices, the optimiser updates ``net``, and the schedule fits."""
    if isinstance(loss_fn, nn.NLLLoss):
        raise Hint(
            "`loss_fn` is NLLLoss, which expects log-probabilities; with raw outputs use "
            "nn.CrossEntropyLoss (log-softmax and NLLLoss in one)"
        )
    if isinstance(loss_fn, (nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss)):
        raise Hint(
            f"`loss_fn` is {type(loss_fn).__name__}, a loss for regression or two classes; "
            "for three classes use nn.CrossEntropyLoss()"
        )
    if not isinstance(loss_fn, nn.CrossEntropyLoss):
        raise Hint(f"`loss_fn` is a {type(loss_fn).__name__}; use nn.CrossEntropyLoss()")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise Hint(
            f"`optimizer` is a {type(optimizer).__name__}; create one such as "
            "torch.optim.AdamW(model.parameters(), lr=1e-2)"
        )
    if not isinstance(net, nn.Module):
        raise Hint("`model` is not an nn.Module yet: build it first")
    given = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if given != {id(p) for p in net.parameters()}:
        raise Hint(
            "`optimizer` was not given this model's parameters (another model's?): "
            "create it with model.parameters() after creating the model"
        )
    if scheduler is not None or total_steps is not None:
        _expect_scheduler(scheduler, optimizer, total_steps)
    return f"CrossEntropyLoss and {type(optimizer).__name__} over the model's parameters"


def _probe_net() -> nn.Linear:
    """Return a tiny classifier of two features into three classes, with fixed weights."""
    net = nn.Linear(2, 3)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        net.bias.zero_()
    return net


@check("train_epoch")
def train_function(train_epoch: Any) -> CheckResult:
    """Run the learner's ``train_epoch`` on a tiny model: the six moves and a per-batch schedule."""
    return check_train_epoch(
        train_epoch,
        _probe_net(),
        probe_batches((2,), seed=2),
        one_forward_per_batch=True,
        with_scheduler=True,
    )


def _uneven_batches() -> list[tuple[Tensor, Tensor]]:
    """Batches of 6, 6 and 3 birds, so per-batch averages differ from averages over birds."""
    inputs = torch.cat([x for x, _ in probe_batches((2,), seed=2)])
    targets = torch.cat([y for _, y in probe_batches((2,), seed=2)])
    return [(inputs[i : i + 6], targets[i : i + 6]) for i in (0, 6, 12)]


@check("validate")
def validate_function(validate: Any) -> str:
    """Run the learner's ``validate`` on a tiny model: mode, gradients, loss and accuracy."""
    probe = RecordingModel(_probe_net()).train()  # the function must switch it to eval mode
    batches = _uneven_batches()
    before = [p.detach().clone() for p in probe.parameters()]
    loader = probe_loader(batches)
    result = call(validate, "validate", probe, loader, nn.CrossEntropyLoss(), _CPU)
    expect_evaluation(probe, "validate")
    if not all(torch.equal(a, b) for a, b in zip(before, probe.parameters())):
        raise Hint("`validate` changed the weights: it must not call optimizer.step()")
    if not isinstance(result, tuple) or len(result) != 2:
        raise Hint(f"`validate` should return (mean loss, accuracy), got {result!r}")
    logits, targets = probe_outputs(probe, batches)
    want_loss = float(nn.functional.cross_entropy(logits, targets))
    want_accuracy = float((logits.argmax(dim=1) == targets).float().mean())
    loss, accuracy_ = (number(v, "validate's results") for v in result)
    if abs(loss - want_accuracy) < 1e-4 and abs(accuracy_ - want_loss) < 1e-4:
        raise Hint("`validate` returns (accuracy, loss): return (mean loss, accuracy)")
    expect_accuracy(accuracy_, logits, targets, name="validate", items="birds")
    if abs(loss - want_loss) > 1e-4:
        raise Hint(
            f"`validate` gave mean loss {loss:.4g}, expected {want_loss:.4g}: weight each "
            "batch's loss by its size and divide by the number of birds"
        )
    return "`validate` evaluates: eval mode, no gradients, right loss and accuracy"


def losses(values: Any, *, name: str = "train_losses") -> CheckResult:
    """Check that the training loss fell over the epochs."""
    return check_decreasing(values, name=name, min_drop=0.5)


@check("valid_accuracies[-1]")
def accuracy(value: Any, bar: float = ACCURACY_BAR) -> CheckResult:
    """Check the validation accuracy: a share of the 60 validation birds, reaching the bar."""
    got = number(value, "the validation accuracy")
    if abs(got * N_VALID - round(got * N_VALID)) > 1e-6:
        raise Hint(
            f"the accuracy {got:.4g} is not a share of the {N_VALID} validation birds: "
            "validate on valid_loader, not on the training birds"
        )
    return check_metric(got, bar, name="validation accuracy", unit="%")


@check("train_losses", "valid_losses", "valid_accuracies")
def training_run(
    train_losses: Any, valid_losses: Any, valid_accuracies: Any, *, epochs: int
) -> CheckResult:
    """Check the three per-epoch lists of the training loop, then the final accuracy."""
    for values, label in (
        (train_losses, "train_losses"),
        (valid_losses, "valid_losses"),
        (valid_accuracies, "valid_accuracies"),
    ):
        if len(values) != epochs:
            raise Hint(f"`{label}` has {len(values)} values for {epochs} epochs: one per epoch")
        if any(isinstance(v, tuple) for v in values):
            raise Hint(
                f"`{label}` holds pairs: validate returns (loss, accuracy), so unpack it, "
                "valid_loss, valid_accuracy = validate(...)"
            )
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
        counts = None
    if counts is None or tuple(counts.shape) != (n_classes, n_classes):
        shape = tuple(counts.shape) if counts is not None else type(matrix).__name__
        raise Hint(
            f"`matrix` should be a {n_classes}x{n_classes} tensor, got {shape}: use "
            f"confusion_matrix(logits, targets, {n_classes})"
        )
    count = int(counts.sum())
    if count != total:
        where = ": these are the training birds, use valid_set" if count > total else ""
        raise Hint(
            f"`matrix` counts {count} birds, expected {total}{where}: use every validation "
            "bird once"
        )
    right = int(counts.diagonal().sum())
    return f"`matrix` counts all {total} birds; {right} on the diagonal (correct)"


def _expect_encoded(probs: Tensor, net: nn.Module, data: Any, bird: dict[str, Any]) -> None:
    """Raise a hint unless ``probs`` are the model's probabilities for the encoded ``bird``."""
    encoded = data.encode(bird).float()
    want = torch.softmax(model_output(net, "model", encoded), dim=1)
    if torch.allclose(probs.detach().cpu().float(), want, atol=1e-4):
        return
    raw = encoded * data.std + data.mean  # the same columns, not standardised
    unscaled = torch.softmax(model_output(net, "model", raw), dim=1)
    if torch.allclose(probs.detach().cpu().float(), unscaled, atol=1e-4):
        raise Hint(
            "`probs` come from the raw measurements: the network was trained on standardised "
            "inputs, so encode the bird with train_set.encode(new_bird)"
        )
    raise Hint(
        "`probs` are not the model's probabilities for the new bird: encode it with "
        "train_set.encode(new_bird), then softmax(model(inputs), dim=1) in eval mode"
    )


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
    """Check class probabilities: shape, range, and rows summing to 1.

    Given the model, the training dataset and the bird, the probabilities must also come
    from the standardised bird.
    """
    if not isinstance(probs, Tensor):
        raise Hint(f"`probs` is a {type(probs).__name__}, not a tensor")
    if tuple(probs.shape) != (n_birds, n_classes):
        raise Hint(
            f"`probs` has shape {tuple(probs.shape)}, expected ({n_birds}, {n_classes}): "
            "one row per bird, one column per species"
        )
    rows = probs.detach().sum(dim=1)
    if (probs < 0).any() or (probs > 1).any():
        raise Hint(
            "`probs` has values outside [0, 1]: these are logits; "
            "apply torch.softmax(logits, dim=1)"
        )
    if not torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
        raise Hint("the rows of `probs` do not sum to 1: apply softmax over the classes, dim=1")
    if net is not None and data is not None and bird is not None:
        _expect_encoded(probs, net, data, bird)
    shown = ", ".join(f"{float(p):.3f}" for p in probs[0])
    return f"`probs` holds one probability per species, summing to 1: {shown}"
