"""Self-checks for lesson 05: ellipse parameters with transfer learning and a CoordConv CNN.

Each function is called in the exercise notebook right after a task, prints one
line (a pass or a hint about the likely mistake) and returns a
:class:`~practicaltorch.checks.CheckResult`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

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
from practicaltorch.data.ellipses import ellipse_tensors

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAE_BAR_PX",
    "baseline",
    "coordinates",
    "history",
    "imagenet_inputs",
    "mae",
    "pixel_errors",
    "transfer_net",
    "validation_set",
]

MAE_BAR_PX = 1.0
"""The lesson's quality bar: mean absolute error under one pixel on 128x128 images."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean of the ImageNet photographs, on the [0, 1] scale."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel standard deviation of the ImageNet photographs, on the [0, 1] scale."""


def validation_set(
    images: Any,
    targets: Any,
    *,
    train_seed: int = 0,
    size: int = 128,
    length: int = 1000,
) -> CheckResult:
    """Check the held-out ellipses: right shapes, normalised targets, a seed unlike training's.

    Parameters
    ----------
    images, targets
        The learner's validation tensors.
    train_seed
        The seed the training images come from.
    size
        Image height and width in pixels.
    length
        Expected number of images.

    Returns
    -------
    CheckResult
    """
    for value, label in ((images, "valid_images"), (targets, "valid_targets")):
        stub = not_done(value, label)
        if stub is not None:
            return stub
        if not isinstance(value, Tensor):
            return fail(f"`{label}` is a {type(value).__name__}: use ellipse_tensors(...)")
    if tuple(images.shape) != (length, 3, size, size):
        return fail(
            f"`valid_images` has shape {tuple(images.shape)}, expected ({length}, 3, {size}, "
            f"{size}): ellipse_tensors({length}, {size}, seed=...)"
        )
    if tuple(targets.shape) != (length, 4):
        return fail(f"`valid_targets` has shape {tuple(targets.shape)}, expected ({length}, 4)")
    if float(targets.max()) > 1.0:
        return fail(
            f"`valid_targets` go up to {float(targets.max()):.1f}: the targets are not "
            "normalised. Keep them as fractions of the image size, as ellipse_tensors gives them"
        )
    _, training = ellipse_tensors(1, size, seed=train_seed)
    if torch.equal(targets[:1].cpu(), training):
        return fail(
            f"`valid_targets` starts with the first training ellipse: seed {train_seed} is the "
            "training seed. Use another seed, so no validation image was trained on"
        )
    return passed(f"{length} held-out images from a seed of their own; targets normalised")


def baseline(value: Any, valid_targets: Tensor, *, size: int = 128) -> CheckResult:
    """Check the error of always predicting the mean ellipse, in pixels.

    Parameters
    ----------
    value
        The learner's ``baseline_mae_px``.
    valid_targets
        The validation targets (normalised).
    size
        Image size in pixels.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, "baseline_mae_px")
    if stub is not None:
        return stub
    try:
        number = float(value)
    except (TypeError, ValueError):
        return fail(f"`baseline_mae_px` should be a number, got {type(value).__name__}")
    targets = valid_targets.double().cpu()
    # The mean of many training targets is close to the mean of the validation targets.
    want = float(((targets - targets.mean(dim=0)).abs() * size).mean())
    if abs(number * size - want) < 0.05 * want:
        return fail(
            f"`baseline_mae_px` is {number:.4g}, a fraction of the image: multiply the errors by "
            f"the image size ({size}) to get pixels"
        )
    if abs(number - want) > 0.05 * want:
        return fail(
            f"`baseline_mae_px` is {number:.4g}, expected about {want:.2f} px: the mean of "
            "|valid_targets - mean training target| over all four numbers, times the size"
        )
    return passed(f"always predicting the mean ellipse is {number:.2f} px off on average")


def transfer_net(net: Any, pretrained: Any, *, outputs: int = 4) -> CheckResult:
    """Check the adapted backbone: a new head with ``outputs`` outputs, and a working forward.

    Parameters
    ----------
    net
        The learner's network (a ``TransferNet``).
    pretrained
        Whether the learner got the pretrained weights.
    outputs
        Expected number of outputs.

    Returns
    -------
    CheckResult
    """
    stub = not_done(net, "transfer_net")
    if stub is not None:
        return stub
    if not isinstance(net, nn.Module):
        return fail(f"`transfer_net` is a {type(net).__name__}; build it with transfer_model(...)")
    if pretrained not in (True, False):
        return fail("`pretrained` should be True or False: which weights did you get?")
    head = getattr(net, "head", None)
    if isinstance(head, nn.Linear) and head.out_features != outputs:
        return fail(
            f"the head has {head.out_features} outputs, expected {outputs}: pass "
            f"num_outputs={outputs} (row, column and two radii)"
        )
    parameter = next(net.parameters())
    example = torch.zeros(2, 3, 64, 64, device=parameter.device)
    output, problem = call_model(net, "transfer_net", example)
    if problem is not None:
        return problem
    if not isinstance(output, Tensor) or tuple(output.shape) != (2, outputs):
        shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        return fail(f"`transfer_net` maps 2 images to {shape}, expected (2, {outputs})")
    origin = "ImageNet weights" if pretrained else "random weights (offline fallback)"
    return passed(f"`transfer_net` gives {outputs} outputs per image, starting from {origin}")


def imagenet_inputs(function: Any, *, size: int = 128) -> CheckResult:
    """Check ``imagenet_inputs``: uint8 images to half-size, ImageNet-normalised float32.

    Parameters
    ----------
    function
        The learner's function.
    size
        Height and width of the input images.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "imagenet_inputs")
    if stub is not None:
        return stub
    images, _ = ellipse_tensors(2, size, seed=99)
    out, problem = call_learner(function, "imagenet_inputs", images.clone())
    if problem is not None:
        if "avg_pool2d" in problem.message or "Byte" in problem.message:
            return fail(problem.message + ". Convert to float first: images.float() / 255")
        return problem
    half = size // 2
    if not isinstance(out, Tensor):
        return fail(f"`imagenet_inputs` returned a {type(out).__name__}, not a tensor")
    if tuple(out.shape) == (2, 3, size, size):
        return fail(
            "`imagenet_inputs` keeps the full resolution: halve it by averaging 2x2 blocks, "
            "nn.functional.avg_pool2d(x, 2)"
        )
    if tuple(out.shape) != (2, 3, half, half):
        return fail(
            f"`imagenet_inputs` gives shape {tuple(out.shape)}, expected (2, 3, {half}, {half})"
        )
    if out.dtype != torch.float32:
        return fail(f"`imagenet_inputs` gives {out.dtype}; the network wants float32")
    scaled = nn.functional.avg_pool2d(images.float() / 255, 2)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    want = (scaled - mean) / std
    got = out.detach().cpu()
    if torch.allclose(got, scaled, atol=1e-4):
        return fail(
            "`imagenet_inputs` scales to [0, 1] but does not normalise: subtract IMAGENET_MEAN "
            "and divide by IMAGENET_STD, per channel (.view(1, 3, 1, 1))"
        )
    if float(got.abs().max()) > 50:
        return fail("`imagenet_inputs` gives values in the hundreds: divide by 255 first")
    if not torch.allclose(got, want, atol=1e-4):
        return fail(
            "`imagenet_inputs` values are off: (images / 255, averaged 2x2, minus the mean) "
            "divided by the standard deviation, each per channel"
        )
    return passed(f"`imagenet_inputs` gives float32 (N, 3, {half}, {half}), ImageNet-normalised")


def coordinates(function: Any) -> CheckResult:
    """Check ``add_coordinates``: two channels appended, rows then columns, in [-1, 1].

    Parameters
    ----------
    function
        The learner's function.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "add_coordinates")
    if stub is not None:
        return stub
    images = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    out, problem = call_learner(function, "add_coordinates", images.clone())
    if problem is not None:
        return problem
    if not isinstance(out, Tensor):
        return fail(f"`add_coordinates` returned a {type(out).__name__}, not a tensor")
    if tuple(out.shape) == (2, 2, 16, 12):
        return fail("`add_coordinates` returns only the coordinates: torch.cat the images first")
    if tuple(out.shape) != (2, 5, 16, 12):
        return fail(
            f"`add_coordinates` maps (2, 3, 16, 12) to {tuple(out.shape)}, expected "
            "(2, 5, 16, 12): concatenate two channels along dim=1"
        )
    if not torch.equal(out[:, :3], images):
        return fail("`add_coordinates` changed the image channels: put them first, unchanged")
    rows, cols = out[:, 3].double(), out[:, 4].double()
    if not torch.equal(out[0, 3:], out[1, 3:]):
        return fail("the coordinate channels differ between images: they should be the same")
    row_ramp = bool((rows[0, :, :1] == rows[0]).all()) and bool(
        (rows[0, 1:, 0] > rows[0, :-1, 0]).all()
    )
    col_ramp = bool((cols[0, :1, :] == cols[0]).all()) and bool(
        (cols[0, 0, 1:] > cols[0, 0, :-1]).all()
    )
    if not (row_ramp and col_ramp):
        swapped = bool((rows[0, :1, :] == rows[0]).all()) and bool(
            (cols[0, :, :1] == cols[0]).all()
        )
        if swapped:
            return fail(
                "the row and column channels are swapped (or meshgrid used indexing='xy'): "
                "channel C should vary down the rows, channel C + 1 across the columns"
            )
        return fail(
            "channel C should increase down the rows and be constant along each row, channel "
            "C + 1 increase across the columns: torch.meshgrid(rows, cols, indexing='ij')"
        )
    low = min(float(rows.min()), float(cols.min()))
    high = max(float(rows.max()), float(cols.max()))
    if low < -1.001 or high > 1.001 or low > -0.85 or high < 0.85:
        return fail(
            f"the coordinates run from {low:.3g} to {high:.3g}: scale them to [-1, 1], "
            "for example with torch.linspace(-1, 1, height)"
        )
    return passed("`add_coordinates` appends row and column channels in [-1, 1]")


def history(value: Any, *, bar: float = MAE_BAR_PX) -> CheckResult:
    """Check the training history: a falling loss and a validation error below the bar in px."""
    stub = not_done(value, "history")
    if stub is not None:
        return stub
    try:
        train_losses = value["train_loss"]
        errors = value["valid_mae"]
    except (KeyError, TypeError):
        return fail(
            "`history` has no train_loss or valid_mae: pass validation batches, "
            "metrics=regression_metrics() and metric_transform=in_pixels to fit"
        )
    trend = check_decreasing(train_losses, name="training loss", min_drop=0.5)
    if not trend:
        return trend
    last = float(errors[-1])
    if last < 0.05:
        return fail(
            f"the validation MAE is {last:.4g}: that is a fraction of the image, not pixels. "
            "Pass metric_transform=in_pixels to fit"
        )
    return check_metric(last, bar, name="validation MAE", higher_is_better=False, unit="px")


def pixel_errors(
    value: Any, predicted: Any, valid_targets: Tensor, *, size: int = 128
) -> CheckResult:
    """Check the predictions' shape and that ``mae_px`` is their mean absolute error in pixels.

    Parameters
    ----------
    value
        The learner's ``mae_px``.
    predicted
        The learner's predictions, normalised, shape ``(N, 4)``.
    valid_targets
        The validation targets.
    size
        Image size in pixels.

    Returns
    -------
    CheckResult
    """
    for item, label in ((predicted, "predicted"), (value, "mae_px")):
        stub = not_done(item, label)
        if stub is not None:
            return stub
    if not isinstance(predicted, Tensor) or predicted.shape != valid_targets.shape:
        shape = tuple(predicted.shape) if isinstance(predicted, Tensor) else type(predicted)
        return fail(
            f"`predicted` has shape {shape}, expected {tuple(valid_targets.shape)}: one row of "
            "four numbers per validation image, in the stored order (no shuffling)"
        )
    if predicted.requires_grad:
        return fail("`predicted` tracks gradients: predict inside `with torch.no_grad():`")
    if float(predicted.abs().max()) > 2:
        return fail(
            "`predicted` holds values above 2: keep the predictions normalised like the "
            "targets, and convert only the errors to pixels"
        )
    want = float(((predicted.detach().double().cpu() - valid_targets.double()).abs() * size).mean())
    try:
        number = float(value)
    except (TypeError, ValueError):
        return fail(f"`mae_px` should be a number, got {type(value).__name__}")
    if abs(number * size - want) < 1e-3 * max(want, 1e-6):
        return fail(f"`mae_px` is {number:.4g}, a fraction of the image: multiply by {size}")
    if abs(number - want) > 1e-3 * max(want, 1.0):
        return fail(
            f"`mae_px` is {number:.4g}, but the predictions are {want:.4g} px off on average: "
            "mean of |predicted - valid_targets| times the size"
        )
    return passed(f"mean absolute error {number:.3f} px over {len(predicted)} images")


def mae(value: Any, bar: float = MAE_BAR_PX) -> CheckResult:
    """Check the mean absolute error in pixels is below the lesson's bar."""
    return check_metric(value, bar, name="mean absolute error", higher_is_better=False, unit="px")
