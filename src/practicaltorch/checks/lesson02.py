"""Self-checks for lesson 02: penguin species with a fully-connected network.

Each function is called in the exercise notebook right after a task, prints one
line (a pass or a hint about the likely mistake) and returns a
:class:`~practicaltorch.checks.CheckResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, RandomSampler

from practicaltorch.checks import (
    CheckResult,
    call_learner,
    call_model,
    check_decreasing,
    check_metric,
    fail,
    not_done,
    passed,
)
from practicaltorch.checks.probes import (
    RecordingModel,
    accuracy_problem,
    check_train_epoch,
    eval_problem,
    probe_batches,
    probe_outputs,
)
from practicaltorch.data.penguins import COLUMNS

__all__ = [
    "ACCURACY_BAR",
    "accuracy",
    "confusion",
    "dataset",
    "features",
    "loaders",
    "loss_and_optimizer",
    "losses",
    "model",
    "probabilities",
    "standardised",
    "train_function",
    "validate_function",
]

_CPU = torch.device("cpu")
ACCURACY_BAR = 59 / 60 - 1e-9
"""At most one of the 60 validation birds misclassified (98.3%)."""

_BIASED = {
    "island": "island says where a bird was caught, not what it is: a network that leans on "
    "it fails on birds from other islands",
    "year": "year is when a bird was measured, not what it is: a network could learn how "
    "many of each species happened to be caught that year",
}


def features(chosen: Any) -> CheckResult:
    """Check the chosen input columns: real columns, no target, no island or year.

    Parameters
    ----------
    chosen
        The learner's list of column names.

    Returns
    -------
    CheckResult
    """
    stub = not_done(chosen, "features")
    if stub is not None:
        return stub
    if isinstance(chosen, str) or not isinstance(chosen, Sequence):
        return fail(
            f"`features` should be a list of column names such as ['bill_length_mm', ...], "
            f"not a {type(chosen).__name__}"
        )
    if len(chosen) == 0:
        return fail("`features` is empty: choose at least one measurement")
    for name in chosen:
        if name not in COLUMNS:
            close = [c for c in COLUMNS if c.split("_")[0] in str(name)]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return fail(f"`features` names {name!r}, which is not a column{hint}")
    if "species" in chosen:
        return fail(
            "`features` contains 'species', the answer itself: the network would learn to "
            "copy it and could never be used on a bird whose species is unknown"
        )
    for name, reason in _BIASED.items():
        if name in chosen:
            return fail(f"`features` contains {name!r}: {reason}. Leave it out")
    if len(set(chosen)) != len(chosen):
        return fail("`features` names a column twice")
    return passed(f"{len(chosen)} features, all properties of the bird itself: {list(chosen)}")


def dataset(data: Any, *, length: int, n_features: int, name: str = "dataset") -> CheckResult:
    """Check a species dataset: its length and the shapes and dtypes of its items.

    Parameters
    ----------
    data
        The learner's ``Dataset`` instance.
    length
        The number of birds it should hold.
    n_features
        The number of input columns.
    name
        What the dataset is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(data, name)
    if stub is not None:
        return stub
    if isinstance(data, type):
        return fail(f"`{name}` is a class: create an instance, e.g. `{data.__name__}(table, ...)`")
    size, problem = call_learner(len, f"len({name})", data)
    if problem is not None:
        return problem
    if size != length:
        return fail(f"len({name}) is {size}, expected {length}: one item per bird (row)")
    item, problem = call_learner(data.__getitem__, f"{name}[0]", 0)
    if problem is not None:
        return problem
    if not isinstance(item, tuple) or len(item) != 2:
        return fail(f"`{name}[0]` should be a pair (features, target), got {type(item).__name__}")
    x, y = item
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        return fail(
            f"`{name}[0]` should hold two tensors, got ({type(x).__name__}, {type(y).__name__}): "
            "convert with torch.tensor(...) or torch.from_numpy(...)"
        )
    if x.dtype == torch.float64:
        return fail(
            f"`{name}[0]` features are float64 (NumPy's default); networks use float32: "
            "convert with .float() or np.float32"
        )
    if tuple(x.shape) != (n_features,) or x.dtype != torch.float32:
        return fail(
            f"`{name}[0]` features have shape {tuple(x.shape)} and dtype {x.dtype}; expected "
            f"({n_features},) float32, one number per chosen feature"
        )
    if y.ndim == 1 and len(y) > 1:
        return fail(
            f"`{name}[0]` target has shape {tuple(y.shape)}: it looks one-hot. "
            "nn.CrossEntropyLoss wants the class index, a single integer such as tensor(2)"
        )
    if y.is_floating_point():
        return fail(
            f"`{name}[0]` target is {y.dtype}; class indices must be integers: use torch.long"
        )
    if tuple(y.shape) != () or y.dtype != torch.int64:
        return fail(
            f"`{name}[0]` target has shape {tuple(y.shape)} and dtype {y.dtype}; expected a "
            "0-d torch.long class index"
        )
    last, problem = call_learner(data.__getitem__, f"{name}[{length - 1}]", length - 1)
    if problem is not None:
        return problem
    again, _ = call_learner(data.__getitem__, f"{name}[{length - 1}]", length - 1)
    if torch.equal(last[0], x) and torch.equal(last[1], y):
        return fail(
            f"`{name}[0]` and `{name}[{length - 1}]` are equal: does __getitem__ use index?"
        )
    if again is None or not torch.equal(again[0], last[0]):
        return fail(f"`{name}[{length - 1}]` changed between two calls: items must be reproducible")
    return passed(
        f"`{name}` holds {size} birds; items are ({n_features},) float32 features and a "
        "torch.long class index"
    )


def standardised(data: Any, *, name: str = "train_set") -> CheckResult:
    """Check that a dataset's measurements have mean 0 and standard deviation 1.

    Columns with only two values (such as sex coded 0/1) are not checked.

    Parameters
    ----------
    data
        The standardised training dataset.
    name
        What it is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(data, name)
    if stub is not None:
        return stub
    items, problem = call_learner(lambda d: [d[i][0] for i in range(len(d))], name, data)
    if problem is not None:
        return problem
    stacked = torch.stack(items).double()
    continuous = [j for j in range(stacked.shape[1]) if len(stacked[:, j].unique()) > 2]
    if not continuous:
        return fail(f"`{name}` has no measurement columns to standardise")
    mean = stacked[:, continuous].mean(0)
    std = stacked[:, continuous].std(0, correction=0)
    if mean.abs().max() > 0.05:
        return fail(
            f"`{name}` features have means up to {mean.abs().max():.3g}, expected about 0: pass "
            "transform=... and compute mean and std from the training split"
        )
    if (std - 1).abs().max() > 0.05:
        return fail(
            f"`{name}` features have standard deviations from {std.min():.3g} to "
            f"{std.max():.3g}, expected 1: divide by the training standard deviation"
        )
    return passed(f"`{name}` measurements have mean 0 and standard deviation 1")


def loaders(train_loader: Any, valid_loader: Any, *, n_features: int) -> CheckResult:
    """Check the training and validation ``DataLoader`` objects.

    Parameters
    ----------
    train_loader, valid_loader
        The learner's loaders.
    n_features
        The number of input columns.

    Returns
    -------
    CheckResult
    """
    for value, label in ((train_loader, "train_loader"), (valid_loader, "valid_loader")):
        stub = not_done(value, label)
        if stub is not None:
            return stub
        if not isinstance(value, DataLoader):
            return fail(f"`{label}` is a {type(value).__name__}, expected a DataLoader")
    if not isinstance(train_loader.sampler, RandomSampler):
        return fail(
            "`train_loader` does not shuffle: pass shuffle=True so every epoch sees the birds "
            "in a new order (the table is sorted by species)"
        )
    batch, problem = call_learner(
        lambda loader: next(iter(loader)), "next(iter(train_loader))", train_loader
    )
    if problem is not None:
        return problem
    x, y = batch
    size = train_loader.batch_size
    if tuple(x.shape) != (size, n_features) or tuple(y.shape) != (size,):
        return fail(
            f"a training batch has inputs {tuple(x.shape)} and targets {tuple(y.shape)}; "
            f"expected ({size}, {n_features}) and ({size},)"
        )
    return passed(
        f"batches of {size} birds, shuffled for training; {len(train_loader)} training and "
        f"{len(valid_loader)} validation batches"
    )


def model(net: Any, n_features: int, n_classes: int = 3, *, name: str = "model") -> CheckResult:
    """Check that a classifier maps ``(N, n_features)`` to ``(N, n_classes)`` logits.

    Parameters
    ----------
    net
        The learner's ``nn.Module``.
    n_features, n_classes
        Input columns and classes.
    name
        What the model is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(net, name)
    if stub is not None:
        return stub
    if isinstance(net, type):
        return fail(f"`{name}` is a class: create an instance, e.g. `{net.__name__}(...)`")
    if not isinstance(net, nn.Module):
        return fail(f"`{name}` is a {type(net).__name__}, not a torch.nn.Module")
    example = torch.randn(8, n_features, generator=torch.Generator().manual_seed(0))
    output, problem = call_model(net, name, example)
    if problem is not None:
        if "mat1 and mat2" in problem.message:
            return fail(f"the first layer's in_features must be {n_features}, one per feature")
        return problem
    if not isinstance(output, Tensor):
        return fail(f"`{name}(inputs)` returned a {type(output).__name__}, not a tensor")
    if tuple(output.shape) != (8, n_classes):
        return fail(
            f"`{name}` maps 8 birds to shape {tuple(output.shape)}; expected (8, {n_classes}): "
            f"one output per class (the last Linear needs out_features={n_classes})"
        )
    sums = output.sum(dim=1)
    if (output >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        return fail(
            f"`{name}` ends with a softmax. nn.CrossEntropyLoss applies log-softmax itself: "
            "return the raw outputs (logits) and apply softmax only to read probabilities"
        )
    parameters = sum(p.numel() for p in net.parameters())
    return passed(f"`{name}` maps (N, {n_features}) to (N, {n_classes}); {parameters} parameters")


def loss_and_optimizer(loss_fn: Any, optimizer: Any, net: Any) -> CheckResult:
    """Check the loss suits class indices and the optimiser updates ``net``.

    Parameters
    ----------
    loss_fn
        The learner's loss.
    optimizer
        The learner's optimiser.
    net
        The model it should train.

    Returns
    -------
    CheckResult
    """
    for value, label in ((loss_fn, "loss_fn"), (optimizer, "optimizer")):
        stub = not_done(value, label)
        if stub is not None:
            return stub
    if isinstance(loss_fn, nn.NLLLoss):
        return fail(
            "`loss_fn` is NLLLoss, which expects log-probabilities; with raw outputs use "
            "nn.CrossEntropyLoss (log-softmax and NLLLoss in one)"
        )
    if isinstance(loss_fn, (nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss)):
        return fail(
            f"`loss_fn` is {type(loss_fn).__name__}, a loss for regression or two classes; "
            "for three classes use nn.CrossEntropyLoss()"
        )
    if not isinstance(loss_fn, nn.CrossEntropyLoss):
        return fail(f"`loss_fn` is a {type(loss_fn).__name__}; use nn.CrossEntropyLoss()")
    if not isinstance(optimizer, torch.optim.Optimizer):
        return fail(
            f"`optimizer` is a {type(optimizer).__name__}; create one such as "
            "torch.optim.AdamW(model.parameters(), lr=1e-2)"
        )
    if not isinstance(net, nn.Module):
        return fail("`model` is not an nn.Module yet: build it first")
    given = {id(p) for group in optimizer.param_groups for p in group["params"]}
    wanted = {id(p) for p in net.parameters()}
    if given != wanted:
        return fail(
            "`optimizer` was not given this model's parameters (another model's?): "
            "create it with model.parameters() after creating the model"
        )
    return passed(f"CrossEntropyLoss and {type(optimizer).__name__} over the model's parameters")


def _probe_net() -> nn.Linear:
    """Return a tiny classifier of two features into three classes, with fixed weights."""
    net = nn.Linear(2, 3)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        net.bias.zero_()
    return net


def _probe_batches() -> list[tuple[Tensor, Tensor]]:
    return probe_batches((2,), seed=2)


def train_function(train_epoch: Any) -> CheckResult:
    """Run the learner's ``train_epoch`` on a tiny model and check the six moves.

    Parameters
    ----------
    train_epoch
        ``train_epoch(model, loader, loss_fn, optimizer, device)`` returning the mean
        loss (and stepping an optional ``scheduler`` argument).

    Returns
    -------
    CheckResult
    """
    return check_train_epoch(
        train_epoch, _probe_net(), _probe_batches(), one_forward_per_batch=True
    )


def validate_function(validate: Any) -> CheckResult:
    """Run the learner's ``validate`` on a tiny model and check mode, gradients and results.

    Parameters
    ----------
    validate
        ``validate(model, loader, loss_fn, device)`` returning ``(mean loss, accuracy)``,
        accuracy as a fraction.

    Returns
    -------
    CheckResult
    """
    stub = not_done(validate, "validate")
    if stub is not None:
        return stub
    probe = RecordingModel(_probe_net()).train()  # the function must switch it to eval mode
    batches = _probe_batches()
    before = [p.detach().clone() for p in probe.parameters()]
    result, problem = call_learner(
        validate, "validate", probe, batches, nn.CrossEntropyLoss(), _CPU
    )
    if problem is not None:
        return problem
    problem = eval_problem(probe, "validate")
    if problem is not None:
        return problem
    if not all(torch.equal(a, b) for a, b in zip(before, probe.parameters())):
        return fail("`validate` changed the weights: it must not call optimizer.step()")
    if not isinstance(result, tuple) or len(result) != 2:
        return fail(f"`validate` should return (mean loss, accuracy), got {result!r}")
    logits, targets = probe_outputs(probe, batches)
    want_loss = float(nn.functional.cross_entropy(logits, targets))
    loss, accuracy_ = (float(v) for v in result)
    problem = accuracy_problem(accuracy_, logits, targets, name="validate", items="birds")
    if problem is not None:
        return problem
    if abs(loss - want_loss) > 1e-4:
        return fail(
            f"`validate` gave mean loss {loss:.4g}, expected {want_loss:.4g}: weight each "
            "batch's loss by its size and divide by the number of birds"
        )
    return passed("`validate` evaluates: eval mode, no gradients, right loss and accuracy")


def losses(values: Any, *, name: str = "train_losses") -> CheckResult:
    """Check that the training loss fell over the epochs."""
    return check_decreasing(values, name=name, min_drop=0.5)


def accuracy(value: Any, bar: float = ACCURACY_BAR) -> CheckResult:
    """Check the validation accuracy reaches the lesson's bar (59 of 60 birds)."""
    return check_metric(value, bar, name="validation accuracy", unit="%")


def confusion(matrix: Any, *, total: int = 60, n_classes: int = 3) -> CheckResult:
    """Check a confusion matrix counts every validation bird once.

    Parameters
    ----------
    matrix
        The learner's matrix.
    total
        The number of validation birds.
    n_classes
        The number of classes.

    Returns
    -------
    CheckResult
    """
    stub = not_done(matrix, "matrix")
    if stub is not None:
        return stub
    if not isinstance(matrix, Tensor) or tuple(matrix.shape) != (n_classes, n_classes):
        shape = tuple(matrix.shape) if isinstance(matrix, Tensor) else type(matrix).__name__
        return fail(
            f"`matrix` should be a {n_classes}x{n_classes} tensor, got {shape}: use "
            f"confusion_matrix(logits, targets, {n_classes})"
        )
    count = int(matrix.sum())
    if count != total:
        return fail(
            f"`matrix` counts {count} birds, expected {total}: use every validation bird once"
        )
    right = int(matrix.diagonal().sum())
    return passed(f"`matrix` counts all {total} birds; {right} on the diagonal (correct)")


def probabilities(probs: Any, *, n_birds: int = 1, n_classes: int = 3) -> CheckResult:
    """Check class probabilities: right shape, between 0 and 1, each row summing to 1.

    Parameters
    ----------
    probs
        The learner's probabilities, shape ``(n_birds, n_classes)``.
    n_birds, n_classes
        Expected shape.

    Returns
    -------
    CheckResult
    """
    stub = not_done(probs, "probs")
    if stub is not None:
        return stub
    if not isinstance(probs, Tensor):
        return fail(f"`probs` is a {type(probs).__name__}, not a tensor")
    if tuple(probs.shape) != (n_birds, n_classes):
        return fail(
            f"`probs` has shape {tuple(probs.shape)}, expected ({n_birds}, {n_classes}): "
            "one row per bird, one column per species"
        )
    rows = probs.detach().sum(dim=1)
    if (probs < 0).any() or (probs > 1).any():
        return fail(
            "`probs` has values outside [0, 1]: these are logits; "
            "apply torch.softmax(logits, dim=1)"
        )
    if not torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
        return fail("the rows of `probs` do not sum to 1: apply softmax over the classes, dim=1")
    return passed(f"`probs` holds one probability per species, summing to 1: {_show(probs)}")


def _show(probs: Tensor) -> str:
    return ", ".join(f"{float(p):.3f}" for p in probs[0])
