"""Self-checks for lesson 04: handwritten digits with a convolutional network.

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
from practicaltorch.data.mnist import MNIST_MEAN, MNIST_STD

__all__ = [
    "ACCURACY_BAR",
    "QUICK_BAR",
    "accuracy_function",
    "augmentation",
    "confusion",
    "conv_output_size",
    "fast_batches",
    "history",
    "image_tensor",
    "losses",
    "model",
    "normalised_dataset",
    "precision_recall_f1",
    "prepare_function",
    "probabilities",
    "quick_accuracy",
    "sizes_by_hand",
    "train_function",
]

ACCURACY_BAR = 0.99
"""The lesson's quality bar: at least 99% of the 10,000 test digits right."""
QUICK_BAR = 0.9
"""The first, short DataLoader run (2 epochs on 8,000 digits) must reach this."""

_CPU = torch.device("cpu")
_SHAPE = (1, 28, 28)


def _describe_range(x: Tensor) -> str:
    return f"{float(x.min()):.3g}..{float(x.max()):.3g}"


def image_tensor(value: Any, *, name: str = "image_tensor") -> CheckResult:
    """Check one converted digit: a ``(1, 28, 28)`` float32 tensor with values in [0, 1].

    Parameters
    ----------
    value
        The learner's converted image.
    name
        What it is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(value, name)
    if stub is not None:
        return stub
    if not isinstance(value, Tensor):
        return fail(
            f"`{name}` is a {type(value).__name__}, not a tensor: call the transform on the "
            "image, `to_tensor(image)`"
        )
    if tuple(value.shape) == (28, 28):
        return fail(
            f"`{name}` has shape (28, 28): the channel dimension is missing; ToTensor() gives "
            "(1, 28, 28), channels first"
        )
    if tuple(value.shape) == (28, 28, 1):
        return fail(
            f"`{name}` has shape (28, 28, 1), channels last; PyTorch wants (1, 28, 28): "
            "use transforms.ToTensor(), or .permute(2, 0, 1)"
        )
    if tuple(value.shape) != _SHAPE:
        return fail(f"`{name}` has shape {tuple(value.shape)}, expected (1, 28, 28)")
    if value.dtype == torch.uint8 or float(value.max()) > 1.0 + 1e-6:
        return fail(
            f"`{name}` holds {value.dtype} values {_describe_range(value)}: ToTensor() "
            "(not PILToTensor) converts to float32 and divides by 255"
        )
    if value.dtype != torch.float32:
        return fail(f"`{name}` has dtype {value.dtype}, expected torch.float32")
    if float(value.min()) < 0:
        return fail(
            f"`{name}` has negative values ({_describe_range(value)}): this task wants "
            "ToTensor alone; Normalize comes next"
        )
    return passed(f"`{name}` is a float32 tensor of shape (1, 28, 28) with values in [0, 1]")


def _stats(data: Any, count: int, name: str) -> tuple[Tensor | None, CheckResult | None]:
    """Stack the first ``count`` images of a dataset, checking each item's form."""
    images = []
    for index in range(count):
        item, problem = call_learner(data.__getitem__, f"{name}[{index}]", index)
        if problem is not None:
            if "Normalize" in problem.message or "tensor" in problem.message.lower():
                return None, fail(
                    problem.message + ". Normalize works on tensors: put ToTensor() first "
                    "in Compose([...])"
                )
            return None, problem
        if not isinstance(item, tuple) or len(item) != 2:
            return None, fail(f"`{name}[{index}]` should be a pair (image, label)")
        image, _ = item
        if not isinstance(image, Tensor):
            return None, fail(
                f"`{name}[{index}]` gives a {type(image).__name__} image: pass "
                "transform=... with ToTensor() and Normalize(...)"
            )
        if tuple(image.shape) != _SHAPE or image.dtype != torch.float32:
            return None, fail(
                f"`{name}[{index}]` gives an image of shape {tuple(image.shape)} and dtype "
                f"{image.dtype}; expected (1, 28, 28) float32 from ToTensor()"
            )
        images.append(image)
    return torch.stack(images), None


def normalised_dataset(data: Any, *, name: str = "train_set", count: int = 256) -> CheckResult:
    """Check a transformed MNIST split: float32 ``(1, 28, 28)`` images, mean 0 and std 1.

    Parameters
    ----------
    data
        The learner's dataset (``MNIST(train=True, transform=...)``).
    name
        What it is called in the exercise.
    count
        How many images to average over.

    Returns
    -------
    CheckResult
    """
    stub = not_done(data, name)
    if stub is not None:
        return stub
    if isinstance(data, type):
        return fail(f"`{name}` is a class: create an instance, `MNIST(train=True, transform=...)`")
    images, problem = _stats(data, count, name)
    if problem is not None or images is None:
        return problem or fail(f"`{name}` gave no images")
    mean, std = float(images.mean()), float(images.std())
    if abs(mean - MNIST_MEAN) < 0.05 and abs(std - MNIST_STD) < 0.05:
        return fail(
            f"`{name}` images have mean {mean:.3f} and std {std:.3f}, the raw [0, 1] "
            "statistics: add transforms.Normalize((MNIST_MEAN,), (MNIST_STD,)) after ToTensor()"
        )
    if abs(mean) > 0.15 or not 0.8 < std < 1.2:
        return fail(
            f"`{name}` images have mean {mean:.3f} and std {std:.3f}, expected about 0 and 1: "
            "Normalize takes (mean,) then (std,), the training statistics MNIST_MEAN, MNIST_STD"
        )
    return passed(
        f"`{name}` gives float32 (1, 28, 28) images, normalised: mean {mean:.2f}, std {std:.2f}"
    )


def _probe_image() -> Any:
    """Return a PIL image of a plus sign: a stand-in digit for checking transforms."""
    from PIL import Image

    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[8:20, 12:16] = 255
    pixels[12:16, 8:20] = 255
    return Image.fromarray(pixels)


def augmentation(transform: Any, *, name: str = "augment") -> CheckResult:
    """Check a training transform: random, and ending in ``ToTensor`` and ``Normalize``.

    Parameters
    ----------
    transform
        The learner's transform, applied to PIL images.
    name
        What it is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(transform, name)
    if stub is not None:
        return stub
    if not callable(transform):
        return fail(f"`{name}` is a {type(transform).__name__}; build it with transforms.Compose")
    probe = _probe_image()
    torch.manual_seed(0)
    outputs = []
    for _ in range(6):
        out, problem = call_learner(transform, name, probe)
        if problem is not None:
            if "pil" in problem.message.lower() or "tensor" in problem.message.lower():
                return fail(
                    problem.message + ". Put RandomAffine first (it works on the image), "
                    "then ToTensor(), then Normalize"
                )
            return problem
        outputs.append(out)
    first = outputs[0]
    if not isinstance(first, Tensor) or tuple(first.shape) != _SHAPE:
        shape = tuple(first.shape) if isinstance(first, Tensor) else type(first).__name__
        return fail(f"`{name}` gives {shape}; end it with ToTensor() for (1, 28, 28) tensors")
    if all(torch.equal(first, other) for other in outputs[1:]):
        return fail(
            f"`{name}` gives the same tensor every time: add a random transform such as "
            "transforms.RandomAffine(degrees=10, translate=(0.1, 0.1)) before ToTensor()"
        )
    background = float(torch.stack(outputs).amin())
    if abs(background) < 1e-6:
        return fail(
            f"`{name}` is not normalised (black pixels are 0): end with "
            "transforms.Normalize((MNIST_MEAN,), (MNIST_STD,)), as for the training data"
        )
    expected_background = -MNIST_MEAN / MNIST_STD
    if abs(background - expected_background) > 0.05:
        return fail(
            f"`{name}` turns black pixels into {background:.3f}, expected "
            f"{expected_background:.3f}: normalise with MNIST_MEAN and MNIST_STD"
        )
    return passed(f"`{name}` gives a different, normalised (1, 28, 28) tensor on every call")


def sizes_by_hand(values: Any, expected: Sequence[int]) -> CheckResult:
    """Compare the learner's hand-computed output sizes with what PyTorch produced.

    Parameters
    ----------
    values
        The learner's sizes, one per layer.
    expected
        The sizes the layers really produce.

    Returns
    -------
    CheckResult
    """
    stub = not_done(values, "sizes_by_hand")
    if stub is not None:
        return stub
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return fail(f"`sizes_by_hand` should be a list of {len(expected)} whole numbers")
    if len(values) != len(expected):
        return fail(f"`sizes_by_hand` has {len(values)} numbers; give one per layer")
    hints = [
        "a 5x5 kernel without padding fits 28 - 5 + 1 positions across 28 pixels",
        "MaxPool2d(2) has stride 2 by default: it halves the size",
        "with padding 1 the 12 pixels become 14; a 3x3 window with stride 2 fits "
        "floor((14 - 3) / 2) + 1 times",
    ]
    for layer, (got, want) in enumerate(zip(values, expected), start=1):
        if got != want:
            hint = hints[layer - 1] if layer <= len(hints) else "use the formula above"
            return fail(f"layer {layer}: you said {got}, PyTorch gives {want}. Hint: {hint}")
    return passed(f"all {len(expected)} sizes right: {list(expected)}")


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


def conv_output_size(function: Any) -> CheckResult:
    """Check ``conv_output_size(size, kernel_size, stride, padding)`` against ``nn.Conv2d``.

    Parameters
    ----------
    function
        The learner's function.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "conv_output_size")
    if stub is not None:
        return stub
    for size, kernel, stride, padding in _SIZE_CASES:
        layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)
        with torch.no_grad():
            want = int(layer(torch.zeros(1, 1, size, size)).shape[-1])
        got, problem = call_learner(function, "conv_output_size", size, kernel, stride, padding)
        if problem is not None:
            return problem
        call = f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding})"
        if isinstance(got, float) and not float(got).is_integer():
            return fail(
                f"{call} returned {got}, not a whole number: round down with // instead of /"
            )
        if got is None or not isinstance(got, (int, float, np.integer)):
            return fail(f"{call} returned {got!r}; return the size as an int")
        if got == want:
            continue
        if got == (size + padding - kernel) // stride + 1:
            hint = "padding is added on both sides: 2 * padding"
        elif got == (size + 2 * padding - kernel) // stride:
            hint = "you forgot the + 1 (the first position of the window)"
        elif got == (size + 2 * padding - kernel + 1) // stride:
            hint = "add 1 after dividing by the stride, not before"
        else:
            hint = "floor((size + 2 * padding - kernel_size) / stride) + 1"
        return fail(f"{call} returned {got}, PyTorch gives {want}: {hint}")
    return passed("`conv_output_size` agrees with nn.Conv2d on every case tried")


def model(
    net: Any, *, device: str | torch.device = "cpu", n_classes: int = 10, name: str = "model"
) -> CheckResult:
    """Check that a digit classifier maps ``(N, 1, 28, 28)`` images to ``(N, 10)`` logits.

    Parameters
    ----------
    net
        The learner's ``nn.Module``.
    device
        Where the model is; the example batch is put there.
    n_classes
        Number of classes.
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
        return fail(f"`{name}` is a class: create an instance, `{net.__name__}()`")
    if not isinstance(net, nn.Module):
        return fail(f"`{name}` is a {type(net).__name__}, not a torch.nn.Module")
    example = torch.randn(8, *_SHAPE, generator=torch.Generator().manual_seed(0)).to(device)
    output, problem = call_model(net, name, example)
    if problem is not None:
        if "mat1 and mat2" in problem.message:
            return fail(
                problem.message + ". The first Linear layer's in_features must be channels x "
                "height x width of the last feature maps: compute them with conv_output_size"
            )
        if "expected 2D" in problem.message or "4D" in problem.message:
            return fail(problem.message + ". Did you forget nn.Flatten() before the Linear layers?")
        return problem
    if not isinstance(output, Tensor):
        return fail(f"`{name}(images)` returned a {type(output).__name__}, not a tensor")
    if output.ndim != 2:
        return fail(
            f"`{name}` gives shape {tuple(output.shape)} for 8 images; expected (8, {n_classes})."
            " Flatten the feature maps (nn.Flatten()) before the Linear layers"
        )
    if tuple(output.shape) != (8, n_classes):
        return fail(
            f"`{name}` gives shape {tuple(output.shape)} for 8 images; expected (8, {n_classes}):"
            f" the last Linear layer needs out_features={n_classes}"
        )
    sums = output.sum(dim=1)
    if (output >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        return fail(
            f"`{name}` ends with a softmax: return the logits, nn.CrossEntropyLoss applies "
            "log-softmax itself"
        )
    count = sum(p.numel() for p in net.parameters())
    return passed(f"`{name}` maps (N, 1, 28, 28) images to (N, {n_classes}); {count} parameters")


def _probe_net() -> nn.Sequential:
    """Return a tiny convolutional classifier of 4x4 images into three classes."""
    generator = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return net


def _probe_batches() -> list[tuple[Tensor, Tensor]]:
    return probe_batches((1, 4, 4), seed=1)


def train_function(train_epoch: Any) -> CheckResult:
    """Run the learner's ``train_epoch`` on a tiny CNN and check the training step.

    Parameters
    ----------
    train_epoch
        ``train_epoch(model, loader, loss_fn, optimizer, device)`` returning the mean loss.

    Returns
    -------
    CheckResult
    """
    return check_train_epoch(train_epoch, _probe_net(), _probe_batches())


def accuracy_function(accuracy: Any) -> CheckResult:
    """Run the learner's ``accuracy`` on a tiny CNN and check mode, gradients and result.

    Parameters
    ----------
    accuracy
        ``accuracy(model, loader, device)`` returning a fraction between 0 and 1.

    Returns
    -------
    CheckResult
    """
    stub = not_done(accuracy, "accuracy")
    if stub is not None:
        return stub
    probe = RecordingModel(_probe_net()).train()  # the function must switch it to eval mode
    batches = _probe_batches()
    value, problem = call_learner(accuracy, "accuracy", probe, batches, _CPU)
    if problem is not None:
        return problem
    problem = eval_problem(probe, "accuracy")
    if problem is not None:
        return problem
    try:
        got = float(value)
    except (TypeError, ValueError):
        return fail(f"`accuracy` should return a number, got {value!r}")
    logits, targets = probe_outputs(probe, batches)
    problem = accuracy_problem(got, logits, targets, name="accuracy", items="images")
    if problem is not None:
        return problem
    return passed("`accuracy` evaluates: eval mode, no gradients, the right fraction")


def losses(values: Any, *, name: str = "losses") -> CheckResult:
    """Check that the training loss fell from the first epoch to the last."""
    return check_decreasing(values, name=name, min_drop=0.3)


def quick_accuracy(value: Any, bar: float = QUICK_BAR) -> CheckResult:
    """Check the accuracy of the first, short training run."""
    return check_metric(value, bar, name="accuracy after the short run", unit="%")


def fast_batches(
    batches: Any, *, device: str | torch.device = "cpu", batch_size: int = 256
) -> CheckResult:
    """Check the fast training batches: shuffled, normalised, ``channels_last``, on the device.

    Parameters
    ----------
    batches
        The learner's ``TensorBatches``.
    device
        Where the batches should be.
    batch_size
        Expected images per batch.

    Returns
    -------
    CheckResult
    """
    stub = not_done(batches, "fast_train")
    if stub is not None:
        return stub
    if getattr(batches, "shuffle", True) is False:
        return fail("`fast_train` does not shuffle: pass shuffle=True for training")
    # Reading a batch draws a shuffled order; restore it so checking changes nothing.
    state = batches.state_dict() if hasattr(batches, "state_dict") else None
    batch, problem = call_learner(lambda b: next(iter(b)), "next(iter(fast_train))", batches)
    if state is not None and hasattr(batches, "load_state_dict"):
        batches.load_state_dict(state)
    if problem is not None:
        return problem
    inputs, targets = batch
    if tuple(inputs.shape) != (batch_size, *_SHAPE):
        return fail(
            f"a batch of `fast_train` has shape {tuple(inputs.shape)}, expected "
            f"({batch_size}, 1, 28, 28): load with load_mnist_tensors and batch_size={batch_size}"
        )
    if inputs.dtype != torch.float32 or targets.dtype != torch.int64:
        return fail(
            f"batches hold {inputs.dtype} images and {targets.dtype} labels; expected float32 "
            "and int64, as load_mnist_tensors returns them"
        )
    if inputs.device.type != torch.device(device).type:
        return fail(f"batches are on {inputs.device}, expected {device}: pass device=device")
    if abs(float(inputs.mean())) > 0.3:
        return fail(f"batch mean is {float(inputs.mean()):.2f}: the images are not normalised")
    # With one channel both layouts are the same in memory, so ask the batches instead.
    layout = getattr(batches, "memory_format", None)
    if layout is not torch.channels_last or not inputs.is_contiguous(
        memory_format=torch.channels_last
    ):
        return fail(
            "batches are not channels_last: pass memory_format=torch.channels_last to TensorBatches"
        )
    return passed(
        f"shuffled, normalised, channels_last batches of {batch_size} on {inputs.device.type}"
    )


def history(value: Any, *, bar: float = ACCURACY_BAR) -> CheckResult:
    """Check the history of the full training run: a falling loss and test accuracy recorded."""
    stub = not_done(value, "history")
    if stub is not None:
        return stub
    try:
        train_losses = value["train_loss"]
        accuracies = value["valid_accuracy"]
    except (KeyError, TypeError):
        return fail(
            "`history` has no train_loss or valid_accuracy: pass the test batches as "
            "valid_batches and metrics=multiclass_metrics(10) to fit"
        )
    trend = check_decreasing(train_losses, name="training loss", min_drop=0.3)
    if not trend:
        return trend
    return check_metric(accuracies[-1], bar, name="test accuracy after training", unit="%")


def confusion(matrix: Any, *, total: int = 10_000, n_classes: int = 10) -> CheckResult:
    """Check a confusion matrix counts every test image once.

    Parameters
    ----------
    matrix
        The learner's matrix.
    total
        Number of test images.
    n_classes
        Number of classes.

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
            f"confusion_matrix(test_logits, test_y, {n_classes})"
        )
    count = int(matrix.sum())
    if count != total:
        return fail(f"`matrix` counts {count} images, expected {total}: predict every test image")
    return passed(f"`matrix` counts all {total} test images, {int(matrix.trace())} correctly")


def precision_recall_f1(precision: Any, recall: Any, f1: Any, matrix: Tensor) -> CheckResult:
    """Check per-class precision, recall and F1 computed from a confusion matrix.

    Parameters
    ----------
    precision, recall, f1
        The learner's values, one per class.
    matrix
        The confusion matrix they were computed from (rows: true classes).

    Returns
    -------
    CheckResult
    """
    for value, label in ((precision, "precision"), (recall, "recall"), (f1, "f1")):
        stub = not_done(value, label)
        if stub is not None:
            return stub
    counts = torch.as_tensor(matrix).double()
    n = counts.shape[0]
    correct = counts.diagonal()
    want_p = correct / counts.sum(dim=0).clamp(min=1)
    want_r = correct / counts.sum(dim=1).clamp(min=1)
    want_f = 2 * want_p * want_r / (want_p + want_r).clamp(min=1e-12)
    got = {}
    for value, label in ((precision, "precision"), (recall, "recall"), (f1, "f1")):
        try:
            tensor = torch.as_tensor(value).double().detach().cpu().flatten()
        except (TypeError, ValueError, RuntimeError):
            return fail(f"`{label}` should be a tensor of {n} values, got {type(value).__name__}")
        if tensor.numel() == 1:
            return fail(
                f"`{label}` is a single number: compute one value per digit ({n} values), "
                "not an average"
            )
        if tensor.numel() != n:
            return fail(f"`{label}` has {tensor.numel()} values, expected {n}, one per digit")
        got[label] = tensor

    def close(a: Tensor, b: Tensor) -> bool:
        return bool(torch.allclose(a, b, atol=1e-4))

    if not close(got["precision"], want_p) or not close(got["recall"], want_r):
        if close(got["precision"], want_r) and close(got["recall"], want_p):
            return fail(
                "`precision` and `recall` are swapped: precision divides the diagonal by the "
                "column sums (predictions), recall by the row sums (true images)"
            )
        label = "precision" if not close(got["precision"], want_p) else "recall"
        where = "column (predicted)" if label == "precision" else "row (true)"
        return fail(f"`{label}` is off: divide matrix.diagonal() by the {where} sums")
    if not close(got["f1"], want_f):
        return fail("`f1` is off: 2 * precision * recall / (precision + recall), per digit")
    return passed(
        f"precision, recall and F1 per digit are right; lowest F1 {float(want_f.min()):.3f} "
        f"(digit {int(want_f.argmin())})"
    )


def _probe_digit() -> np.ndarray:
    """Return a 28x28 uint8 array with a digit-like shape, values 0-255."""
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[5:23, 13:16] = 255
    pixels[6:9, 10:13] = 128
    return pixels


def prepare_function(
    prepare: Any, *, device: str | torch.device = "cpu", name: str = "prepare"
) -> CheckResult:
    """Check ``prepare(array)``: a 28x28 array of 0-255 becomes a normalised batch of one.

    Parameters
    ----------
    prepare
        The learner's function.
    device
        Where the model is, so where the batch must be.
    name
        What the function is called in the exercise.

    Returns
    -------
    CheckResult
    """
    stub = not_done(prepare, name)
    if stub is not None:
        return stub
    array = _probe_digit()
    out, problem = call_learner(prepare, name, array.copy())
    if problem is not None:
        return problem
    if not isinstance(out, Tensor):
        return fail(
            f"`{name}` returned a {type(out).__name__}: convert with torch.as_tensor(...) "
            "or torch.from_numpy(...)"
        )
    shape = tuple(out.shape)
    if shape == (28, 28):
        return fail(
            f"`{name}` returned shape (28, 28): the network wants a batch (N, C, H, W); add the "
            "batch and channel dimensions with x.unsqueeze(0).unsqueeze(0) (or x[None, None])"
        )
    if shape == (1, 28, 28):
        return fail(
            f"`{name}` returned shape (1, 28, 28): one dimension short of (1, 1, 28, 28); "
            "unsqueeze once more for the batch dimension"
        )
    if shape != (1, 1, 28, 28):
        return fail(f"`{name}` returned shape {shape}, expected (1, 1, 28, 28)")
    if out.dtype != torch.float32:
        return fail(
            f"`{name}` returned {out.dtype}; the network's weights are float32: use "
            "dtype=torch.float32 or .float()"
        )
    if out.device.type != torch.device(device).type:
        return fail(
            f"`{name}` returned a tensor on {out.device}; the model is on {device}: .to(device)"
        )
    values = out.detach().cpu()[0, 0].double()
    raw = torch.from_numpy(array).double()
    scaled = raw / 255
    normalised = (scaled - MNIST_MEAN) / MNIST_STD
    if torch.allclose(values, raw, atol=1e-3):
        return fail(
            f"`{name}` keeps values 0-255: divide by 255, then normalise like the training data"
        )
    if torch.allclose(values, scaled, atol=1e-3):
        return fail(
            f"`{name}` scales to [0, 1] but forgets to normalise like the training data: "
            "subtract MNIST_MEAN and divide by MNIST_STD"
        )
    if torch.allclose(values, (raw - MNIST_MEAN) / MNIST_STD, atol=1e-3):
        return fail(f"`{name}` normalises 0-255 values: divide by 255 first")
    if not torch.allclose(values, normalised, atol=1e-4):
        return fail(
            f"`{name}` gives values {_describe_range(values)}, expected "
            f"{_describe_range(normalised)}: (array / 255 - MNIST_MEAN) / MNIST_STD"
        )
    return passed(
        f"`{name}` gives a (1, 1, 28, 28) float32 batch on {out.device.type}, normalised as "
        "in training"
    )


def probabilities(probs: Any, *, n_classes: int = 10) -> CheckResult:
    """Check ``(1, n_classes)`` probabilities: between 0 and 1, summing to 1.

    Parameters
    ----------
    probs
        The learner's probabilities.
    n_classes
        Number of classes.

    Returns
    -------
    CheckResult
    """
    stub = not_done(probs, "probs")
    if stub is not None:
        return stub
    if not isinstance(probs, Tensor):
        return fail(f"`probs` is a {type(probs).__name__}, not a tensor")
    if tuple(probs.shape) != (1, n_classes):
        return fail(
            f"`probs` has shape {tuple(probs.shape)}, expected (1, {n_classes}): one row for "
            "the one image, one column per digit"
        )
    values = probs.detach().float().cpu()
    if (values < 0).any() or (values > 1).any():
        return fail("`probs` holds values outside [0, 1]: these are logits; apply torch.softmax")
    if not torch.allclose(values.sum(dim=1), torch.ones(1), atol=1e-4):
        return fail("`probs` does not sum to 1: apply softmax over the classes, dim=1")
    return passed(f"`probs` sums to 1; the most likely digit is {int(values.argmax())}")
