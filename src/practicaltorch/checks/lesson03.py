"""Self-checks for lesson 03: penguin body mass, a regression, beside least squares.

Each function is called in the exercise notebook right after a task, prints one
line (a pass or a hint about the likely mistake) and returns a
:class:`~practicaltorch.checks.CheckResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.checks import (
    CheckResult,
    call_learner,
    call_model,
    check_close,
    check_decreasing,
    check_metric,
    fail,
    not_done,
    passed,
)
from practicaltorch.data.penguins import COLUMNS

__all__ = [
    "BASELINE_FACTOR",
    "DESIGN_BAR_G",
    "baseline",
    "dataset",
    "features",
    "grams",
    "losses",
    "mae",
    "model",
    "positive",
]

TARGET = "body_mass_g"
BASELINE_FACTOR = 1.01
"""The network's MAE may be at most this multiple of the least-squares MAE."""
DESIGN_BAR_G = 230.0
"""The course design's MAE target in grams: reported beside the result, not enforced."""


def features(chosen: Any) -> CheckResult:
    """Check the inputs for the body-mass model: real columns, no mass, no island or year.

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
        return fail(f"`features` should be a list of column names, not a {type(chosen).__name__}")
    if len(chosen) == 0:
        return fail("`features` is empty: choose at least one column")
    unknown = [name for name in chosen if name not in COLUMNS]
    if unknown:
        return fail(f"`features` names {unknown[0]!r}, which is not a column; see table.columns")
    if TARGET in chosen:
        return fail(
            f"`features` contains {TARGET!r}, the value to predict: the network would copy it. "
            "Remove it"
        )
    for name in ("island", "year"):
        if name in chosen:
            return fail(
                f"`features` contains {name!r}, a fact about how the data were collected, not "
                "about the bird: leave it out, as in lesson 02"
            )
    if len(set(chosen)) != len(chosen):
        return fail("`features` names a column twice")
    return passed(f"{len(chosen)} input columns, mass left as the target: {list(chosen)}")


def dataset(data: Any, *, length: int, n_features: int, name: str = "train_set") -> CheckResult:
    """Check a body-mass dataset: item shapes and dtypes, and a standardised target.

    Parameters
    ----------
    data
        The learner's dataset (a :class:`~practicaltorch.data.penguins.Penguins`).
    length
        The number of birds it should hold.
    n_features
        The number of encoded input columns.
    name
        What it is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(data, name)
    if stub is not None:
        return stub
    size, problem = call_learner(len, f"len({name})", data)
    if problem is not None:
        return problem
    if size != length:
        return fail(f"len({name}) is {size}, expected {length}: check train=True/False")
    item, problem = call_learner(data.__getitem__, f"{name}[0]", 0)
    if problem is not None:
        return problem
    if not isinstance(item, tuple) or len(item) != 2:
        return fail(f"`{name}[0]` should be a pair (features, target)")
    x, y = item
    if not isinstance(x, Tensor) or tuple(x.shape) != (n_features,) or x.dtype != torch.float32:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        return fail(f"`{name}[0]` features are {shape}; expected ({n_features},) float32")
    if not isinstance(y, Tensor) or not y.is_floating_point():
        kind = y.dtype if isinstance(y, Tensor) else type(y).__name__
        return fail(
            f"`{name}[0]` target is {kind}; a regression target is a float tensor. "
            f"Use target={TARGET!r}"
        )
    if tuple(y.shape) != (1,):
        return fail(
            f"`{name}[0]` target has shape {tuple(y.shape)}, expected (1,). The model outputs "
            "(N, 1); MSELoss against (N,) targets would silently broadcast to (N, N)"
        )
    targets = torch.stack([data[i][1] for i in range(size)]).double()
    mean, std = float(targets.mean()), float(targets.std(correction=0))
    if abs(mean) > 0.1 or abs(std - 1) > 0.1:
        return fail(
            f"`{name}` targets have mean {mean:.4g} and standard deviation {std:.4g}; expected "
            "about 0 and 1: pass standardise_target=True"
        )
    return passed(
        f"`{name}` holds {size} birds: ({n_features},) inputs, a standardised (1,) target"
    )


def grams(values: Any, expected: Any, *, name: str = "first_grams") -> CheckResult:
    """Check standardised targets were converted back to grams.

    Parameters
    ----------
    values
        The learner's masses in grams.
    expected
        The true masses in grams, from the table.
    name
        What the values are called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(values, name)
    if stub is not None:
        return stub
    want = torch.tensor(np.array(expected, dtype=np.float64)).reshape(-1)
    try:
        got = torch.as_tensor(values, dtype=torch.float64).detach().reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        return fail(f"`{name}` should be a tensor of masses, got {type(values).__name__}")
    if len(got) == len(want) and got.abs().max() < 10:
        return fail(
            f"`{name}` still looks standardised (values near 0): multiply by target_std and "
            "add target_mean, or use train_set.unscale_target(...)"
        )
    return check_close(
        got,
        want,
        tol=1e-3,
        name=name,
        hint="Undo (g - mean) / std in the right order: g = scaled * std + mean",
    )


def _least_squares_mae(train_set: Any, valid_set: Any) -> float:
    """Return the least-squares validation MAE in grams (with an intercept)."""

    def design(x: Tensor) -> Tensor:
        return torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], dim=1)

    weights = torch.linalg.lstsq(design(train_set.features), train_set.targets.double()).solution
    predicted = train_set.unscale_target(design(valid_set.features) @ weights)
    truth = valid_set.unscale_target(valid_set.targets.double())
    return float((predicted - truth).abs().mean())


def baseline(value: Any, train_set: Any, valid_set: Any) -> CheckResult:
    """Check the least-squares baseline's validation MAE, in grams.

    Parameters
    ----------
    value
        The learner's ``baseline_mae``.
    train_set, valid_set
        The body-mass datasets the baseline was fitted and scored on.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, "baseline_mae")
    if stub is not None:
        return stub
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return fail(f"`baseline_mae` should be one number, got {type(value).__name__}")
    want = _least_squares_mae(train_set, valid_set)
    if number < 10:
        return fail(
            f"`baseline_mae` is {number:.4g}: that is in standardised units. Convert the "
            "predictions and the targets to grams before taking the mean absolute error"
        )
    if abs(number - want) > 0.01 * want:
        return fail(
            f"`baseline_mae` is {number:.4g} g, expected {want:.4g} g: fit on the training birds "
            "with a column of ones appended (the intercept), predict the validation birds"
        )
    return passed(f"least squares: validation MAE {number:.1f} g")


def model(net: Any, n_features: int, *, name: str = "model") -> CheckResult:
    """Check that a regressor maps ``(N, n_features)`` to ``(N, 1)``.

    Parameters
    ----------
    net
        The learner's ``nn.Module``.
    n_features
        The number of input columns.
    name
        What it is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(net, name)
    if stub is not None:
        return stub
    if not isinstance(net, nn.Module):
        return fail(f"`{name}` is a {type(net).__name__}, not a torch.nn.Module")
    example = torch.randn(8, n_features, generator=torch.Generator().manual_seed(0))
    output, problem = call_model(net, name, example)
    if problem is not None:
        if "mat1 and mat2" in problem.message:
            return fail(f"the first layer's in_features must be {n_features}, one per input")
        return problem
    if not isinstance(output, Tensor):
        return fail(f"`{name}(inputs)` returned a {type(output).__name__}, not a tensor")
    if tuple(output.shape) == (8,):
        return fail(
            f"`{name}` returns shape (8,): keep the (N, 1) shape so it matches the (N, 1) targets"
        )
    if tuple(output.shape) != (8, 1):
        return fail(
            f"`{name}` maps 8 birds to shape {tuple(output.shape)}; expected (8, 1): one output, "
            "the (scaled) mass (out_features=1)"
        )
    parameters = sum(p.numel() for p in net.parameters())
    return passed(f"`{name}` maps (N, {n_features}) to (N, 1); {parameters} parameters")


def losses(values: Any, *, name: str = "training loss") -> CheckResult:
    """Check that the training loss fell over the epochs."""
    return check_decreasing(values, name=name, min_drop=0.5)


def mae(value: Any, baseline_mae: float, *, name: str = "network validation MAE") -> CheckResult:
    """Check the network is no worse than ``BASELINE_FACTOR`` times least squares.

    Parameters
    ----------
    value
        The network's validation MAE in grams.
    baseline_mae
        The least-squares MAE in grams.
    name
        What the metric is called.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, name)
    if stub is not None:
        return stub
    if float(value) < 10:
        return fail(f"{name} is {float(value):.4g}: convert to grams before the error")
    return check_metric(
        value, BASELINE_FACTOR * float(baseline_mae), name=name, higher_is_better=False, unit="g"
    )


def positive(predict: Any, inputs: Tensor, *, name: str = "predict_grams") -> CheckResult:
    """Check a prediction function gives positive masses in grams, even for odd inputs.

    Parameters
    ----------
    predict
        The learner's function from scaled inputs ``(N, F)`` to masses in grams.
    inputs
        Real scaled inputs, for example ``valid_set.features``.
    name
        What the function is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(predict, name)
    if stub is not None:
        return stub
    extreme = torch.cat([inputs, inputs * 20, inputs * -20, torch.full_like(inputs, -50.0)])
    output, problem = call_learner(predict, name, extreme)
    if problem is not None:
        return problem
    if not isinstance(output, Tensor):
        return fail(f"`{name}` returned a {type(output).__name__}, not a tensor")
    if output.numel() != len(extreme):
        return fail(f"`{name}` gave {output.numel()} values for {len(extreme)} birds")
    values = output.detach().reshape(-1).double()
    typical = float(values[: len(inputs)].median())
    if typical < 100:
        return fail(
            f"`{name}` gives typical values of {typical:.3g}: still scaled log-mass? Undo the "
            "scaling, then torch.exp(...) to get grams"
        )
    if typical > 20000:
        return fail(f"`{name}` gives typical values of {typical:.3g} g: undo the scaling first")
    if not bool((values > 0).all()):
        return fail(
            f"`{name}` gives {int((values <= 0).sum())} non-positive masses for extreme inputs: "
            "a raw network output can be any number; predict log-mass and exponentiate, or "
            "apply softplus"
        )
    return passed(f"`{name}` gives masses in grams (typically {typical:.0f} g), always positive")
