"""Self-checks for lesson 03: penguin body mass, a regression, beside least squares."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from practicaltorch.checks import check_decreasing, check_metric, expect_close, expect_predictions
from practicaltorch.checks._core import CheckResult, Hint, call, check, number
from practicaltorch.checks.lesson02 import expect_columns
from practicaltorch.checks.probes import expect_not_affine, superposition_output
from practicaltorch.data.penguins import MASS_FEATURES
from practicaltorch.recipes.penguins_mass import BASELINE_FACTOR  # the lesson's bar, one place

TARGET = "body_mass_g"
DESIGN_BAR_G = 230.0
"""The course design's MAE target in grams: reported beside the result, not enforced."""
N_TRAIN, N_VALID = 273, 60

_WHY = {
    "species": "the species, which a field worker sees at a glance and which sets the size",
    "sex": "the sex: males outweigh females of the same size",
}
_BROADCAST = "subtracting tensors of shapes (N, 1) and (N,) broadcasts to (N, N)"


@check("features")
def features(chosen: Any) -> str:
    """Check the inputs: species, sex and the three bill and flipper measurements."""
    expect_columns(
        chosen, target=TARGET, why="the value to predict: the network would copy it. Remove it"
    )
    missing = [name for name in MASS_FEATURES if name not in chosen]
    if missing:
        why = _WHY.get(missing[0], "a measurement of the bird's size")
        raise Hint(f"`features` leaves out {missing[0]!r}, {why}: include it")
    return f"{len(chosen)} input columns, mass left as the target: {list(chosen)}"


def _expect_valid_split(valid: Any, train: Any, n_features: int) -> None:
    """Raise a hint unless ``valid`` is the validation split, scaled like ``train``."""
    size = call(len, "len(valid_set)", valid)
    if size != N_VALID:
        raise Hint(
            f"`valid_set` holds {size} birds, expected the {N_VALID} validation birds: pass "
            "train=False"
        )
    x, _ = call(valid.__getitem__, "valid_set[0]", 0)
    if tuple(x.shape) != (n_features,):
        raise Hint(
            f"`valid_set` items have {x.shape[0]} inputs, `train_set` {n_features}: give both "
            "the same features"
        )
    if getattr(valid, "target_std", None) != getattr(train, "target_std", None):
        raise Hint(
            "`valid_set` scales its target differently from `train_set`: give both "
            "standardise_target=True (the validation split uses the training statistics)"
        )


@check("{name}")
def dataset(
    data: Any, valid: Any = None, *, length: int, n_features: int, name: str = "train_set"
) -> str:
    """Check a body-mass dataset: item shapes and dtypes, and a standardised target.

    With ``valid`` the validation split must hold the validation birds, scaled the same way.
    """
    size = call(len, f"len({name})", data)
    if size != length:
        raise Hint(f"len({name}) is {size}, expected {length}: check train=True/False")
    item = call(data.__getitem__, f"{name}[0]", 0)
    if not isinstance(item, tuple) or len(item) != 2:
        raise Hint(f"`{name}[0]` should be a pair (features, target)")
    x, y = item
    if not isinstance(x, Tensor) or tuple(x.shape) != (n_features,) or x.dtype != torch.float32:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise Hint(f"`{name}[0]` features are {shape}; expected ({n_features},) float32")
    if not isinstance(y, Tensor) or not y.is_floating_point():
        kind = y.dtype if isinstance(y, Tensor) else type(y).__name__
        raise Hint(
            f"`{name}[0]` target is {kind}; a regression target is a float tensor. "
            f"Use target={TARGET!r}"
        )
    if tuple(y.shape) != (1,):
        raise Hint(
            f"`{name}[0]` target has shape {tuple(y.shape)}, expected (1,). The model outputs "
            "(N, 1); MSELoss against (N,) targets would silently broadcast to (N, N)"
        )
    targets = torch.stack([data[i][1] for i in range(size)]).double()
    mean, std = float(targets.mean()), float(targets.std(correction=0))
    if abs(mean) > 0.1 or abs(std - 1) > 0.1:
        raise Hint(
            f"`{name}` targets have mean {mean:.4g} and standard deviation {std:.4g}; expected "
            "about 0 and 1: pass standardise_target=True"
        )
    if valid is not None:
        _expect_valid_split(valid, data, n_features)
    return f"`{name}` holds {size} birds: ({n_features},) inputs, a standardised (1,) target"


@check("{name}")
def grams(values: Any, expected: Any, *, name: str = "first_grams") -> str:
    """Check standardised targets were converted back to grams (a tensor, array or list)."""
    want = torch.tensor(np.array(expected, dtype=np.float64)).reshape(-1)
    try:
        got = torch.as_tensor(values, dtype=torch.float64).detach().reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise Hint(f"`{name}` should be a tensor of masses, got {type(values).__name__}") from None
    if len(got) == len(want) and got.abs().max() < 10:
        raise Hint(
            f"`{name}` still looks standardised (values near 0): multiply by target_std and "
            "add target_mean, or use train_set.unscale_target(...)"
        )
    expect_close(
        got,
        want,
        tol=1e-3,
        name=name,
        hint="Undo (g - mean) / std in the right order: g = scaled * std + mean",
    )
    return f"`{name}` is right"


def _design(x: Tensor) -> Tensor:
    return torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], dim=1)


def _fitted_mae(fit_on: Any, score_on: Any, scale: Any) -> float:
    """Return the MAE in grams of least squares fitted on ``fit_on``, scored on ``score_on``."""
    weights = torch.linalg.lstsq(_design(fit_on.features), fit_on.targets.double()).solution
    predicted = scale.unscale_target(_design(score_on.features) @ weights)
    truth = scale.unscale_target(score_on.targets.double())
    return float((predicted - truth).abs().mean())


def _least_squares(train_set: Any, valid_set: Any) -> tuple[Tensor, Tensor]:
    """Return the least-squares predictions and the truth for the validation birds, in grams."""
    weights = torch.linalg.lstsq(_design(train_set.features), train_set.targets.double()).solution
    predicted = train_set.unscale_target(_design(valid_set.features) @ weights)
    return predicted, valid_set.unscale_target(valid_set.targets.double())


def _wrong_baselines(train_set: Any, valid_set: Any) -> list[tuple[float, str]]:
    """Return the figures mistaken baselines give, each with the hint naming the mistake."""
    predicted, truth = _least_squares(train_set, valid_set)
    mean_mass = train_set.unscale_target(torch.zeros(1, dtype=torch.float64))
    return [
        (
            _fitted_mae(valid_set, valid_set, train_set),
            "the fit used the validation birds: fit on train_set, only predict valid_set",
        ),
        (
            _fitted_mae(train_set, train_set, train_set),
            "that is the error on the training birds: predict the validation birds",
        ),
        (
            float((predicted - truth).pow(2).mean().sqrt()),
            "that is the root-mean-square error: take the mean of the absolute errors",
        ),
        (
            float((truth - mean_mass).abs().mean()),
            "that is the error of predicting the mean mass for every bird: fit least squares",
        ),
    ]


def _expect_grams(values: Any, label: str, want: Tensor) -> None:
    """Raise a hint unless ``values`` are the masses ``want``, a CPU tensor of the same shape."""
    expect_predictions(values, name=label, shape=want.shape, why=_BROADCAST)
    if not torch.allclose(values.double(), want.double(), rtol=1e-3, atol=0.5):
        raise Hint(f"`{label}` are not the masses in grams of the validation birds")


@check("baseline_mae")
def baseline(
    value: Any,
    train_set: Any,
    valid_set: Any,
    predictions: Any = None,
    truth: Any = None,
) -> str:
    """Check the least-squares baseline's validation MAE, in grams.

    With ``predictions`` and ``truth`` (``baseline_grams`` and ``valid_grams``) both must
    be the validation birds' masses in grams, of shape ``(60, 1)``.
    """
    got = number(value, "baseline_mae")
    want_predictions, want_truth = _least_squares(train_set, valid_set)
    want = float((want_predictions - want_truth).abs().mean())
    if got < 10:
        raise Hint(
            f"`baseline_mae` is {got:.4g}: that is in standardised units. Convert the "
            "predictions and the targets to grams before taking the mean absolute error"
        )
    if abs(got - want) > 0.01 * want:
        for wrong, hint in _wrong_baselines(train_set, valid_set):
            if abs(got - wrong) < 1e-3 * wrong:
                raise Hint(f"`baseline_mae` is {got:.4g} g, expected {want:.4g} g: {hint}")
        raise Hint(
            f"`baseline_mae` is {got:.4g} g, expected {want:.4g} g: fit on the training birds "
            "with a column of ones appended (the intercept), predict the validation birds"
        )
    if truth is not None:
        _expect_grams(truth, "valid_grams", want_truth)
    if predictions is not None:
        _expect_grams(predictions, "baseline_grams", want_predictions)
    return f"least squares: validation MAE {got:.1f} g"


@check("{name}")
def model(net: Any, n_features: int, *, name: str = "model") -> str:
    """Check that a regressor maps ``(N, n_features)`` to ``(N, 1)``, any real number."""
    output = superposition_output(net, name, n_features, 8)
    if tuple(output.shape) == (32,):
        raise Hint(
            f"`{name}` returns shape (8,): keep the (N, 1) shape so it matches the (N, 1) targets"
        )
    if tuple(output.shape) != (32, 1):
        raise Hint(
            f"`{name}` maps 8 birds to shape {tuple(output[:8].shape)}; expected (8, 1): one "
            "output, the (scaled) mass (out_features=1)"
        )
    if (output >= 0).all():
        raise Hint(
            f"`{name}` never outputs a negative number, but half the standardised masses are "
            "negative: leave the activation off the last layer"
        )
    expect_not_affine(
        output,
        f"`{name}` is a linear function of its inputs, least squares again: use an MLP "
        "with a hidden layer and its activation",
    )
    parameters = sum(p.numel() for p in net.parameters())
    return f"`{name}` maps (N, {n_features}) to (N, 1); {parameters} parameters"


def losses(values: Any, *, name: str = "training loss") -> CheckResult:
    """Check that the training loss fell over the epochs."""
    return check_decreasing(values, name=name, min_drop=0.5)


@check("mlp_mae")
def mae(
    value: Any,
    baseline_mae: float,
    predicted: Any = None,
    truth: Any = None,
    *,
    name: str = "network validation MAE",
) -> CheckResult:
    """Check the network is no worse than ``BASELINE_FACTOR`` times least squares.

    With ``predicted`` and ``truth`` (``predicted_grams`` and ``valid_grams``) the value
    must be their mean absolute error, from CPU tensors of the same shape.
    """
    got = number(value, name)
    if got < 10:
        raise Hint(f"{name} is {got:.4g}: convert to grams before the error")
    if predicted is not None and truth is not None:
        _expect_mean_error(got, predicted, truth)
    return check_metric(
        got, BASELINE_FACTOR * float(baseline_mae), name=name, higher_is_better=False, unit="g"
    )


def _expect_mean_error(got: float, predicted: Any, truth: Any) -> None:
    """Raise a hint unless ``got`` is the MAE of ``predicted`` against ``truth``."""
    if not isinstance(truth, Tensor):
        raise Hint(f"`valid_grams` is a {type(truth).__name__}: keep it as a tensor")
    expect_predictions(predicted, name="predicted_grams", shape=truth.shape, why=_BROADCAST)
    errors = predicted.double() - truth.double().cpu()
    mean_error, root_mean_square = float(errors.abs().mean()), float(errors.pow(2).mean().sqrt())
    if abs(got - mean_error) <= 1e-3 * got:
        return
    if abs(got - root_mean_square) <= 1e-3 * got:
        raise Hint("`mlp_mae` is the root-mean-square error: take the mean absolute error")
    raise Hint(
        f"`mlp_mae` is {got:.4g}, but the mean absolute error of predicted_grams against "
        f"valid_grams is {mean_error:.4g}"
    )


@check("{name}")
def positive(predict: Any, inputs: Tensor, *, name: str = "predict_grams") -> str:
    """Check a prediction function gives positive masses in grams, shape ``(N, 1)``.

    Odd inputs must give positive masses too, and the result must not track gradients.
    """
    extreme = torch.cat([inputs, inputs * 20, inputs * -20, torch.full_like(inputs, -50.0)])
    output = call(predict, name, extreme)
    if not isinstance(output, Tensor):
        raise Hint(f"`{name}` returned a {type(output).__name__}, not a tensor")
    if output.numel() != len(extreme):
        raise Hint(f"`{name}` gave {output.numel()} values for {len(extreme)} birds")
    if tuple(output.shape) != (len(extreme), 1):
        raise Hint(f"`{name}` returns shape {tuple(output.shape)}: return (N, 1), like the model")
    if output.requires_grad:
        raise Hint(
            f"`{name}` returns a tensor that tracks gradients: predict inside "
            "`with torch.no_grad():` (faster, and the result can be plotted)"
        )
    values = output.detach().reshape(-1).double().cpu()
    typical = float(values[: len(inputs)].median())
    if typical < 100:
        raise Hint(
            f"`{name}` gives typical values of {typical:.3g}: still scaled log-mass? Undo the "
            "scaling, then torch.exp(...) to get grams"
        )
    if typical > 20000:
        raise Hint(f"`{name}` gives typical values of {typical:.3g} g: undo the scaling first")
    if not bool((values > 0).all()):
        raise Hint(
            f"`{name}` gives {int((values <= 0).sum())} non-positive masses for extreme inputs: "
            "a raw network output can be any number; predict log-mass and exponentiate, or "
            "apply softplus"
        )
    return f"`{name}` gives masses in grams (typically {typical:.0f} g), always positive"
