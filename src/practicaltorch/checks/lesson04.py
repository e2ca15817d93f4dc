"""Self-checks for lesson 04: handwritten digits with a convolutional network.

They run the learner's code on probes (a tilted bar for the augmentation, a tiny
CNN for the training loop) and compare what it *did* with what it should do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from practicaltorch.checks import (
    check_metric,
    expect_eval_outputs,
    expect_fit_history,
    expect_predictions,
    expect_shape,
)
from practicaltorch.checks._core import (
    CheckResult,
    Hint,
    call,
    check,
    eval_outputs,
    model_output,
    number,
)
from practicaltorch.checks.probes import (
    RecordingModel,
    check_train_epoch,
    expect_accuracy,
    expect_evaluation,
    looks_like_probabilities,
    probe_batches,
    probe_outputs,
)
from practicaltorch.data.mnist import MNIST_MEAN, MNIST_STD
from practicaltorch.training.metrics import confusion_matrix

ACCURACY_BAR = 0.99
"""The lesson's quality bar: at least 99% of the 10,000 test digits right."""
QUICK_BAR = 0.9
"""The first, short DataLoader run (2 epochs on 8,000 digits) must reach this."""

_SHAPE = (1, 28, 28)
_BLACK = -MNIST_MEAN / MNIST_STD  # a black pixel after normalisation
_SPLITS = {60_000: "the training split", 10_000: "the test split"}


def _range(x: Tensor) -> str:
    return f"{float(x.min()):.3g}..{float(x.max()):.3g}"


@check("image_tensor")
def image_tensor(value: Any, image: Any = None) -> str:
    """Check one converted digit: ``image``'s grey levels / 255 as a (1, 28, 28) float32 tensor."""
    if not isinstance(value, Tensor):
        raise Hint(
            f"`image_tensor` is a {type(value).__name__}, not a tensor: call the transform on "
            "the image, `to_tensor(image)`"
        )
    slips = {
        (28, 28): "`image_tensor` has shape (28, 28): the channel dimension is missing; "
        "ToTensor() gives (1, 28, 28), channels first",
        (28, 28, 1): "`image_tensor` has shape (28, 28, 1), channels last; PyTorch wants "
        "(1, 28, 28): use transforms.ToTensor(), or .permute(2, 0, 1)",
    }
    expect_shape(value, _SHAPE, name="image_tensor", slips=slips)
    if float(value.min()) < 0:
        raise Hint(
            f"`image_tensor` has negative values ({_range(value)}): this task wants ToTensor "
            "alone; Normalize comes next"
        )
    if value.dtype == torch.uint8 or float(value.max()) > 1.0 + 1e-6:
        raise Hint(
            f"`image_tensor` holds {value.dtype} values {_range(value)}: ToTensor() "
            "(not PILToTensor) converts to float32 and divides by 255"
        )
    if value.dtype != torch.float32:
        raise Hint(f"`image_tensor` has dtype {value.dtype}, expected torch.float32")
    if image is not None:
        want = torch.from_numpy(np.array(image, dtype=np.float32) / 255)
        got = value.detach().cpu()[0]
        if not torch.allclose(got, want, atol=1e-4):
            if torch.allclose(got, want.T, atol=1e-4):
                raise Hint(
                    "`image_tensor` has rows and columns swapped: channels first is "
                    ".permute(2, 0, 1), not (2, 1, 0)"
                )
            raise Hint(
                "`image_tensor` does not hold `image`'s grey levels divided by 255: convert "
                "`image` itself with to_tensor(image)"
            )
    return "`image_tensor` is a float32 tensor of shape (1, 28, 28) with values in [0, 1]"


def _images(data: Any, name: str, count: int) -> Tensor:
    """Stack the first ``count`` images of a dataset, checking each item's form."""
    if isinstance(data, type):
        raise Hint(f"`{name}` is a class: create an instance, `MNIST(train=..., transform=...)`")
    images = []
    for index in range(count):
        try:
            item = call(data.__getitem__, f"{name}[{index}]", index)
        except Hint as hint:
            if "tensor" in str(hint).lower():
                raise Hint(
                    f"{hint}. Normalize works on tensors: put ToTensor() first in Compose([...])"
                ) from None
            raise
        if not isinstance(item, tuple) or len(item) != 2:
            raise Hint(f"`{name}[{index}]` should be a pair (image, label)")
        image = item[0]
        if not isinstance(image, Tensor):
            raise Hint(
                f"`{name}[{index}]` gives a {type(image).__name__} image: pass "
                "transform=... with ToTensor() and Normalize(...)"
            )
        if tuple(image.shape) != _SHAPE or image.dtype != torch.float32:
            raise Hint(
                f"`{name}[{index}]` gives an image of shape {tuple(image.shape)} and dtype "
                f"{image.dtype}; expected (1, 28, 28) float32 from ToTensor()"
            )
        images.append(image)
    return torch.stack(images)


def _expect_normalised(images: Tensor, name: str) -> None:
    mean, std = float(images.mean()), float(images.std())
    if abs(mean - MNIST_MEAN) < 0.05 and abs(std - MNIST_STD) < 0.05:
        raise Hint(
            f"`{name}` images have mean {mean:.3f} and std {std:.3f}, the raw [0, 1] "
            "statistics: add transforms.Normalize((MNIST_MEAN,), (MNIST_STD,)) after ToTensor()"
        )
    swapped = (MNIST_MEAN - MNIST_STD) / MNIST_MEAN
    if abs(mean - swapped) < 0.3:
        raise Hint(
            f"`{name}` images have mean {mean:.3f}: Normalize's arguments are swapped; it takes "
            "the mean first, then the std: Normalize((MNIST_MEAN,), (MNIST_STD,))"
        )
    if abs(mean) > 0.15 or not 0.8 < std < 1.2:
        raise Hint(
            f"`{name}` images have mean {mean:.3f} and std {std:.3f}, expected about 0 and 1: "
            "Normalize takes (mean,) then (std,), the training statistics MNIST_MEAN, MNIST_STD"
        )


@check("train_set", "test_set")
def normalised_dataset(train_set: Any, test_set: Any, *, count: int = 256) -> str:
    """Check both MNIST splits: the right split each, normalised float32 (1, 28, 28) images."""
    for data, name, size in ((train_set, "train_set", 60_000), (test_set, "test_set", 10_000)):
        _expect_normalised(_images(data, name, count), name)
        if len(data) != size:
            split = _SPLITS.get(len(data), f"{len(data):,} images")
            why = " (testing on training images measures memory, not skill)" * (size == 10_000)
            raise Hint(
                f"`{name}` has {len(data):,} images, {split}: use train={size == 60_000}{why}"
            )
    first = test_set[0][0]
    if not torch.equal(first, test_set[0][0]):
        raise Hint(
            "`test_set` gives a different image each time it is read: augmentation is for "
            "training only; test images stay as they are (ToTensor and Normalize only)"
        )
    return "`train_set` and `test_set` give float32 (1, 28, 28) images, normalised to about 0 and 1"


def _bar_probe() -> Any:
    """Return a PIL image of a bar tilted by 30 degrees: its orientation shows turns and flips."""
    from PIL import Image

    pixels = np.zeros((28, 28), dtype=np.uint8)
    for t in np.linspace(-8, 8, 65):
        row, col = round(14 - t * math.sin(math.pi / 6)), round(14 + t * math.cos(math.pi / 6))
        pixels[row - 1 : row + 1, col - 1 : col + 1] = 255
    return Image.fromarray(pixels)


def _pose(image: Tensor) -> tuple[float, float, float]:
    """Return the centre (row, column) and the orientation in degrees of an image's bright part."""
    weight = (image[0] - image.amin()).double()
    rows, cols = torch.meshgrid(
        torch.arange(28, dtype=torch.float64), torch.arange(28, dtype=torch.float64), indexing="ij"
    )
    total = weight.sum()
    row, col = float((weight * rows).sum() / total), float((weight * cols).sum() / total)
    mu_cc = float((weight * (cols - col) ** 2).sum())
    mu_rr = float((weight * (rows - row) ** 2).sum())
    mu_rc = float((weight * (rows - row) * (cols - col)).sum())
    return row, col, math.degrees(0.5 * math.atan2(-2 * mu_rc, mu_cc - mu_rr))


@check("augment")
def augmentation(transform: Any) -> str:
    """Check a training transform: random, label-preserving, ending in ToTensor and Normalize."""
    if not callable(transform):
        raise Hint(f"`augment` is a {type(transform).__name__}; build it with transforms.Compose")
    probe = _bar_probe()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        outputs = []
        for _ in range(16):
            try:
                outputs.append(call(transform, "augment", probe))
            except Hint as hint:
                if "pil" in str(hint).lower() or "tensor" in str(hint).lower():
                    raise Hint(
                        f"{hint}. Put RandomAffine first (it works on the image), then "
                        "ToTensor(), then Normalize"
                    ) from None
                raise
    first = outputs[0]
    if not isinstance(first, Tensor) or tuple(first.shape) != _SHAPE:
        shape = tuple(first.shape) if isinstance(first, Tensor) else type(first).__name__
        raise Hint(f"`augment` gives {shape}; end it with ToTensor() for (1, 28, 28) tensors")
    if all(torch.equal(first, other) for other in outputs[1:]):
        raise Hint(
            "`augment` gives the same tensor every time: add a random transform such as "
            "transforms.RandomAffine(degrees=10, translate=(0.1, 0.1)) before ToTensor()"
        )
    stacked = torch.stack([out.detach().float() for out in outputs])
    black = float(stacked.amin())
    if abs(black) < 1e-6:
        raise Hint(
            "`augment` is not normalised (black pixels are 0): end with "
            "transforms.Normalize((MNIST_MEAN,), (MNIST_STD,)), as for the training data"
        )
    if abs(black - _BLACK) > 0.05:
        raise Hint(
            f"`augment` turns black pixels into {black:.3f}, expected {_BLACK:.3f}: normalise "
            "with MNIST_MEAN and MNIST_STD"
        )
    if bool((stacked == 0).any()):
        raise Hint(
            "`augment` fills the corners it uncovers with 0, which after Normalize is grey, not "
            "black: put RandomAffine before Normalize"
        )
    start = _pose(torch.from_numpy(np.array(probe, dtype=np.float32))[None])
    poses = [_pose(out) for out in stacked]
    shift = max(math.hypot(r - start[0], c - start[1]) for r, c, _ in poses)
    turn = max(abs((a - start[2] + 90) % 180 - 90) for _, _, a in poses)
    if turn > 20:
        raise Hint(
            f"`augment` turned the probe by up to {turn:.0f} degrees (or flipped it): rotate by "
            "at most 10 degrees and never flip; a mirrored or upside-down digit is another "
            "digit, or none"
        )
    if shift > 4.5:
        raise Hint(
            f"`augment` moved the probe by up to {shift:.1f} pixels: translate is a fraction of "
            "the image size, so translate=(0.1, 0.1) moves by up to 2.8 pixels"
        )
    return "`augment` gives a different, normalised (1, 28, 28) tensor on every call"


@check("sizes_by_hand")
def sizes_by_hand(values: Any, expected: Iterable[int]) -> str:
    """Compare the learner's hand-computed output sizes with what PyTorch produced."""
    want = [int(v) for v in expected]
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise Hint(f"`sizes_by_hand` should be a list of {len(want)} whole numbers")
    if len(values) != len(want):
        raise Hint(f"`sizes_by_hand` has {len(values)} numbers; give one per layer")
    hints = [
        "a 5x5 kernel without padding fits 28 - 5 + 1 positions across 28 pixels",
        "MaxPool2d(2) has stride 2 by default: it halves the size",
        "with padding 1 the 12 pixels become 14; a 3x3 window with stride 2 fits "
        "floor((14 - 3) / 2) + 1 times",
    ]
    for layer, (got, size) in enumerate(zip(values, want), start=1):
        if number(got, f"sizes_by_hand[{layer - 1}]") != size:
            hint = hints[layer - 1] if layer <= len(hints) else "use the formula above"
            raise Hint(f"layer {layer}: you said {got}, PyTorch gives {size}. Hint: {hint}")
    return f"all {len(want)} sizes right: {want}"


_SIZE_CASES = [
    (28, 3, 1, 0),
    (28, 3, 1, 1),
    (28, 5, 1, 0),
    (28, 2, 2, 0),
    (12, 3, 2, 1),
    (7, 2, 2, 0),
    (32, 7, 2, 3),
    (10, 4, 3, 2),
]


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
    """Check ``conv_output_size(size, kernel_size, stride=1, padding=0)`` against ``nn.Conv2d``."""
    for size, kernel, stride, padding in _SIZE_CASES:
        layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)
        with torch.no_grad():
            want = int(layer(torch.zeros(1, 1, size, size)).shape[-1])
        got = call(function, "conv_output_size", size, kernel, stride, padding)
        where = f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding})"
        if isinstance(got, float):
            how = "a float" if got.is_integer() else "not a whole number"
            raise Hint(
                f"{where} returned {got}, {how}: nn.Linear and nn.Conv2d need an int; round "
                "down with // instead of /"
            )
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            raise Hint(f"{where} returned {got!r}; return the size as an int")
        if got != want:
            hint = _size_hint(got, size, kernel, stride, padding)
            raise Hint(f"{where} returned {got}, PyTorch gives {want}: {hint}")
    if call(function, "conv_output_size", 28, 5) != 24:
        raise Hint("conv_output_size(28, 5) should be 24: the defaults are stride=1, padding=0")
    return "`conv_output_size` agrees with nn.Conv2d on every case tried"


def _negative_inputs(net: nn.Module, example: Tensor, name: str) -> tuple[Tensor, str | None]:
    """Run ``net`` and return its output and the first weighted layer fed negative values."""
    seen: list[tuple[nn.Module, float]] = []

    def record(module: nn.Module, inputs: tuple[Any, ...]) -> None:
        seen.append((module, float(inputs[0].min())))

    modules = list(net.modules()) if isinstance(net, nn.Module) else []
    layers = [m for m in modules if isinstance(m, nn.Conv2d | nn.Linear)]
    handles = [layer.register_forward_pre_hook(record) for layer in layers]
    try:
        output = model_output(net, name, example)
    finally:
        for handle in handles:
            handle.remove()
    normalised = any(isinstance(m, nn.modules.batchnorm._NormBase | nn.LayerNorm) for m in modules)
    bad = next((str(m) for m, low in seen[1:] if low < -1e-6 and not normalised), None)
    return output, bad


@check("{name}")
def model(net: Any, *, n_classes: int = 10, name: str = "model") -> str:
    """Check a digit classifier: (N, 1, 28, 28) images to (N, 10) logits, a ReLU between layers."""
    example = torch.randn(8, *_SHAPE, generator=torch.Generator().manual_seed(0))
    try:
        output, bad = _negative_inputs(net, example, name)
    except Hint as hint:
        if "mat1 and mat2" in str(hint):
            raise Hint(
                f"{hint}. The first Linear layer's in_features must be channels x height x "
                "width of the last feature maps: compute them with conv_output_size"
            ) from None
        if "expected 2D" in str(hint) or "4D" in str(hint):
            raise Hint(f"{hint}. Did you forget nn.Flatten() before the Linear layers?") from None
        raise
    if output.ndim != 2:
        raise Hint(
            f"`{name}` gives shape {tuple(output.shape)} for 8 images; expected (8, {n_classes})."
            " Flatten the feature maps (nn.Flatten()) before the Linear layers"
        )
    if tuple(output.shape) != (8, n_classes):
        raise Hint(
            f"`{name}` gives shape {tuple(output.shape)} for 8 images; expected (8, {n_classes}):"
            f" the last Linear layer needs out_features={n_classes}"
        )
    if looks_like_probabilities(output):
        raise Hint(
            f"`{name}` ends with a softmax: return the logits, nn.CrossEntropyLoss applies "
            "log-softmax itself"
        )
    if bad is not None:
        raise Hint(
            f"`{name}` feeds negative values into {bad}: a ReLU is missing before it (one "
            "after every Conv2d and after the hidden Linear); without it, layers collapse "
            "into fewer"
        )
    count = sum(p.numel() for p in net.parameters())
    return f"`{name}` maps (N, 1, 28, 28) images to (N, {n_classes}); {count} parameters"


def _probe_net() -> nn.Sequential:
    """Return a tiny convolutional classifier of 4x4 images into three classes."""
    generator = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return net


def train_function(train_epoch: Any) -> CheckResult:
    """Run the learner's ``train_epoch`` on a tiny CNN and check the training step."""
    return check_train_epoch(train_epoch, _probe_net(), probe_batches((1, 4, 4), seed=1))


@check("accuracy")
def accuracy_function(accuracy: Any) -> str:
    """Run the learner's ``accuracy(model, loader, device)`` on a tiny CNN and unequal batches."""
    batches = probe_batches((1, 4, 4), seed=1)
    batches[-1] = (batches[-1][0][:2], batches[-1][1][:2])  # the last batch is short
    probe = RecordingModel(_probe_net()).train()  # it must switch to evaluation mode
    got = number(call(accuracy, "accuracy", probe, batches, torch.device("cpu")), "accuracy")
    expect_evaluation(probe, "accuracy")
    logits, targets = probe_outputs(probe, batches)
    expect_accuracy(got, logits, targets, name="accuracy", items="images")
    return "`accuracy` evaluates: eval mode, no gradients, the right fraction"


@check("losses")
def losses(values: Any, epochs: int, optimizer: Any = None, steps_per_epoch: int = 0) -> str:
    """Check the short run's losses: one per epoch, falling, from one optimiser for the run."""
    try:
        numbers = [number(v, "losses[...]") for v in values]
    except TypeError:
        raise Hint("`losses` should be a list of numbers, one per epoch") from None
    if len(numbers) != epochs:
        raise Hint(
            f"`losses` has {len(numbers)} values for {epochs} epochs: append the mean loss "
            "train_epoch returns, once per epoch"
        )
    if not all(math.isfinite(v) for v in numbers):
        raise Hint("`losses` contains NaN or infinity: the learning rate is probably too high")
    if numbers[-1] > 0.7 * numbers[0]:
        raise Hint(
            f"`losses` went from {numbers[0]:.4g} to {numbers[-1]:.4g}; it should fall by at "
            "least 30%: is the optimiser built on my_model.parameters()?"
        )
    state = getattr(optimizer, "state", {})
    counts = [int(s["step"]) for s in state.values() if "step" in s]
    if steps_per_epoch and counts and max(counts) < epochs * steps_per_epoch:
        raise Hint(
            f"`optimizer` took {max(counts)} steps, not {epochs * steps_per_epoch}: create it "
            "once, before the loop; a new Adam every epoch forgets its running averages"
        )
    return f"`losses` fell from {numbers[0]:.4g} to {numbers[-1]:.4g}"


def _accuracy(net: nn.Module, batches: Iterable[Any]) -> float:
    """Return ``net``'s accuracy on ``batches`` in evaluation mode, restoring its mode."""
    predicted = eval_outputs(net, "model", torch.cat([x for x, _ in batches])).argmax(dim=1)
    return float((predicted == torch.cat([y.cpu() for _, y in batches])).float().mean())


@check("quick_accuracy")
def quick_accuracy(
    value: Any, net: Any = None, loader: Any = None, bar: float = QUICK_BAR
) -> CheckResult | str:
    """Check the short run's accuracy: a fraction, measured on ``loader`` (the test digits)."""
    got = number(value, "quick_accuracy")
    if got > 1:
        raise Hint(f"`quick_accuracy` is {got:.4g}, a percentage: give a fraction between 0 and 1")
    if isinstance(net, nn.Module) and loader is not None:
        want = _accuracy(net, loader)
        if abs(got - want) > 1e-4:
            raise Hint(
                f"`quick_accuracy` is {got:.4f}, but my_model classifies {want:.4f} of "
                "small_test_loader correctly: measure it on the test loader, in evaluation mode"
            )
    return check_metric(got, bar, name="accuracy after the short run", unit="%")


def _peek(batches: Any) -> tuple[Tensor, Tensor]:
    """Read one batch, restoring the batches' shuffling state so checking changes nothing."""
    state = batches.state_dict() if hasattr(batches, "state_dict") else None
    try:
        batch = call(lambda b: next(iter(b)), "next(iter(fast_train))", batches)
    finally:
        if state is not None and hasattr(batches, "load_state_dict"):
            batches.load_state_dict(state)
    return batch  # type: ignore[no-any-return]


def _expect_test_split(test_x: Any, test_y: Any) -> None:
    if not isinstance(test_x, Tensor) or not isinstance(test_y, Tensor):
        raise Hint(
            "`test_x` and `test_y` should be the tensors load_mnist_tensors(train=False) gives"
        )
    if len(test_x) != 10_000 or len(test_y) != 10_000:
        raise Hint(
            f"`test_x` holds {len(test_x):,} images, {_SPLITS.get(len(test_x), 'not 10,000')}: "
            "load it with load_mnist_tensors(train=False)"
        )
    if abs(float(test_x[:1000].mean())) > 0.3:
        raise Hint(
            "`test_x` is not normalised: use the tensors load_mnist_tensors returns as they are"
        )


@check("fast_train", "test_x", "test_y")
def fast_batches(
    batches: Any, test_x: Any, test_y: Any, *, device: Any = "cpu", batch_size: int = 256
) -> str:
    """Check the fast batches (training split, shuffled, channels_last) and the test tensors."""
    if getattr(batches, "shuffle", True) is False:
        raise Hint("`fast_train` does not shuffle: pass shuffle=True for training")
    images = getattr(batches, "dataset_size", 60_000)
    if images != 60_000:
        raise Hint(
            f"`fast_train` holds {images:,} images, {_SPLITS.get(images, 'not 60,000')}: build "
            "it from the training tensors train_x, train_y"
        )
    inputs, targets = _peek(batches)
    if tuple(inputs.shape) != (batch_size, *_SHAPE):
        raise Hint(
            f"a batch of `fast_train` has shape {tuple(inputs.shape)}, expected "
            f"({batch_size}, 1, 28, 28): load with load_mnist_tensors and batch_size={batch_size}"
        )
    if inputs.dtype != torch.float32 or targets.dtype != torch.int64:
        raise Hint(
            f"batches hold {inputs.dtype} images and {targets.dtype} labels; expected float32 "
            "and int64, as load_mnist_tensors returns them"
        )
    if inputs.device.type != torch.device(device).type:
        raise Hint(f"batches are on {inputs.device}, expected {device}: pass device=device")
    mean, std = float(inputs.mean()), float(inputs.std())
    if abs(mean) > 0.3 or not 0.6 < std < 1.5:
        raise Hint(
            f"batch mean {mean:.2f}, std {std:.2f}: load_mnist_tensors already normalises; "
            "use its tensors as they are"
        )
    # With one channel both layouts are the same in memory, so ask the batches instead.
    layout = getattr(batches, "memory_format", None)
    if layout is not torch.channels_last or not inputs.is_contiguous(
        memory_format=torch.channels_last
    ):
        raise Hint(
            "batches are not channels_last: pass memory_format=torch.channels_last to TensorBatches"
        )
    _expect_test_split(test_x, test_y)
    return f"shuffled, normalised, channels_last batches of {batch_size} on {inputs.device.type}"


@check("history")
def history(value: Any, *, epochs: int = 3, bar: float = ACCURACY_BAR) -> CheckResult | str:
    """Check the full run's history: every epoch, a scheduled rate, a falling loss, the bar."""
    missing = (
        "`history` has no train_loss or valid_accuracy: pass the test batches as "
        "valid_batches and metrics=multiclass_metrics(10) to fit"
    )
    losses, accuracies = expect_fit_history(value, "valid_accuracy", missing=missing, min_drop=0.3)
    if len(losses) != epochs:
        raise Hint(f"`history` has {len(losses)} epochs; train for final_epochs={epochs}")
    return check_metric(accuracies[-1], bar, name="test accuracy after training", unit="%")


def _expect_logits(logits: Any, net: Any, batches: Any, total: int, n_classes: int) -> None:
    why = "one row per test image in the order of test_batches"
    expect_predictions(logits, name="test_logits", shape=(total, n_classes), why=why)
    if isinstance(net, nn.Module) and batches is not None:
        inputs = torch.cat([x for x, _ in batches])
        expect_eval_outputs(logits, net, inputs, name="test_logits", softmax=True)


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
    total = len(test_y)
    _expect_logits(test_logits, net, batches, total, n_classes)
    if not isinstance(matrix, Tensor) or tuple(matrix.shape) != (n_classes, n_classes):
        shape = tuple(matrix.shape) if isinstance(matrix, Tensor) else type(matrix).__name__
        raise Hint(
            f"`matrix` should be a {n_classes}x{n_classes} tensor, got {shape}: use "
            f"confusion_matrix(test_logits, test_y, {n_classes})"
        )
    count = int(matrix.sum())
    if count != total:
        raise Hint(f"`matrix` counts {count} images, expected {total}: predict every test image")
    want = confusion_matrix(test_logits, test_y.cpu(), n_classes)
    if not torch.equal(matrix.cpu().long(), want.long()):
        if torch.equal(matrix.cpu().long().T, want.long()):
            raise Hint("`matrix` is transposed: rows are the true digits, columns the predictions")
        raise Hint(
            "`matrix` does not count test_logits against test_y: "
            f"confusion_matrix(test_logits, test_y, {n_classes})"
        )
    return f"`matrix` counts all {total} test images, {int(matrix.trace())} correctly"


@check("precision", "recall", "f1")
def precision_recall_f1(precision: Any, recall: Any, f1: Any, matrix: Tensor) -> str:
    """Check per-class precision, recall and F1 (tensors, arrays or lists) from ``matrix``."""
    counts = torch.as_tensor(matrix).double()
    n, correct = counts.shape[0], counts.diagonal()
    p, r = correct / counts.sum(dim=0).clamp(min=1), correct / counts.sum(dim=1).clamp(min=1)
    want = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r).clamp(min=1e-12)}
    got = {}
    for value, label in ((precision, "precision"), (recall, "recall"), (f1, "f1")):
        try:
            tensor = torch.as_tensor(value).double().detach().cpu().flatten()
        except (TypeError, ValueError, RuntimeError):
            raise Hint(
                f"`{label}` should be a tensor of {n} values, got {type(value).__name__}"
            ) from None
        if tensor.numel() == 1:
            raise Hint(
                f"`{label}` is a single number: compute one value per digit ({n} values), "
                "not an average"
            )
        if tensor.numel() != n:
            raise Hint(f"`{label}` has {tensor.numel()} values, expected {n}, one per digit")
        got[label] = tensor

    def close(label: str, other: str) -> bool:
        return bool(torch.allclose(got[label], want[other], atol=1e-4))

    if close("precision", "recall") and close("recall", "precision") and not torch.equal(p, r):
        raise Hint(
            "`precision` and `recall` are swapped: precision divides the diagonal by the "
            "column sums (predictions), recall by the row sums (true images)"
        )
    for label, where in (("precision", "column (predicted)"), ("recall", "row (true)")):
        if not close(label, label):
            raise Hint(f"`{label}` is off: divide matrix.diagonal() by the {where} sums")
    if not close("f1", "f1"):
        raise Hint("`f1` is off: 2 * precision * recall / (precision + recall), per digit")
    worst = want["f1"]
    return (
        f"precision, recall and F1 per digit are right; lowest F1 {float(worst.min()):.3f} "
        f"(digit {int(worst.argmin())})"
    )


def _probe_digit() -> np.ndarray:
    """Return a 28x28 uint8 array with a digit-like shape, values 0-255."""
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[5:23, 13:16] = 255
    pixels[6:9, 10:13] = 128
    return pixels


def _expect_values(values: Tensor, raw: Tensor, name: str) -> None:
    """Raise a hint naming how ``values`` were scaled, if not as in training."""
    scaled = raw / 255
    candidates = [
        (raw, f"`{name}` keeps values 0-255: divide by 255, then normalise like the training data"),
        (
            scaled,
            f"`{name}` scales to [0, 1] but forgets to normalise like the training data: "
            "subtract MNIST_MEAN and divide by MNIST_STD",
        ),
        ((raw - MNIST_MEAN) / MNIST_STD, f"`{name}` normalises 0-255 values: divide by 255 first"),
        (
            (scaled - scaled.mean()) / scaled.std(),
            f"`{name}` normalises with this picture's own mean and std: use the training "
            "statistics MNIST_MEAN and MNIST_STD, as for every training image",
        ),
        (
            (1 - scaled - MNIST_MEAN) / MNIST_STD,
            f"`{name}` inverts the picture: MNIST digits are white (255) on black (0), like "
            "the drawing; keep them that way",
        ),
    ]
    for candidate, hint in candidates:
        if torch.allclose(values, candidate, atol=1e-3):
            raise Hint(hint)
    want = (scaled - MNIST_MEAN) / MNIST_STD
    if not torch.allclose(values, want, atol=1e-4):
        raise Hint(
            f"`{name}` gives values {_range(values)}, expected {_range(want)}: "
            "(array / 255 - MNIST_MEAN) / MNIST_STD"
        )


@check("{name}")
def prepare_function(prepare: Any, *, device: Any = "cpu", name: str = "prepare") -> str:
    """Check ``prepare(array)``: grey levels (array or PIL image) to a normalised batch of one."""
    from PIL import Image

    array = _probe_digit()
    out = call(prepare, name, array.copy())
    if not isinstance(out, Tensor):
        raise Hint(
            f"`{name}` returned a {type(out).__name__}: convert with torch.as_tensor(...) "
            "or torch.from_numpy(...)"
        )
    slips = {
        (28, 28): f"`{name}` returned shape (28, 28): the network wants a batch (N, C, H, W); "
        "add the batch and channel dimensions with x.unsqueeze(0).unsqueeze(0) (or x[None, None])",
        (1, 28, 28): f"`{name}` returned shape (1, 28, 28): one dimension short of "
        "(1, 1, 28, 28); unsqueeze once more for the batch dimension",
    }
    expect_shape(out, (1, 1, 28, 28), name=name, slips=slips)
    if out.dtype != torch.float32:
        raise Hint(
            f"`{name}` returned {out.dtype}; the network's weights are float32: use "
            "dtype=torch.float32 or .float()"
        )
    if out.device.type != torch.device(device).type:
        raise Hint(
            f"`{name}` returned a tensor on {out.device}; the model is on {device}: .to(device)"
        )
    _expect_values(out.detach().cpu()[0, 0].double(), torch.from_numpy(array).double(), name)
    try:
        from_image = call(prepare, name, Image.fromarray(array))
    except Hint as hint:
        raise Hint(
            f"{hint}. The next cells pass a PIL image too: start with np.array(array), which "
            "accepts both"
        ) from None
    if not isinstance(from_image, Tensor) or not torch.allclose(from_image.cpu(), out.cpu()):
        raise Hint(
            f"`{name}` gives another result for the same digit as a PIL image: start with "
            "np.array(array)"
        )
    return f"`{name}` gives a normalised (1, 1, 28, 28) float32 batch on {out.device.type}"


@check("probs")
def probabilities(
    probs: Any, *, net: Any = None, prepare: Any = None, picture: Any = None, n_classes: int = 10
) -> str:
    """Check ``(1, n_classes)`` probabilities: softmax of the model's logits in evaluation mode."""
    if not isinstance(probs, Tensor):
        raise Hint(f"`probs` is a {type(probs).__name__}, not a tensor")
    if tuple(probs.shape) != (1, n_classes):
        raise Hint(
            f"`probs` has shape {tuple(probs.shape)}, expected (1, {n_classes}): one row for "
            "the one image, one column per digit"
        )
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
        want = model_output(net, "model", inputs).float().softmax(dim=1)
        if not torch.allclose(values, want, atol=1e-4):
            raise Hint(
                "`probs` differ from the model's answer in evaluation mode: call model.eval() "
                "and pass prepare(drawing)"
            )
    return f"`probs` sums to 1; the most likely digit is {int(values.argmax())}"
