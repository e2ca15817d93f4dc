"""Self-checks for lesson 04, handwritten digits with a CNN: each runs the code on a probe."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from practicaltorch.checks import (
    check_metric,
    eval_outputs,
    expect_decreasing,
    expect_eval_outputs,
    expect_fit_history,
    expect_predictions,
    expect_shape,
    expect_tensor,
    probes,
)
from practicaltorch.checks._core import CheckResult, Hint, call, check, model_output, number
from practicaltorch.data.mnist import MNIST_MEAN, MNIST_STD
from practicaltorch.training.metrics import confusion_matrix

ACCURACY_BAR = 0.99  # the lesson's quality bar: 99% of the 10,000 test digits right
QUICK_BAR = 0.9  # the bar of the first, short run (2 epochs on 3,000 digits)
_SHAPE = (1, 28, 28)
_BLACK = -MNIST_MEAN / MNIST_STD  # a black pixel after normalisation
_SPLITS = {60_000: "the training split", 10_000: "the test split"}
_NORMALIZE = "Normalize((MNIST_MEAN,), (MNIST_STD,))"


def _range(x: Tensor) -> str:
    return f"{float(x.min()):.3g}..{float(x.max()):.3g}"


@check("image_tensor")
def image_tensor(value: Any, image: Any = None) -> str:
    """Check one converted digit: ``image``'s grey levels / 255 as a (1, 28, 28) float32 tensor."""
    if not isinstance(value, Tensor):
        raise Hint(f"`image_tensor` is a {type(value).__name__}, not a tensor: use to_tensor")
    slips = {
        (28, 28): "`image_tensor` has shape (28, 28): add the channel dimension, (1, 28, 28)",
        (28, 28, 1): "`image_tensor` has channels last (28, 28, 1): use ToTensor()",
    }
    expect_shape(value, _SHAPE, name="image_tensor", slips=slips)
    values = f"`image_tensor` holds {value.dtype} values {_range(value)}"
    if float(value.min()) < 0:
        raise Hint(f"{values}: use ToTensor() alone here; Normalize comes next")
    if value.dtype != torch.float32 or float(value.max()) > 1.0 + 1e-6:
        raise Hint(f"{values}: ToTensor() (not PILToTensor) gives float32 / 255")
    if image is not None:
        want = torch.from_numpy(np.array(image, dtype=np.float32) / 255)
        got = value.detach().cpu()[0]
        if torch.allclose(got, want.T, atol=1e-4) and not torch.allclose(got, want, atol=1e-4):
            raise Hint("`image_tensor` has rows and columns swapped: use .permute(2, 0, 1)")
        if not torch.allclose(got, want, atol=1e-4):
            raise Hint("`image_tensor` is not `image`'s grey levels divided by 255: use to_tensor")
    return "`image_tensor` is a float32 tensor of shape (1, 28, 28) with values in [0, 1]"


def _expect_images(data: Any, name: str, count: int) -> None:
    """Raise a hint unless the first ``count`` items are pairs of normalised (1, 28, 28) images."""
    if isinstance(data, type):
        raise Hint(f"`{name}` is a class: create an instance, `MNIST(train=..., transform=...)`")
    images = []
    for index in range(count):
        where = f"{name}[{index}]"
        try:
            item = call(data.__getitem__, where, index)
        except Hint as hint:
            if "tensor" not in str(hint).lower():
                raise
            raise Hint(f"{hint}. Normalize works on tensors: put ToTensor() first") from None
        if not isinstance(item, tuple) or len(item) != 2:
            raise Hint(f"`{where}` should be a pair (image, label)")
        if not isinstance(image := item[0], Tensor):
            raise Hint(f"`{where}` is a {type(image).__name__}: pass transform=... with ToTensor()")
        if tuple(image.shape) != _SHAPE or image.dtype != torch.float32:
            raise Hint(f"`{where}` is {image.dtype}, {tuple(image.shape)}: use ToTensor() first")
        images.append(image)
    std, mean = map(float, torch.std_mean(torch.stack(images)))
    stats = f"`{name}` images have mean {mean:.3f} and std {std:.3f}"
    if abs(mean - MNIST_MEAN) < 0.05 and abs(std - MNIST_STD) < 0.05:
        raise Hint(f"{stats}, as raw [0, 1] pixels: add {_NORMALIZE} after ToTensor()")
    if abs(mean - (MNIST_MEAN - MNIST_STD) / MNIST_MEAN) < 0.3:
        raise Hint(f"{stats}: Normalize's arguments are swapped; the mean comes first")
    if abs(mean) > 0.15 or not 0.8 < std < 1.2:
        raise Hint(f"{stats}, expected about 0 and 1: {_NORMALIZE}")


@check("train_set", "test_set")
def normalised_dataset(train_set: Any, test_set: Any, *, count: int = 256) -> str:
    """Check both MNIST splits: the right split each, normalised float32 (1, 28, 28) images."""
    for data, name, size in ((train_set, "train_set", 60_000), (test_set, "test_set", 10_000)):
        _expect_images(data, name, count)
        if (n := len(data)) != size:
            split = _SPLITS.get(n, f"not {size:,}")
            why = " (testing on training images measures memory, not skill)" * (size == 10_000)
            raise Hint(f"`{name}` has {n:,} images, {split}: use train={size == 60_000}{why}")
    if not torch.equal(test_set[0][0], test_set[0][0]):
        raise Hint("`test_set` changes on every read: augmentation is for training only")
    return "`train_set` and `test_set` give float32 (1, 28, 28) images, normalised to about 0 and 1"


def _bar_probe() -> Image.Image:
    """Return a PIL image of a bar tilted by 30 degrees: its orientation shows turns and flips."""
    pixels = np.zeros((28, 28), dtype=np.uint8)
    for t in np.linspace(-8, 8, 65):
        row, col = round(14 - t * math.sin(math.pi / 6)), round(14 + t * math.cos(math.pi / 6))
        pixels[row - 1 : row + 1, col - 1 : col + 1] = 255
    return Image.fromarray(pixels)


def _pose(image: Tensor) -> tuple[float, float, float]:
    """Return the centre (row, column) and the orientation in degrees of an image's bright part."""
    weight = (image[0] - image.amin()).double().flatten()
    grid = torch.cartesian_prod(torch.arange(28.0), torch.arange(28.0)).double()  # (row, col)
    row, col = (weight @ grid / weight.sum()).tolist()
    (rr, rc), (_, cc) = torch.cov(grid.T, correction=0, aweights=weight).tolist()
    return row, col, math.degrees(0.5 * math.atan2(-2 * rc, cc - rr))


@check("augment")
def augmentation(transform: Any) -> str:
    """Check a training transform: random, label-preserving, ending in ToTensor and Normalize."""
    if not callable(transform):
        raise Hint(f"`augment` is a {type(transform).__name__}; build it with transforms.Compose")
    probe = _bar_probe()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        try:
            outputs = [call(transform, "augment", probe) for _ in range(16)]
        except Hint as hint:
            if "pil" not in str(hint).lower() and "tensor" not in str(hint).lower():
                raise
            raise Hint(f"{hint}. Put RandomAffine first, then ToTensor(), then Normalize") from None
    if not all(isinstance(out, Tensor) and tuple(out.shape) == _SHAPE for out in outputs):
        raise Hint("`augment` must give (1, 28, 28) tensors: end it with ToTensor(), Normalize")
    if all(torch.equal(outputs[0], other) for other in outputs[1:]):
        raise Hint("`augment` gives the same tensor every time: add RandomAffine before ToTensor")
    stacked = torch.stack([out.detach().float() for out in outputs])
    if abs((black := float(stacked.amin())) - _BLACK) > 0.05:
        raise Hint(f"`augment` is not normalised (black is {black:.3f}): end with {_NORMALIZE}")
    if bool((stacked == 0).any()):
        raise Hint("`augment` fills uncovered corners with 0: put RandomAffine before Normalize")
    start = _pose(torch.from_numpy(np.array(probe, dtype=np.float32))[None])
    poses = [_pose(out) for out in stacked]
    shift = max(math.hypot(r - start[0], c - start[1]) for r, c, _ in poses)
    turn = max(abs((a - start[2] + 90) % 180 - 90) for _, _, a in poses)
    if turn > 20:
        raise Hint(f"`augment` flipped or turned {turn:.0f} degrees: at most 10 degrees, no flip")
    if shift > 4.5:
        raise Hint(f"`augment` shifts {shift:.1f} px: translate is a fraction, 0.1 is 2.8 px")
    return "`augment` gives a different, normalised (1, 28, 28) tensor on every call"


@check("sizes_by_hand")
def sizes_by_hand(values: Any, expected: Iterable[int]) -> str:
    """Compare the learner's hand-computed output sizes with what PyTorch produced."""
    want = [int(v) for v in expected]
    if isinstance(values, str) or not hasattr(values, "__len__") or len(values) != len(want):
        raise Hint(f"`sizes_by_hand` should be a list of {len(want)} numbers, one per layer")
    hints = [
        "a 5x5 kernel without padding fits 28 - 5 + 1 positions across 28 pixels",
        "MaxPool2d(2) has stride 2 by default: it halves the size",
        "padding 1 makes the 12 pixels 14; a 3x3 window with stride 2 fits (14 - 3) // 2 + 1",
    ]
    for layer, (got, size) in enumerate(zip(values, want), start=1):
        if number(got, f"sizes_by_hand[{layer - 1}]") != size:
            hint = hints[layer - 1] if layer <= len(hints) else "use the formula above"
            raise Hint(f"layer {layer}: you said {got}, PyTorch gives {size}. Hint: {hint}")
    return f"all {len(want)} sizes right: {want}"


def _size_hint(got: Any, size: int, kernel: int, stride: int, padding: int) -> str:
    """Name the likely slip in a wrong output size."""
    span = size + 2 * padding - kernel
    if got == (size + padding - kernel) // stride + 1:
        return "padding is added on both sides: 2 * padding"
    if got == span // stride:
        return "you forgot the + 1 (the first position of the window)"
    if got == (span + 1) // stride:
        return "add 1 after dividing by the stride, not before"
    if got == -(-span // stride) + 1:
        return "that rounds up; PyTorch rounds down (//)"
    return "floor((size + 2 * padding - kernel_size) / stride) + 1"


@check("conv_output_size")
def conv_output_size(function: Any) -> str:
    """Check ``conv_output_size(size, kernel_size, stride=1, padding=0)`` on eight layers."""
    cases = [(28, 3, 1, 0), (28, 3, 1, 1), (28, 5, 1, 0), (28, 2, 2, 0), (12, 3, 2, 1)]
    for size, kernel, stride, padding in [*cases, (7, 2, 2, 0), (32, 7, 2, 3), (10, 4, 3, 2)]:
        want = (size + 2 * padding - kernel) // stride + 1  # as nn.Conv2d computes it
        got = call(function, "conv_output_size", size, kernel, stride, padding)
        where = f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding})"
        if isinstance(got, float):
            how = "a float" if got.is_integer() else "not a whole number"
            raise Hint(f"{where} returned {got}, {how}: layers need an int; round down with //")
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            raise Hint(f"{where} returned {got!r}; return the size as an int")
        if got != want:
            hint = _size_hint(got, size, kernel, stride, padding)
            raise Hint(f"{where} returned {got}, PyTorch gives {want}: {hint}")
    if call(function, "conv_output_size", 28, 5) != 24:
        raise Hint("conv_output_size(28, 5) should be 24: the defaults are stride=1, padding=0")
    return "`conv_output_size` agrees with nn.Conv2d on every case tried"


def _negative_inputs(net: nn.Module, example: Tensor, name: str) -> tuple[Tensor, str | None]:
    """Run ``net``; return its output and the first inner Conv2d or Linear fed negative values."""
    seen: list[tuple[nn.Module, float]] = []
    modules = list(net.modules()) if isinstance(net, nn.Module) else []
    layers = [m for m in modules if isinstance(m, nn.Conv2d | nn.Linear)]
    handles = [
        m.register_forward_pre_hook(lambda layer, x: seen.append((layer, float(x[0].min()))))
        for m in layers
    ]
    try:
        output = model_output(net, name, example)
    finally:
        for handle in handles:
            handle.remove()
    if any(isinstance(m, nn.modules.batchnorm._NormBase | nn.LayerNorm) for m in modules):
        return output, None  # a normalisation layer makes negative inputs right
    return output, next((str(m) for m, low in seen[1:] if low < -1e-6), None)


@check("{name}")
def model(net: Any, *, n_classes: int = 10, name: str = "model") -> str:
    """Check a digit classifier: (N, 1, 28, 28) images to (N, 10) logits, a ReLU between layers."""
    example = torch.randn(8, *_SHAPE, generator=torch.Generator().manual_seed(0))
    try:
        output, bad = _negative_inputs(net, example, name)
    except Hint as hint:
        if "mat1 and mat2" in str(hint):
            raise Hint(f"{hint}. First Linear: in_features = channels x height x width") from None
        if "expected 2D" in str(hint) or "4D" in str(hint):
            raise Hint(f"{hint}. Did you forget nn.Flatten() before the Linear layers?") from None
        raise
    shape = f"`{name}` gives shape {tuple(output.shape)} for 8 images, expected (8, {n_classes})"
    if output.ndim != 2:
        raise Hint(f"{shape}: add nn.Flatten() before the Linear layers")
    if tuple(output.shape) != (8, n_classes):
        raise Hint(f"{shape}: the last Linear layer needs out_features={n_classes}")
    if probes.looks_like_probabilities(output):
        raise Hint(f"`{name}` ends with a softmax: return logits; the loss applies log-softmax")
    if bad is not None:
        raise Hint(f"`{name}` feeds negative values into {bad}: a ReLU is missing before it")
    count = sum(p.numel() for p in net.parameters())
    return f"`{name}` maps (N, 1, 28, 28) images to (N, {n_classes}); {count} parameters"


def _probe_net() -> nn.Sequential:
    """Return a tiny convolutional classifier of 4x4 images into three classes, seeded."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        conv = nn.Conv2d(1, 2, 3, padding=1)
        return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))


def train_function(train_epoch: Any) -> CheckResult:
    """Run the learner's ``train_epoch`` on a tiny CNN and check the training step."""
    batches = probes.probe_batches((1, 4, 4), seed=1)
    return probes.check_train_epoch(train_epoch, _probe_net(), batches)


@check("accuracy")
def accuracy_function(accuracy: Any) -> str:
    """Run the learner's ``accuracy(model, loader, device)`` on a tiny CNN and unequal batches."""
    batches = probes.probe_batches((1, 4, 4), seed=1)
    batches[-1] = (batches[-1][0][:2], batches[-1][1][:2])  # the last batch is short
    probe = probes.RecordingModel(_probe_net()).train()  # it must switch to evaluation mode
    got = number(call(accuracy, "accuracy", probe, batches, torch.device("cpu")), "accuracy")
    probes.expect_evaluation(probe, "accuracy")
    logits, targets = probes.probe_outputs(probe, batches)
    probes.expect_accuracy(got, logits, targets, name="accuracy", items="images")
    return "`accuracy` evaluates: eval mode, no gradients, the right fraction"


@check("losses")
def losses(values: Any, epochs: int, optimizer: Any = None, steps_per_epoch: int = 0) -> str:
    """Check the short run's losses: one per epoch, falling, from one optimiser for the run."""
    numbers = expect_decreasing(values, name="losses", min_drop=0.3)
    if len(numbers) != epochs:
        raise Hint(f"`losses` has {len(numbers)} values for {epochs} epochs: append once per epoch")
    total = epochs * steps_per_epoch
    steps = [int(s["step"]) for s in getattr(optimizer, "state", {}).values() if "step" in s]
    if (done := max(steps, default=total)) < total:
        raise Hint(f"`optimizer` took {done} of {total} steps: create it once before the loop")
    return f"`losses` fell from {numbers[0]:.4g} to {numbers[-1]:.4g}"


@check("quick_accuracy")
def quick_accuracy(
    value: Any, net: Any = None, loader: Any = None, bar: float = QUICK_BAR
) -> CheckResult | str:
    """Check the short run's accuracy: a fraction, measured on ``loader`` (the test digits)."""
    got = number(value, "quick_accuracy")
    if got > 1:
        raise Hint(f"`quick_accuracy` is {got:.4g}, a percentage: give a fraction between 0 and 1")
    if isinstance(net, nn.Module) and loader is not None:
        inputs, targets = (torch.cat(part) for part in zip(*loader))  # one pass over the loader
        predicted = eval_outputs(net, "model", inputs).argmax(dim=1)
        want = float((predicted == targets.cpu()).float().mean())
        if abs(got - want) > 1e-4:
            raise Hint("`quick_accuracy` is not my_model's eval-mode accuracy on small_test_loader")
    return check_metric(got, bar, name="accuracy after the short run", unit="%")


@check("fast_train", "test_x", "test_y")
def fast_batches(
    batches: Any, test_x: Any, test_y: Any, *, device: Any = "cpu", batch_size: int = 256
) -> str:
    """Check the fast batches (training split, shuffled, channels_last) and the test tensors."""
    if getattr(batches, "shuffle", True) is False:
        raise Hint("`fast_train` does not shuffle: pass shuffle=True for training")
    images = getattr(batches, "dataset_size", 60_000)
    if images != 60_000:
        split = _SPLITS.get(images, "not 60,000")
        raise Hint(f"`fast_train` holds {images:,} images, {split}: build it from train_x, train_y")
    state = batches.state_dict() if hasattr(batches, "load_state_dict") else None
    inputs, targets = call(lambda: next(iter(batches)), "next(iter(fast_train))")
    if state is not None:  # reading a batch moved the shuffling: put it back
        batches.load_state_dict(state)
    got = f"`fast_train` gives {inputs.dtype} {tuple(inputs.shape)} images, {targets.dtype} labels"
    want = (batch_size, *_SHAPE), torch.float32, torch.int64
    if (tuple(inputs.shape), inputs.dtype, targets.dtype) != want:
        raise Hint(f"{got}: use load_mnist_tensors' tensors and batch_size={batch_size}")
    if inputs.device.type != torch.device(device).type:
        raise Hint(f"batches are on {inputs.device}, expected {device}: pass device=device")
    mean, std = float(inputs.mean()), float(inputs.std())
    if abs(mean) > 0.3 or not 0.6 < std < 1.5:
        raise Hint(f"batch mean {mean:.2f}, std {std:.2f}: load_mnist_tensors already normalises")
    # With one channel both layouts are the same in memory, so ask the batches instead.
    layout = getattr(batches, "memory_format", None)
    if layout is not torch.channels_last or not inputs.is_contiguous(memory_format=layout):
        raise Hint("batches are not channels_last: pass memory_format=torch.channels_last")
    load = "load them with load_mnist_tensors(train=False)"
    if not isinstance(test_x, Tensor) or not isinstance(test_y, Tensor):
        raise Hint(f"`test_x` and `test_y` should be tensors: {load}")
    if len(test_x) != 10_000 or len(test_y) != 10_000:
        split = _SPLITS.get(len(test_x), "not 10,000")
        raise Hint(f"`test_x` holds {len(test_x):,} images, {split}: {load}")
    if abs(float(test_x[:1000].mean())) > 0.3:
        raise Hint("`test_x` is not normalised: use the tensors load_mnist_tensors returns")
    return f"shuffled, normalised, channels_last batches of {batch_size} on {inputs.device.type}"


@check("history")
def history(value: Any, *, epochs: int = 3, bar: float = ACCURACY_BAR) -> CheckResult | str:
    """Check the full run's history: every epoch, a scheduled rate, a falling loss, the bar."""
    missing = "`history` has no valid_accuracy: pass valid_batches, metrics=multiclass_metrics(10)"
    losses, accuracies = expect_fit_history(value, "valid_accuracy", missing=missing, min_drop=0.3)
    if len(losses) != epochs:
        raise Hint(f"`history` has {len(losses)} epochs; train for final_epochs={epochs}")
    return check_metric(accuracies[-1], bar, name="test accuracy after training", unit="%")


@check("matrix", "test_logits")
def confusion(
    matrix: Any,
    test_logits: Any,
    test_y: Tensor,
    *,
    net: Any = None,
    batches: Any = None,
    n_classes: int = 10,
) -> str:
    """Check the test logits (eval mode, no gradients, CPU) and their confusion matrix."""
    total, use = len(test_y), f"confusion_matrix(test_logits, test_y, {n_classes})"
    why = "one row per test image in the order of test_batches"
    expect_predictions(test_logits, name="test_logits", shape=(total, n_classes), why=why)
    if isinstance(net, nn.Module) and batches is not None:
        inputs = [x for x, _ in batches]  # the first and last batch show the mode and the order
        first, last = inputs[0], inputs[-1]
        rows = torch.cat([test_logits[: len(first)], test_logits[total - len(last) :]])
        expect_eval_outputs(rows, net, torch.cat([first, last]), name="test_logits", softmax=True)
    if not isinstance(matrix, Tensor) or tuple(matrix.shape) != (n_classes, n_classes):
        raise Hint(f"`matrix` should be a {n_classes}x{n_classes} tensor: use {use}")
    if (count := int(matrix.sum())) != total:
        raise Hint(f"`matrix` counts {count} images, expected {total}: predict every test image")
    want, got = confusion_matrix(test_logits, test_y.cpu(), n_classes).long(), matrix.cpu().long()
    if torch.equal(got.T, want) and not torch.equal(got, want):
        raise Hint("`matrix` is transposed: rows are the true digits, columns the predictions")
    if not torch.equal(got, want):
        raise Hint(f"`matrix` does not count test_logits against test_y: use {use}")
    return f"`matrix` counts all {total} test images, {int(matrix.trace())} correctly"


@check("precision", "recall", "f1")
def precision_recall_f1(precision: Any, recall: Any, f1: Any, matrix: Tensor) -> str:
    """Check per-class precision, recall and F1 (tensors, arrays or lists) from ``matrix``."""
    counts = torch.as_tensor(matrix).double()
    n, correct = counts.shape[0], counts.diagonal()
    p, r = correct / counts.sum(dim=0).clamp(min=1), correct / counts.sum(dim=1).clamp(min=1)
    want = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r).clamp(min=1e-12)}
    got: dict[str, Tensor] = {}
    for label, value in zip(want, (precision, recall, f1)):
        try:
            got[label] = torch.as_tensor(value).double().detach().cpu().flatten()
        except (TypeError, ValueError, RuntimeError):
            raise Hint(f"`{label}` should be {n} values, got {type(value).__name__}") from None
        if (size := got[label].numel()) != n:
            what = "a single number" if size == 1 else f"{size} values"
            raise Hint(f"`{label}` is {what}: compute one value per digit, {n} in all")
    close = {(a, b): bool(torch.allclose(got[a], want[b], atol=1e-4)) for a in got for b in want}
    if close["precision", "recall"] and close["recall", "precision"] and not torch.equal(p, r):
        raise Hint("`precision` and `recall` are swapped: precision divides by the column sums")
    for label, where in (("precision", "column (predicted)"), ("recall", "row (true)")):
        if not close[label, label]:
            raise Hint(f"`{label}` is off: divide matrix.diagonal() by the {where} sums")
    if not close["f1", "f1"]:
        raise Hint("`f1` is off: 2 * precision * recall / (precision + recall), per digit")
    lowest = f"{float(want['f1'].min()):.3f} (digit {int(want['f1'].argmin())})"
    return f"precision, recall and F1 per digit are right; lowest F1 {lowest}"


def _expect_values(values: Tensor, raw: Tensor, name: str) -> None:
    """Raise a hint naming how ``values`` were scaled, if not as in training."""
    scaled = raw / 255
    slips = [
        (raw, "keeps values 0-255 (divide by 255)"),
        (scaled, "scales to [0, 1] but does not normalise like the training data"),
        ((raw - MNIST_MEAN) / MNIST_STD, "normalises 0-255 values, not values / 255"),
        ((scaled - scaled.mean()) / scaled.std(), "normalises with the picture's own mean and std"),
        ((1 - scaled - MNIST_MEAN) / MNIST_STD, "inverts the picture (digits are white on black)"),
    ]
    fix = "expected (array / 255 - MNIST_MEAN) / MNIST_STD"
    for slip, hint in slips:
        if torch.allclose(values, slip, atol=1e-3):
            raise Hint(f"`{name}` {hint}; {fix}")
    if not torch.allclose(values, (scaled - MNIST_MEAN) / MNIST_STD, atol=1e-4):
        raise Hint(f"`{name}` gives {_range(values)}; {fix}")


@check("{name}")
def prepare_function(prepare: Any, *, device: Any = "cpu", name: str = "prepare") -> str:
    """Check ``prepare(array)``: grey levels (array or PIL image) to a normalised batch of one."""
    array = np.zeros((28, 28), dtype=np.uint8)  # a digit-like probe: a stroke and a serif
    array[5:23, 13:16] = 255
    array[6:9, 10:13] = 128
    out = expect_tensor(call(prepare, name, array.copy()), name=f"{name}(array)")
    slips = {
        (28, 28): f"`{name}` returned (28, 28): unsqueeze for batch and channel, x[None, None]",
        (1, 28, 28): f"`{name}` returned (1, 28, 28): unsqueeze once more for the batch",
    }
    expect_shape(out, (1, 1, 28, 28), name=name, slips=slips)
    expect_tensor(out, dtype=torch.float32, device=device, name=f"{name}(array)")
    _expect_values(out.detach().cpu()[0, 0].double(), torch.from_numpy(array).double(), name)
    fix = "the next cells pass a PIL image too: start with np.array(array)"
    try:
        from_image = call(prepare, name, Image.fromarray(array))
    except Hint as hint:
        raise Hint(f"{hint}. Note: {fix}") from None
    if not isinstance(from_image, Tensor) or not torch.allclose(from_image.cpu(), out.cpu()):
        raise Hint(f"`{name}` gives another result for the same digit as a PIL image: {fix}")
    return f"`{name}` gives a normalised (1, 1, 28, 28) float32 batch on {out.device.type}"


@check("probs")
def probabilities(
    probs: Any, *, net: Any = None, prepare: Any = None, picture: Any = None, n_classes: int = 10
) -> str:
    """Check ``(1, n_classes)`` probabilities: softmax of the model's logits in evaluation mode."""
    expect_tensor(probs, shape=(1, n_classes), name="probs")
    if probs.requires_grad:
        raise Hint("`probs` tracks gradients: predict inside `with torch.no_grad():`")
    values = probs.detach().float().cpu()
    if (values <= 0).all() and torch.allclose(values.exp().sum(dim=1), torch.ones(1), atol=1e-4):
        raise Hint("`probs` are log-probabilities: use torch.softmax, not log_softmax")
    if (values < 0).any() or (values > 1).any():
        raise Hint("`probs` holds values outside [0, 1]: these are logits; apply torch.softmax")
    if not torch.allclose(values.sum(dim=1), torch.ones(1), atol=1e-4):
        raise Hint("`probs` does not sum to 1: apply softmax over the classes, dim=1")
    if isinstance(net, nn.Module) and prepare is not None:
        inputs = call(prepare, "prepare", picture)
        then = ", and pass it prepare(drawing)"
        expect_eval_outputs(values, net, inputs, name="probs", then=then, softmax=True)
    return f"`probs` sums to 1; the most likely digit is {int(values.argmax())}"
