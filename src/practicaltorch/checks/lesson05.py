"""Self-checks for lesson 05: ellipse parameters with transfer learning and a CoordConv CNN."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from practicaltorch.checks import (
    check_metric,
    expect_eval_outputs,
    expect_fit_history,
    expect_predictions,
    expect_tensor,
)
from practicaltorch.checks._core import CheckResult, Hint, call, check, eval_outputs, number
from practicaltorch.checks.probes import looks_like_probabilities
from practicaltorch.data.ellipses import draw_ellipses, ellipse_tensors

MAE_BAR_PX = 1.0  # the quality bar: mean absolute error under one pixel on 128x128 images
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per-channel mean of the ImageNet photographs, in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)  # and their per-channel standard deviation
EPOCH_ITEMS = 4096  # training ellipses per epoch; the baseline averages their targets
TRAIN_ITEMS = 5 * EPOCH_ITEMS  # ellipses of the training seed the lesson's five epochs see
VALID_ITEMS = 1000  # held-out ellipses
RECHECKED = 100  # predictions the check recomputes, spread over the whole set
_BODY = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")
_BODY_KINDS = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, *[nn.Sequential] * 4)
_RESNET_BODY = dict(zip(_BODY, (*_BODY_KINDS, nn.AdaptiveAvgPool2d)))  # ResNet's layers before fc


def _training_targets(seed: int, count: int) -> Tensor:
    """Return the targets of the first ``count`` training ellipses (they do not depend on size)."""
    return torch.from_numpy(draw_ellipses(np.arange(count), size=16, seed=seed)[1])


def _first_shared(rows: Tensor, others: Tensor) -> tuple[int, int] | None:
    """Return ``(i, j)`` with ``rows[i]`` equal to ``others[j]`` and ``i`` smallest, or ``None``."""

    def keys(table: Tensor) -> npt.NDArray[np.void]:  # each row's bytes as one comparable item
        values = np.ascontiguousarray(table.numpy(), dtype=np.float32)
        return values.view(np.dtype((np.void, values.itemsize * values.shape[1]))).ravel()

    _, mine, theirs = np.intersect1d(keys(rows), keys(others), return_indices=True)
    if not len(mine):
        return None
    first = int(np.argmin(mine))
    return int(mine[first]), int(theirs[first])


@check("valid_images", "valid_targets")
def validation_set(images: Any, targets: Any, *, train_seed: int = 0, size: int = 128) -> str:
    """Check the held-out ellipses: right shapes, normalised targets, none of them trained on."""
    try:
        expect_tensor(images, shape=(VALID_ITEMS, 3, size, size), name="valid_images")
        expect_tensor(targets, shape=(VALID_ITEMS, 4), name="valid_targets")
    except Hint as hint:
        raise Hint(f"{hint}: ellipse_tensors({VALID_ITEMS}, {size}, seed=...) gives both") from None
    if (top := float(targets.max())) > 1.0:
        raise Hint(f"`valid_targets` reach {top:.1f}: not normalised (fractions of the image size)")
    trained = _training_targets(train_seed, TRAIN_ITEMS)
    if shared := _first_shared(targets.detach().float().cpu(), trained):
        index, match = shared
        raise Hint(f"valid image {index} is image {match} of the training seed: use a new seed")
    return f"{VALID_ITEMS} held-out images that training never sees; targets normalised"


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
    value: Any, mean_target: Any, valid_targets: Tensor, *, train_seed: int = 0, size: int = 128
) -> str:
    """Check the training targets' mean and the error, in pixels, of always predicting it."""
    try:
        got_mean = expect_tensor(mean_target, shape=(4,), name="mean_target").double().cpu()
    except Hint as hint:  # a later cell copies it into a bias
        raise Hint(f"{hint}: keep it a tensor of four numbers, train_targets.mean(dim=0)") from None
    want_mean = _training_targets(train_seed, EPOCH_ITEMS).double().mean(dim=0)
    valid = valid_targets.detach().double().cpu()
    if torch.allclose(got_mean, valid.mean(dim=0), atol=1e-5):
        raise Hint("`mean_target` is the mean of the validation targets: use the training targets")
    if torch.allclose(got_mean, want_mean * size, atol=1e-3):
        raise Hint("`mean_target` is in pixels: keep it normalised, like the targets")
    if not torch.allclose(got_mean, want_mean, atol=1e-5):
        raise Hint(f"`mean_target` is not the mean of the {EPOCH_ITEMS:,} training targets")
    how = "the mean of |valid_targets - mean_target| over all four numbers, times the size"
    got = _expect_mean_px(value, "baseline_mae_px", (valid - want_mean).abs() * size, size, how)
    return f"always predicting the mean ellipse is {got:.2f} px off on average"


@check("transfer_net")
def transfer_net(net: Any, pretrained: Any, *, outputs: int = 4) -> str:
    """Check the adapted backbone: a ``TransferNet`` with a new head of ``outputs`` outputs."""
    if not isinstance(net, nn.Module) or not hasattr(net, "freeze_backbone"):
        raise Hint(f"`transfer_net` is a {type(net).__name__}: build it with transfer_model(...)")
    if pretrained not in (True, False):
        raise Hint("`pretrained` should be True or False: which weights did you get?")
    output = eval_outputs(net, "transfer_net", torch.zeros(2, 3, 64, 64))
    if tuple(output.shape) != (2, outputs):
        raise Hint(f"`transfer_net` gives {output.shape[-1]} outputs: pass num_outputs={outputs}")
    origin = "ImageNet weights" if pretrained else "random weights (offline fallback)"
    return f"`transfer_net` gives {outputs} outputs per image, starting from {origin}"


@check("imagenet_inputs")
def imagenet_inputs(function: Any, *, size: int = 128, device: Any = "cpu") -> str:
    """Check ``imagenet_inputs``: uint8 images to half-size, ImageNet-normalised float32."""
    images, _ = ellipse_tensors(2, size, seed=99)
    fixes = {  # words of an error, and the fix
        "Byte": "Convert to float first: images.float() / 255",
        "must match the size": "Shape the statistics per channel: .view(1, 3, 1, 1)",
        "device": "Move the statistics to the images' device: .to(x.device)",
    }
    try:
        out = call(function, "imagenet_inputs", images.clone().to(device))
    except Hint as hint:
        fix = next((fix for text, fix in fixes.items() if text in str(hint)), "")
        raise Hint(f"{hint}. {fix}" if fix else str(hint)) from None
    half, name = size // 2, "imagenet_inputs(images)"
    if isinstance(out, Tensor) and tuple(out.shape) == (2, 3, size, size):
        raise Hint("`imagenet_inputs` keeps the full resolution: halve it, avg_pool2d(x, 2)")
    got = expect_tensor(out, shape=(2, 3, half, half), dtype=torch.float32, name=name).cpu()
    scaled = nn.functional.avg_pool2d(images.float() / 255, 2)
    mean, std = (torch.tensor(stat).view(1, 3, 1, 1) for stat in (IMAGENET_MEAN, IMAGENET_STD))
    if torch.allclose(got, scaled, atol=1e-4):
        raise Hint("`imagenet_inputs` does not normalise: (x - IMAGENET_MEAN) / IMAGENET_STD")
    if float(got.abs().max()) > 50:
        raise Hint("`imagenet_inputs` gives values in the hundreds: divide by 255 first")
    if abs(float(got.mean())) < 1e-5:  # what normalising by any statistics of the batch gives
        raise Hint("`imagenet_inputs` uses the batch's own statistics, not the ImageNet ones")
    maxed = (nn.functional.max_pool2d(images.float() / 255, 2) - mean) / std
    if torch.allclose(got, maxed, atol=1e-4):
        raise Hint("`imagenet_inputs` takes the maximum of each 2x2 block: average them")
    if not torch.allclose(got, (scaled - mean) / std, atol=1e-4):
        raise Hint("`imagenet_inputs` is off: (avg_pool2d(x / 255, 2) - mean) / std, per channel")
    return f"`imagenet_inputs` gives float32 (N, 3, {half}, {half}), ImageNet-normalised"


def _ramp(grid: Tensor) -> bool:
    """Whether ``grid`` increases down its rows and is constant along each row."""
    return bool((grid[:, :1] == grid).all() and (grid[1:, 0] > grid[:-1, 0]).all())


@check("add_coordinates")
def coordinates(function: Any) -> str:
    """Check ``add_coordinates``: two channels appended, rows then columns, in [-1, 1]."""
    images = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    out = expect_tensor(call(function, "add_coordinates", images.clone()), name="add_coordinates")
    if tuple(out.shape) == (2, 2, 16, 12):
        raise Hint("`add_coordinates` returns only the coordinates: torch.cat the images first")
    if tuple(out.shape) != (2, 5, 16, 12):
        raise Hint(f"`add_coordinates` gives {tuple(out.shape)}: append two channels on dim=1")
    if not torch.equal(out[:, :3], images):
        raise Hint("`add_coordinates` changed the image channels: put them first, unchanged")
    if not torch.equal(out[0, 3:], out[1, 3:]):
        raise Hint("the coordinate channels differ between images: they should be the same")
    rows, cols = out[0, 3].double(), out[0, 4].double()
    if _ramp(cols) and _ramp(rows.T):
        raise Hint("the row and column channels are swapped: meshgrid(rows, cols, indexing='ij')")
    if not (_ramp(rows) and _ramp(cols.T)):
        raise Hint("channel C should rise down the rows, C + 1 across the columns: indexing='ij'")
    low, high = float(torch.stack([rows, cols]).min()), float(torch.stack([rows, cols]).max())
    if low < -1.001 or high > 1.001 or low > -0.85 or high < 0.85:
        raise Hint(f"the coordinates run from {low:.3g} to {high:.3g}: scale them to [-1, 1]")
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
    if (final := errors[-1]) < 0.05:
        raise Hint(f"the validation MAE is {final:.3g}, not pixels: metric_transform=in_pixels")
    return check_metric(final, bar, name="validation MAE", higher_is_better=False, unit="px")


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
    why = "one row of four numbers per validation image, in the stored order (no shuffling)"
    values = expect_predictions(predicted, name="predicted", shape=targets.shape, why=why)
    if float(values.abs().max()) > 2:
        raise Hint("`predicted` goes above 2: keep predictions normalised, like the targets")
    if isinstance(net, nn.Module) and isinstance(valid_images, Tensor):
        then = ", and keep the stored order"
        sample = torch.linspace(0, len(values) - 1, min(len(values), RECHECKED)).long()
        expect_eval_outputs(values[sample], net, valid_images[sample], name="predicted", then=then)
    want = (values.detach().double() - targets).abs() * size
    errors = expect_tensor(errors_px, shape=targets.shape, name="errors_px").detach().double().cpu()
    if not torch.allclose(errors, want, atol=1e-3):
        if torch.allclose(errors, want / size, atol=1e-6):
            raise Hint(f"`errors_px` are fractions of the image: multiply by {size}")
        if torch.allclose(errors.abs(), want, atol=1e-3):
            raise Hint("`errors_px` has negative values: take the absolute error, .abs()")
        raise Hint("`errors_px` is off: |predicted - valid_targets| * SIZE, element by element")
    got = _expect_mean_px(value, "mae_px", want, size, "errors_px.mean()")
    return f"mean absolute error {got:.3f} px over {len(values)} images"


def mae(value: Any, bar: float = MAE_BAR_PX) -> CheckResult:
    """Check the mean absolute error in pixels is below the lesson's bar."""
    return check_metric(value, bar, name="mean absolute error", higher_is_better=False, unit="px")


def _expect_intact_body(net: nn.Module) -> None:
    """Raise a :class:`Hint` if a layer other than ``fc`` was replaced, removed or added."""
    children = dict(net.named_children())
    for name, kind in _RESNET_BODY.items():
        if not isinstance(children.get(name), kind):
            now = type(children[name]).__name__ if name in children else "gone"
            raise Hint(f"`resnet.{name}` was changed (now {now}): replace only resnet.fc")
    if extra := [name for name in children if name not in (*_RESNET_BODY, "fc")]:
        raise Hint(f"`resnet.{extra[0]}` is a new layer that ResNet's forward never calls: use .fc")


@check("resnet")
def resnet_head(net: Any, *, outputs: int = 4) -> str:
    """Check a torchvision ResNet whose head, ``fc``, alone was replaced, by one of ``outputs``."""
    from torchvision.models import ResNet

    if callable(net) and not isinstance(net, nn.Module):
        raise Hint("`resnet` is a function, not a network: call it, resnet18(weights=None)")
    if not isinstance(net, ResNet):
        raise Hint(f"`resnet` is a {type(net).__name__}, not a torchvision ResNet: change only .fc")
    _expect_intact_body(net)
    features, head = int(getattr(net, "inplanes", 512)), net.fc  # channels the body gives fc
    if isinstance(head, nn.Linear) and head.out_features == 1000:
        raise Hint("`resnet.fc` is still the original head, with 1000 outputs: assign a new one")
    if isinstance(head, nn.Linear) and (takes := head.in_features) != features:
        old = " (the old head's out_features)" if takes == 1000 else ""
        raise Hint(f"the head takes {takes} inputs{old}, but the layers before it give {features}")
    try:
        output = eval_outputs(net, "resnet", torch.zeros(2, 3, 64, 64))
    except Hint as hint:
        raise Hint(f"{hint}. The new head must take resnet.fc.in_features inputs") from None
    if tuple(output.shape) != (2, outputs):
        raise Hint(f"the new head gives {output[0].numel()} numbers per image, expected {outputs}")
    if looks_like_probabilities(output):
        raise Hint("each image's outputs sum to 1: leave out the softmax, this is a regression")
    return f"`resnet.fc` is a new head, {features} features in, {outputs} out; nothing else changed"
