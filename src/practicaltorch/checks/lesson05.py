"""Self-checks for lesson 05: ellipse parameters with transfer learning and a CoordConv CNN.

They know how the training ellipses are drawn, so they can tell whether a held-out
set shares images with training, or a baseline was taken from the held-out targets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.checks import (
    check_metric,
    expect_eval_outputs,
    expect_fit_history,
    expect_predictions,
)
from practicaltorch.checks._core import CheckResult, Hint, call, check, eval_outputs, number
from practicaltorch.data.ellipses import draw_ellipses, ellipse_tensors

MAE_BAR_PX = 1.0
"""The lesson's quality bar: mean absolute error under one pixel on 128x128 images."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean of the ImageNet photographs, on the [0, 1] scale."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel standard deviation of the ImageNet photographs, on the [0, 1] scale."""
TRAIN_ITEMS = 6 * 4096
"""How many ellipses of the training seed the lesson's runs train on (6 epochs of 4,096)."""


def _training_targets(seed: int, count: int) -> Tensor:
    """Return the targets of the first ``count`` training ellipses (they do not depend on size)."""
    _, targets = draw_ellipses(np.arange(count), size=16, seed=seed)
    return torch.from_numpy(targets)


@check("valid_images", "valid_targets")
def validation_set(
    images: Any,
    targets: Any,
    *,
    train_seed: int = 0,
    train_items: int = TRAIN_ITEMS,
    size: int = 128,
    length: int = 1000,
) -> str:
    """Check the held-out ellipses: right shapes, normalised targets, none of them trained on."""
    for value, label in ((images, "valid_images"), (targets, "valid_targets")):
        if not isinstance(value, Tensor):
            raise Hint(f"`{label}` is a {type(value).__name__}: use ellipse_tensors(...)")
    if tuple(images.shape) != (length, 3, size, size):
        raise Hint(
            f"`valid_images` has shape {tuple(images.shape)}, expected ({length}, 3, {size}, "
            f"{size}): ellipse_tensors({length}, {size}, seed=...)"
        )
    if tuple(targets.shape) != (length, 4):
        raise Hint(f"`valid_targets` has shape {tuple(targets.shape)}, expected ({length}, 4)")
    if float(targets.max()) > 1.0:
        raise Hint(
            f"`valid_targets` go up to {float(targets.max()):.1f}: the targets are not "
            "normalised. Keep them as fractions of the image size, as ellipse_tensors gives them"
        )
    seen = {
        row.numpy().tobytes(): i for i, row in enumerate(_training_targets(train_seed, train_items))
    }
    for index, row in enumerate(targets.detach().float().cpu()):
        if row.numpy().tobytes() in seen:
            raise Hint(
                f"validation image {index} is image {seen[row.numpy().tobytes()]} of the training "
                f"seed {train_seed}, which the training batches draw from: use another seed, so "
                "no validation image was trained on"
            )
    return f"{length} held-out images that training never sees; targets normalised"


def _expect_mean_px(value: Any, name: str, errors: Tensor, size: int, how: str) -> float:
    """Return ``value`` if it is the mean of the pixel ``errors``, or name the slip."""
    got, want = number(value, name), float(errors.mean())
    if math.isclose(got * size, want, rel_tol=1e-3):
        raise Hint(f"`{name}` is {got:.4g}, a fraction of the image: multiply by {size} (pixels)")
    if math.isclose(got, float((errors**2).mean().sqrt()), rel_tol=1e-3):
        raise Hint(f"`{name}` is a root mean squared error: take the mean absolute error")
    if not math.isclose(got, want, rel_tol=1e-3):
        raise Hint(f"`{name}` is {got:.4g}, expected {want:.4g} px on average: {how}")
    return got


@check("baseline_mae_px", "mean_target")
def baseline(
    value: Any,
    mean_target: Any,
    valid_targets: Tensor,
    *,
    train_seed: int = 0,
    train_count: int = 4096,
    size: int = 128,
) -> str:
    """Check the training targets' mean and the error, in pixels, of always predicting it."""
    if not isinstance(mean_target, Tensor):
        raise Hint(
            f"`mean_target` is a {type(mean_target).__name__}: keep it a tensor of four numbers "
            "(later cells copy it into a bias), for example train_targets.mean(dim=0)"
        )
    got_mean = mean_target.detach().double().cpu().flatten()
    want_mean = _training_targets(train_seed, train_count).double().mean(dim=0)
    valid = valid_targets.detach().double().cpu()
    if got_mean.shape != (4,):
        raise Hint(
            f"`mean_target` has {got_mean.numel()} numbers: average over dim=0, one per target"
        )
    if torch.allclose(got_mean, valid.mean(dim=0), atol=1e-5):
        raise Hint(
            "`mean_target` is the mean of the validation targets: take it from the "
            f"{train_count:,} training images. Held-out data must not shape any model, "
            "baselines included"
        )
    if torch.allclose(got_mean, want_mean * size, atol=1e-3):
        raise Hint("`mean_target` is in pixels: keep it normalised, like the targets")
    if not torch.allclose(got_mean, want_mean, atol=1e-5):
        raise Hint(
            f"`mean_target` is not the mean of the first {train_count:,} training targets "
            f"(seed {train_seed}): ellipse_tensors({train_count}, SIZE, seed=TRAIN_SEED)"
        )
    how = "the mean of |valid_targets - mean_target| over all four numbers, times the size"
    got = _expect_mean_px(value, "baseline_mae_px", (valid - want_mean).abs() * size, size, how)
    return f"always predicting the mean ellipse is {got:.2f} px off on average"


@check("transfer_net")
def transfer_net(net: Any, pretrained: Any, *, outputs: int = 4) -> str:
    """Check the adapted backbone: a ``TransferNet`` with a new head of ``outputs`` outputs."""
    if not isinstance(net, nn.Module):
        raise Hint(f"`transfer_net` is a {type(net).__name__}; build it with transfer_model(...)")
    if not hasattr(net, "head") or not hasattr(net, "freeze_backbone"):
        raise Hint(
            "`transfer_net` has no .head or .freeze_backbone(), which the next cells use: "
            "build it with transfer_model(...)"
        )
    if pretrained not in (True, False):
        raise Hint("`pretrained` should be True or False: which weights did you get?")
    head = net.head
    if isinstance(head, nn.Linear) and head.out_features != outputs:
        raise Hint(
            f"the head has {head.out_features} outputs, expected {outputs}: pass "
            f"num_outputs={outputs} (row, column and two radii)"
        )
    output = eval_outputs(net, "transfer_net", torch.zeros(2, 3, 64, 64))
    if tuple(output.shape) != (2, outputs):
        raise Hint(
            f"`transfer_net` maps 2 images to {tuple(output.shape)}, expected (2, {outputs})"
        )
    origin = "ImageNet weights" if pretrained else "random weights (offline fallback)"
    return f"`transfer_net` gives {outputs} outputs per image, starting from {origin}"


@check("imagenet_inputs")
def imagenet_inputs(function: Any, *, size: int = 128, device: Any = "cpu") -> str:
    """Check ``imagenet_inputs``: uint8 images to half-size, ImageNet-normalised float32."""
    images, _ = ellipse_tensors(2, size, seed=99)
    try:
        out = call(function, "imagenet_inputs", images.clone().to(device))
    except Hint as hint:
        if "avg_pool2d" in str(hint) or "Byte" in str(hint):
            raise Hint(f"{hint}. Convert to float first: images.float() / 255") from None
        if "must match the size" in str(hint):
            raise Hint(f"{hint}. Shape the statistics per channel: .view(1, 3, 1, 1)") from None
        if "device" in str(hint):
            raise Hint(
                f"{hint}. Move the statistics to the images' device: .to(x.device)"
            ) from None
        raise
    half = size // 2
    if not isinstance(out, Tensor):
        raise Hint(f"`imagenet_inputs` returned a {type(out).__name__}, not a tensor")
    if tuple(out.shape) == (2, 3, size, size):
        raise Hint(
            "`imagenet_inputs` keeps the full resolution: halve it by averaging 2x2 blocks, "
            "nn.functional.avg_pool2d(x, 2)"
        )
    if tuple(out.shape) != (2, 3, half, half):
        raise Hint(
            f"`imagenet_inputs` gives shape {tuple(out.shape)}, expected (2, 3, {half}, {half})"
        )
    if out.dtype != torch.float32:
        raise Hint(f"`imagenet_inputs` gives {out.dtype}; the network wants float32")
    scaled = nn.functional.avg_pool2d(images.float() / 255, 2)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    got = out.detach().cpu()
    if torch.allclose(got, scaled, atol=1e-4):
        raise Hint(
            "`imagenet_inputs` scales to [0, 1] but does not normalise: subtract IMAGENET_MEAN "
            "and divide by IMAGENET_STD, per channel (.view(1, 3, 1, 1))"
        )
    if float(got.abs().max()) > 50:
        raise Hint("`imagenet_inputs` gives values in the hundreds: divide by 255 first")
    own = (scaled - scaled.mean(dim=(0, 2, 3), keepdim=True)) / scaled.std(
        dim=(0, 2, 3), keepdim=True
    )
    if torch.allclose(got, own, atol=1e-3) or abs(float(got.mean())) < 1e-5:
        raise Hint(
            "`imagenet_inputs` normalises with the batch's own statistics: use IMAGENET_MEAN "
            "and IMAGENET_STD, those of the photographs the network learnt from"
        )
    pooled = (nn.functional.max_pool2d(images.float() / 255, 2) - mean) / std
    if torch.allclose(got, pooled, atol=1e-4):
        raise Hint(
            "`imagenet_inputs` takes the maximum of each 2x2 block: average them (avg_pool2d)"
        )
    if not torch.allclose(got, (scaled - mean) / std, atol=1e-4):
        raise Hint(
            "`imagenet_inputs` values are off: (images / 255, averaged 2x2, minus the mean) "
            "divided by the standard deviation, each per channel"
        )
    return f"`imagenet_inputs` gives float32 (N, 3, {half}, {half}), ImageNet-normalised"


def _ramps(rows: Tensor, cols: Tensor) -> tuple[bool, bool]:
    """Return whether ``rows`` varies down the rows only, and ``cols`` across the columns only."""
    row_ramp = bool((rows[:, :1] == rows).all()) and bool((rows[1:, 0] > rows[:-1, 0]).all())
    col_ramp = bool((cols[:1, :] == cols).all()) and bool((cols[0, 1:] > cols[0, :-1]).all())
    return row_ramp, col_ramp


@check("add_coordinates")
def coordinates(function: Any) -> str:
    """Check ``add_coordinates``: two channels appended, rows then columns, in [-1, 1]."""
    images = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    out = call(function, "add_coordinates", images.clone())
    if not isinstance(out, Tensor):
        raise Hint(f"`add_coordinates` returned a {type(out).__name__}, not a tensor")
    if tuple(out.shape) == (2, 2, 16, 12):
        raise Hint("`add_coordinates` returns only the coordinates: torch.cat the images first")
    if tuple(out.shape) != (2, 5, 16, 12):
        raise Hint(
            f"`add_coordinates` maps (2, 3, 16, 12) to {tuple(out.shape)}, expected "
            "(2, 5, 16, 12): concatenate two channels along dim=1"
        )
    if not torch.equal(out[:, :3], images):
        raise Hint("`add_coordinates` changed the image channels: put them first, unchanged")
    if not torch.equal(out[0, 3:], out[1, 3:]):
        raise Hint("the coordinate channels differ between images: they should be the same")
    rows, cols = out[0, 3].double(), out[0, 4].double()
    if not all(_ramps(rows, cols)):
        if all(_ramps(cols, rows)):
            raise Hint(
                "the row and column channels are swapped (or meshgrid used indexing='xy'): "
                "channel C should vary down the rows, channel C + 1 across the columns"
            )
        raise Hint(
            "channel C should increase down the rows and be constant along each row, channel "
            "C + 1 increase across the columns: torch.meshgrid(rows, cols, indexing='ij')"
        )
    low = min(float(rows.min()), float(cols.min()))
    high = max(float(rows.max()), float(cols.max()))
    if low < -1.001 or high > 1.001 or low > -0.85 or high < 0.85:
        raise Hint(
            f"the coordinates run from {low:.3g} to {high:.3g}: scale them to [-1, 1], "
            "for example with torch.linspace(-1, 1, height)"
        )
    return "`add_coordinates` appends row and column channels in [-1, 1]"


@check("history")
def history(value: Any, *, bar: float = MAE_BAR_PX) -> CheckResult | str:
    """Check the training history: a scheduled rate, a falling loss, validation MAE in pixels."""
    missing = (
        "`history` has no train_loss or valid_mae: pass validation batches, "
        "metrics=regression_metrics() and metric_transform=in_pixels to fit"
    )
    _, errors = expect_fit_history(
        value, "valid_mae", missing=missing, min_drop=0.5, scheduler="a OneCycleLR "
    )
    if errors[-1] < 0.05:
        raise Hint(
            f"the validation MAE is {errors[-1]:.4g}: that is a fraction of the image, not "
            "pixels. Pass metric_transform=in_pixels to fit"
        )
    return check_metric(errors[-1], bar, name="validation MAE", higher_is_better=False, unit="px")


def _expect_predictions(predicted: Any, targets: Tensor, net: Any, images: Any) -> Tensor:
    why = "one row of four numbers per validation image, in the stored order (no shuffling)"
    values = expect_predictions(predicted, name="predicted", shape=targets.shape, why=why)
    if float(values.abs().max()) > 2:
        raise Hint(
            "`predicted` holds values above 2: keep the predictions normalised like the "
            "targets, and convert only the errors to pixels"
        )
    if isinstance(net, nn.Module) and isinstance(images, Tensor):
        then = ", and keep the stored order"
        expect_eval_outputs(values, net, images, name="predicted", then=then)
    return values.detach().double()


@check("mae_px", "predicted", "errors_px")
def pixel_errors(
    value: Any,
    predicted: Any,
    errors_px: Any,
    valid_targets: Tensor,
    *,
    net: Any = None,
    valid_images: Any = None,
    size: int = 128,
) -> str:
    """Check the predictions (eval mode, stored order), their errors in pixels, and their mean."""
    targets = valid_targets.double().cpu()
    prediction = _expect_predictions(predicted, targets, net, valid_images)
    want = (prediction - targets).abs() * size
    if not isinstance(errors_px, Tensor) or errors_px.shape != targets.shape:
        raise Hint(
            f"`errors_px` should be a {tuple(targets.shape)} tensor: "
            "|predicted - valid_targets| * SIZE"
        )
    errors = errors_px.detach().double().cpu()
    if torch.allclose(errors, want / size, atol=1e-6):
        raise Hint(f"`errors_px` are fractions of the image: multiply by {size}")
    if torch.allclose(errors.abs(), want, atol=1e-3) and not torch.allclose(
        errors, want, atol=1e-3
    ):
        raise Hint("`errors_px` has negative values: take the absolute error, .abs()")
    if not torch.allclose(errors, want, atol=1e-3):
        raise Hint("`errors_px` is off: |predicted - valid_targets| * SIZE, element by element")
    got = _expect_mean_px(value, "mae_px", want, size, "errors_px.mean()")
    return f"mean absolute error {got:.3f} px over {len(prediction)} images"


def mae(value: Any, bar: float = MAE_BAR_PX) -> CheckResult:
    """Check the mean absolute error in pixels is below the lesson's bar."""
    return check_metric(value, bar, name="mean absolute error", higher_is_better=False, unit="px")


_RESNET_BODY: dict[str, type[nn.Module]] = {
    "conv1": nn.Conv2d,
    "bn1": nn.BatchNorm2d,
    "relu": nn.ReLU,
    "maxpool": nn.MaxPool2d,
    "layer1": nn.Sequential,
    "layer2": nn.Sequential,
    "layer3": nn.Sequential,
    "layer4": nn.Sequential,
    "avgpool": nn.AdaptiveAvgPool2d,
}
"""The layers of a torchvision ResNet before its head, ``fc``, and their types."""


def _intact_body(net: nn.Module) -> None:
    """Raise a :class:`Hint` if a layer other than ``fc`` was replaced, removed or added."""
    children = dict(net.named_children())
    for name, kind in _RESNET_BODY.items():
        if not isinstance(children.get(name), kind):
            now = type(children[name]).__name__ if name in children else "gone"
            raise Hint(
                f"`resnet.{name}` was changed (now {now}): only the head should be replaced, "
                "and ResNet's head is called fc: resnet.fc = ..."
            )
    extra = [name for name in children if name not in (*_RESNET_BODY, "fc")]
    if extra:
        raise Hint(
            f"`resnet.{extra[0]}` is a new layer that ResNet's forward never calls: the head "
            "it calls is `resnet.fc`, so assign the new layer there"
        )


def _new_head(net: nn.Module, outputs: int) -> str:
    """Rules for the new ``fc`` of an otherwise intact ResNet, and for what it outputs."""
    features = int(getattr(net, "inplanes", 512))  # channels the pooled body hands to fc
    head = net.fc
    if isinstance(head, nn.Linear) and head.out_features == 1000:
        raise Hint(
            "`resnet.fc` is still the original head, with 1000 outputs for the ImageNet "
            "classes: assign the new layer to it, resnet.fc = "
            f"nn.Linear(resnet.fc.in_features, {outputs})"
        )
    if isinstance(head, nn.Linear) and head.in_features != features:
        mixed_up = " (the old head's out_features)" if head.in_features == 1000 else ""
        raise Hint(
            f"the new head takes {head.in_features} inputs{mixed_up}, but the layers before "
            f"it give {features}: use resnet.fc.in_features, read before replacing the head"
        )
    if isinstance(head, nn.Linear) and head.out_features != outputs:
        raise Hint(
            f"the new head gives {head.out_features} numbers per image, expected {outputs}: "
            "one for each number to predict (row, column and two radii)"
        )
    try:
        output = eval_outputs(net, "resnet", torch.zeros(2, 3, 64, 64))
    except Hint as hint:
        raise Hint(f"{hint}. The new head must take resnet.fc.in_features inputs") from None
    if tuple(output.shape) != (2, outputs):
        raise Hint(f"`resnet` maps 2 images to {tuple(output.shape)}, expected (2, {outputs})")
    sums = output.sum(dim=1)
    if bool((output >= 0).all()) and torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        raise Hint(
            "the outputs of each image sum to 1: leave out the softmax. This is a regression: "
            "the four numbers are positions and sizes, not probabilities"
        )
    return (
        f"`resnet.fc` is a new head, {features} features in, {outputs} out; the rest is as it was"
    )


@check("resnet")
def resnet_head(net: Any, *, outputs: int = 4) -> str:
    """Check a torchvision ResNet whose head, ``fc``, was replaced by a new layer.

    Only ``fc`` may change: the new head sits where ResNet's ``forward`` calls
    it, takes the pooled features of the last stage and gives ``outputs`` numbers.
    """
    from torchvision.models import ResNet

    if callable(net) and not isinstance(net, nn.Module):
        raise Hint("`resnet` is a function, not a network: call it, resnet18(weights=None)")
    if not isinstance(net, ResNet):
        raise Hint(
            f"`resnet` is a {type(net).__name__}, not a torchvision ResNet: keep the network "
            "that resnet18(weights=None) built and replace only its head, resnet.fc = ..."
        )
    _intact_body(net)
    return _new_head(net, outputs)
