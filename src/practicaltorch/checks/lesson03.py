"""Self-checks for lesson 03: penguin body mass, a regression, beside least squares."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn.functional import l1_loss, mse_loss, pad

from practicaltorch.checks import check_decreasing, check_metric, expect_close, expect_predictions
from practicaltorch.checks._core import CheckResult, Hint, call, check, number
from practicaltorch.checks.lesson02 import expect_columns
from practicaltorch.checks.probes import expect_not_affine, superposition_output
from practicaltorch.data.penguins import MASS_FEATURES
from practicaltorch.recipes.penguins_mass import BASELINE_FACTOR  # the lesson's bar, one place

TARGET = "body_mass_g"
N_VALID = 60
_WHY = {
    "species": "the species, which a field worker sees at a glance and which sets the size",
    "sex": "the sex: males outweigh females of the same size",
}
_BROADCAST = "subtracting tensors of shapes (N, 1) and (N,) broadcasts to (N, N)"


@check("features")
def features(chosen: Any) -> str:
    """Check the inputs: species, sex and the three bill and flipper measurements."""
    expect_columns(chosen, target=TARGET, why="the value to predict: the net would copy it")
    if missing := [name for name in MASS_FEATURES if name not in chosen]:
        why = _WHY.get(missing[0], "a measurement of the bird's size")
        raise Hint(f"`features` leaves out {missing[0]!r}, {why}: include it")
    return f"{len(chosen)} input columns, mass left as the target: {list(chosen)}"


@check("train_set")
def dataset(data: Any, valid: Any = None, *, length: int, n_features: int) -> str:
    """Check a body-mass dataset (and ``valid``, its validation split, scaled the same way)."""
    size = call(len, "len(train_set)", data)
    if size != length:
        raise Hint(f"len(train_set) is {size}, expected {length}: check train=True/False")
    item = call(data.__getitem__, "train_set[0]", 0)
    if not isinstance(item, tuple) or len(item) != 2:
        raise Hint("`train_set[0]` should be a pair (features, target)")
    x, y = item
    if not isinstance(x, Tensor) or tuple(x.shape) != (n_features,) or x.dtype != torch.float32:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise Hint(f"`train_set[0]` features are {shape}; expected ({n_features},) float32")
    if not isinstance(y, Tensor) or not y.is_floating_point():
        kind = y.dtype if isinstance(y, Tensor) else type(y).__name__
        raise Hint(f"`train_set[0]` target is {kind}, not a float tensor: use target={TARGET!r}")
    if tuple(y.shape) != (1,):
        raise Hint(f"`train_set[0]` target has shape {tuple(y.shape)}, not (1,): {_BROADCAST}")
    targets = torch.stack([data[i][1] for i in range(size)]).double()
    mean, std = float(targets.mean()), float(targets.std(correction=0))
    if abs(mean) > 0.1 or abs(std - 1) > 0.1:
        raise Hint(f"targets have mean {mean:.2f}, std {std:.2f}: pass standardise_target=True")
    if valid is not None:
        valid_size = call(len, "len(valid_set)", valid)
        if valid_size != N_VALID:
            raise Hint(f"`valid_set` holds {valid_size} birds, not {N_VALID}: pass train=False")
        valid_x, _ = call(valid.__getitem__, "valid_set[0]", 0)
        if tuple(valid_x.shape) != (n_features,):
            raise Hint(f"`valid_set` has {len(valid_x)} inputs, not {n_features}: same features")
        if getattr(valid, "target_std", None) != getattr(data, "target_std", None):
            raise Hint("`valid_set` scales its target differently: pass standardise_target=True")
    return f"`train_set` holds {size} birds: ({n_features},) inputs, a standardised (1,) target"


@check("{name}")
def grams(values: Any, expected: Any, *, name: str = "first_grams") -> str:
    """Check standardised targets were converted back to grams (a tensor, array or list)."""
    want = torch.tensor(expected, dtype=torch.float64).reshape(-1)
    try:
        got = torch.as_tensor(values, dtype=torch.float64).detach().reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise Hint(f"`{name}` should be a tensor of masses, got {type(values).__name__}") from None
    if len(got) == len(want) and got.abs().max() < 10:
        raise Hint(f"`{name}` looks standardised (near 0): use train_set.unscale_target(...)")
    hint = "Undo (g - mean) / std in the right order: g = scaled * std + mean"
    expect_close(got, want, tol=1e-3, name=name, hint=hint)
    return f"`{name}` is right"


def _least_squares(fit_on: Any, score_on: Any) -> tuple[Tensor, Tensor]:
    """Return least squares fitted on ``fit_on`` for ``score_on``, and the truth, in grams."""
    fit_x, score_x = (pad(s.features.double(), (0, 1), value=1.0) for s in (fit_on, score_on))
    weights = torch.linalg.lstsq(fit_x, fit_on.targets.double()).solution
    predicted = fit_on.unscale_target(score_x @ weights)
    return predicted, score_on.unscale_target(score_on.targets.double())


def _expect_grams(values: Any, label: str, want: Tensor) -> None:
    """Raise a hint unless ``values`` are the masses ``want``, a CPU tensor of the same shape."""
    expect_predictions(values, name=label, shape=want.shape, why=_BROADCAST)
    if not torch.allclose(values.double(), want.double(), rtol=1e-3, atol=0.5):
        raise Hint(f"`{label}` are not the masses in grams of the validation birds")


@check("baseline_mae")
def baseline(
    value: Any, train_set: Any, valid_set: Any, predictions: Any = None, truth: Any = None
) -> str:
    """Check the least-squares validation MAE (and ``baseline_grams``, ``valid_grams``) in grams."""
    got = number(value, "baseline_mae")
    if got < 10:
        raise Hint(f"`baseline_mae` is {got:.4g}, in standardised units: convert to grams first")
    want_predictions, want_truth = _least_squares(train_set, valid_set)
    want = float(l1_loss(want_predictions, want_truth))
    if abs(got - want) > 0.01 * want:
        rmse = float(mse_loss(want_predictions, want_truth).sqrt())
        on_valid = float(l1_loss(*_least_squares(valid_set, valid_set)))
        on_train = float(l1_loss(*_least_squares(train_set, train_set)))
        mean_guess = float((want_truth - train_set.target_mean).abs().mean())
        slips = [
            (on_valid, "the fit used the validation birds: fit on train_set, predict valid_set"),
            (on_train, "that is the error on the training birds: predict the validation birds"),
            (mean_guess, "that is predicting the mean mass for every bird: fit least squares"),
            (rmse, "that is the root-mean-square error: take the mean absolute error"),
        ]
        guess = "append a column of ones (the intercept), fit train_set, predict valid_set"
        hint = next((h for wrong, h in slips if abs(got - wrong) < 1e-3 * wrong), guess)
        raise Hint(f"`baseline_mae` is {got:.4g} g, expected {want:.4g} g: {hint}")
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
        raise Hint(f"`{name}` returns shape (8,): keep the (N, 1) shape of the targets")
    if tuple(output.shape) != (32, 1):
        raise Hint(f"`{name}` gives {tuple(output[:8].shape)} for 8 birds: use out_features=1")
    if (output >= 0).all():
        raise Hint(f"`{name}` is never negative, unlike half the scaled masses: no last activation")
    expect_not_affine(output, f"`{name}` is linear, least squares again: add a hidden layer")
    parameters = sum(p.numel() for p in net.parameters())
    return f"`{name}` maps (N, {n_features}) to (N, 1); {parameters} parameters"


def losses(values: Any, *, name: str = "training loss") -> CheckResult:
    """Check that the training loss fell over the epochs."""
    return check_decreasing(values, name=name, min_drop=0.5)


@check("mlp_mae")
def mae(value: Any, baseline_mae: float, predicted: Any = None, truth: Any = None) -> CheckResult:
    """Check the network's MAE (that of ``predicted`` against ``truth``) against the baseline."""
    got = number(value, "mlp_mae")
    if got < 10:
        raise Hint(f"`mlp_mae` is {got:.4g}: convert to grams before the error")
    if predicted is not None and truth is not None:
        if not isinstance(truth, Tensor):
            raise Hint(f"`valid_grams` is a {type(truth).__name__}: keep it as a tensor")
        expect_predictions(predicted, name="predicted_grams", shape=truth.shape, why=_BROADCAST)
        mean_error = float(l1_loss(predicted, truth.cpu()))
        if abs(got - mean_error) > 1e-3 * got:
            if abs(got - float(mse_loss(predicted, truth.cpu()).sqrt())) <= 1e-3 * got:
                raise Hint("`mlp_mae` is the root-mean-square error: take the mean absolute error")
            raise Hint(f"`mlp_mae` is {got:.4g}; predicted_grams give MAE {mean_error:.4g}")
    bar = BASELINE_FACTOR * float(baseline_mae)
    return check_metric(got, bar, name="network validation MAE", higher_is_better=False, unit="g")


@check("{name}")
def positive(predict: Any, inputs: Tensor, *, name: str = "predict_grams") -> str:
    """Check ``predict`` gives positive masses in grams, shape ``(N, 1)``, even for odd inputs."""
    extreme = torch.cat([inputs, inputs * 20, inputs * -20, torch.full_like(inputs, -50.0)])
    output = call(predict, name, extreme)
    if not isinstance(output, Tensor):
        raise Hint(f"`{name}` returned a {type(output).__name__}, not a tensor")
    if tuple(output.shape) != (len(extreme), 1):
        raise Hint(f"`{name}` returns shape {tuple(output.shape)}: return (N, 1), like the model")
    if output.requires_grad:
        raise Hint(f"`{name}` output tracks gradients: predict inside `with torch.no_grad():`")
    values = output.detach().reshape(-1).double().cpu()
    typical = float(values[: len(inputs)].median())
    if typical < 100:
        raise Hint(f"`{name}` is typically {typical:.3g}: log-mass? Unscale it, then torch.exp")
    if typical > 20000:
        raise Hint(f"`{name}` is typically {typical:.3g} g: undo the scaling first")
    bad = int((values <= 0).sum())
    if bad:
        raise Hint(f"`{name}` has {bad} non-positive masses on odd inputs: use exp or softplus")
    return f"`{name}` gives masses in grams (typically {typical:.0f} g), always positive"
