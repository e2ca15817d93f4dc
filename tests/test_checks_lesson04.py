"""Lesson 04 self-checks: pass on right answers, fail with a hint on stubs and common mistakes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import datasets, transforms
from torchvision.transforms import v2

from practicaltorch.checks import lesson04 as check
from practicaltorch.data import MNIST, TensorBatches
from practicaltorch.data.mnist import MNIST_MEAN, MNIST_STD
from practicaltorch.models import DigitCNN
from practicaltorch.training import History, confusion_matrix
from tests.checks_helpers import eval_predictions, said, stub

NORMALISE = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))
AFFINE = transforms.RandomAffine(10, translate=(0.1, 0.1))
CPU = torch.device("cpu")


def good_train_epoch(
    model: nn.Module, loader: Any, loss_fn: Any, optimizer: Any, device: Any
) -> float:
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def good_accuracy(model: nn.Module, loader: Any, device: Any) -> float:
    model.eval()
    correct, count = 0, 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x.to(device)).argmax(1) == y).sum())
            count += len(y)
    return correct / count


def good_prepare(array: Any) -> torch.Tensor:
    x = torch.tensor(np.array(array), dtype=torch.float32) / 255
    return ((x - MNIST_MEAN) / MNIST_STD)[None, None]


def test_image_tensor(capsys: pytest.CaptureFixture[str]) -> None:
    image = transforms.ToPILImage()(torch.rand(1, 28, 28))
    pixels = np.array(image)
    assert check.image_tensor(transforms.ToTensor()(image), image)
    assert check.image_tensor(torch.from_numpy(pixels).float().div(255)[None], image)
    assert not check.image_tensor(None)
    assert said(capsys, "YOUR CODE HERE")
    assert not check.image_tensor(transforms.PILToTensor()(image))
    assert said(capsys, "PILToTensor")
    assert not check.image_tensor(torch.rand(28, 28))
    assert said(capsys, "channel dimension")
    assert not check.image_tensor(torch.rand(28, 28, 1))
    assert said(capsys, "channels last")
    assert not check.image_tensor(image)
    assert said(capsys, "not a tensor")
    assert not check.image_tensor(NORMALISE(transforms.ToTensor()(image)))
    assert said(capsys, "Normalize comes next")
    swapped = torch.from_numpy(pixels[:, :, None]).permute(2, 1, 0).float() / 255
    assert not check.image_tensor(swapped, image)
    assert said(capsys, "rows and columns swapped")
    assert not check.image_tensor(torch.from_numpy(pixels).float()[None] / 256, image)
    assert said(capsys, "divided by 255")


def test_normalised_dataset(mnist_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = transforms.Compose([transforms.ToTensor(), NORMALISE])

    def split(train: bool, transform: Any = good) -> MNIST:
        return MNIST(mnist_root, train=train, transform=transform)

    train, test = split(True), split(False)
    assert check.normalised_dataset(train, test, count=64)
    modern = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), NORMALISE])
    plain = datasets.MNIST(mnist_root, train=False, transform=modern)
    assert check.normalised_dataset(split(True, modern), plain, count=64)
    assert not check.normalised_dataset(None, test)
    assert said(capsys, "YOUR CODE HERE")
    assert not check.normalised_dataset(split(True, transforms.ToTensor()), test, count=64)
    assert said(capsys, "Normalize")
    assert not check.normalised_dataset(MNIST(mnist_root, train=True), test, count=64)
    assert said(capsys, "transform=")
    backwards = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.3081, 0.1307)])
    assert not check.normalised_dataset(split(True, backwards), test, count=64)
    assert said(capsys, "swapped")
    wrong_order = transforms.Compose([NORMALISE, transforms.ToTensor()])
    assert not check.normalised_dataset(split(True, wrong_order), test, count=64)
    assert said(capsys, "ToTensor() first")
    assert not check.normalised_dataset(train, train, count=64)
    assert said(capsys, "the training split: use train=False")
    assert not check.normalised_dataset(test, test, count=64)
    assert said(capsys, "use train=True")
    augmented = split(False, transforms.Compose([AFFINE, transforms.ToTensor(), NORMALISE]))
    assert not check.normalised_dataset(train, augmented, count=64)
    assert said(capsys, "augmentation is for training only")


def test_augmentation(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.augmentation(transforms.Compose([AFFINE, transforms.ToTensor(), NORMALISE]))
    on_tensors = transforms.Compose([transforms.ToTensor(), AFFINE, NORMALISE])
    assert check.augmentation(on_tensors)
    steps = [v2.ToImage(), v2.RandomAffine(10, translate=(0.1, 0.1))]
    modern = v2.Compose([*steps, v2.ToDtype(torch.float32, True), NORMALISE])
    assert check.augmentation(modern)
    state = torch.random.get_rng_state()
    assert check.augmentation(transforms.Compose([AFFINE, transforms.ToTensor(), NORMALISE]))
    assert torch.equal(torch.random.get_rng_state(), state), "the check moved the global RNG"
    assert not check.augmentation(None)
    assert not check.augmentation(transforms.Compose([transforms.ToTensor(), NORMALISE]))
    assert said(capsys, "same tensor every time")
    assert not check.augmentation(transforms.Compose([AFFINE, transforms.ToTensor()]))
    assert said(capsys, "not normalised")
    assert not check.augmentation(transforms.Compose([transforms.ToTensor(), NORMALISE, AFFINE]))
    assert said(capsys, "put RandomAffine before Normalize")
    flips = [transforms.RandomHorizontalFlip(), AFFINE, transforms.ToTensor(), NORMALISE]
    assert not check.augmentation(transforms.Compose(flips))
    assert said(capsys, "flipped")
    turns = [transforms.RandomAffine(90), transforms.ToTensor(), NORMALISE]
    assert not check.augmentation(transforms.Compose(turns))
    assert said(capsys, "at most 10 degrees")
    far = [transforms.RandomAffine(0, translate=(0.3, 0.3)), transforms.ToTensor(), NORMALISE]
    assert not check.augmentation(transforms.Compose(far))
    assert said(capsys, "translate is a fraction")


def test_sizes_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.sizes_by_hand([24, 12, 6], [24, 12, 6])
    assert check.sizes_by_hand((24, 12, 6), [24, 12, 6])
    assert check.sizes_by_hand(np.array([24, 12, 6]), [24, 12, 6])
    assert not check.sizes_by_hand(None, [24, 12, 6])
    assert not check.sizes_by_hand([26, 13, 7], [24, 12, 6])
    assert said(capsys, "layer 1")
    assert not check.sizes_by_hand([24, 12, 7], [24, 12, 6])
    assert said(capsys, "layer 3")
    assert not check.sizes_by_hand([24, 12], [24, 12, 6])
    assert said(capsys, "one per layer")


def test_conv_output_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.conv_output_size(lambda n, k, s=1, p=0: (n + 2 * p - k) // s + 1)
    assert check.conv_output_size(lambda n, k, s=1, p=0: math.floor((n + 2 * p - k) / s) + 1)
    assert check.conv_output_size(lambda n, k, s=1, p=0: int((n + 2 * p - k) / s) + 1)
    assert not check.conv_output_size(stub)
    assert said(capsys, "NotImplementedError")
    assert not check.conv_output_size(lambda n, k, s=1, p=0: (n + 2 * p - k) // s)
    assert said(capsys, "+ 1")
    assert not check.conv_output_size(lambda n, k, s=1, p=0: (n + p - k) // s + 1)
    assert said(capsys, "2 * padding")
    assert not check.conv_output_size(lambda n, k, s=1, p=0: (n + 2 * p - k) / s + 1)
    assert said(capsys, "//")
    assert not check.conv_output_size(lambda n, k, s=1, p=0: math.ceil((n + 2 * p - k) / s) + 1)
    assert said(capsys, "rounds up")
    assert not check.conv_output_size(lambda n, k, s=1, p=0: float((n + 2 * p - k) // s + 1))
    assert said(capsys, "a float")
    assert not check.conv_output_size(lambda n, k, s, p: (n + 2 * p - k) // s + 1)
    assert said(capsys, "TypeError")


class ReluAfterPool(nn.Module):
    """The lesson's network with ReLU after pooling and F.relu in forward: also right."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.hidden, self.out = nn.Linear(32 * 7 * 7, 64), nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.relu(nn.functional.max_pool2d(self.conv1(x), 2))
        x = nn.functional.relu(nn.functional.max_pool2d(self.conv2(x), 2))
        return self.out(nn.functional.relu(self.hidden(x.flatten(1))))


def digit_net(*, conv_relu: bool = True, hidden_relu: bool = True) -> nn.Sequential:
    act = [nn.ReLU()] if conv_relu else []
    hidden = [nn.ReLU()] if hidden_relu else []
    return nn.Sequential(
        *[nn.Conv2d(1, 16, 3, padding=1), *act, nn.MaxPool2d(2)],
        *[nn.Conv2d(16, 32, 3, padding=1), *act, nn.MaxPool2d(2)],
        *[nn.Flatten(), nn.Linear(32 * 7 * 7, 64), *hidden, nn.Linear(64, 10)],
    )


def test_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.model(DigitCNN())
    assert check.model(digit_net())
    assert check.model(ReluAfterPool())
    assert not check.model(None)
    no_flatten = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Linear(26, 10))
    assert not check.model(no_flatten)
    assert said(capsys, "Flatten")
    wrong_features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 28 * 28, 10))
    assert not check.model(wrong_features)
    assert said(capsys, "in_features")
    softmax = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(dim=1))
    assert not check.model(softmax)
    assert said(capsys, "softmax")
    assert not check.model(DigitCNN, name="my_model")
    assert said(capsys, "a class")
    assert not check.model(digit_net(hidden_relu=False))
    assert said(capsys, "Linear(in_features=64, out_features=10, bias=True): a ReLU is missing")
    assert not check.model(digit_net(conv_relu=False))
    assert said(capsys, "a ReLU is missing")
    normed = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4))
    assert check.model(nn.Sequential(*normed, nn.Flatten(), nn.Linear(4 * 28 * 28, 10)))
    assert not check.model(nn.Sequential(nn.Flatten(), nn.Linear(784, 9)))
    assert said(capsys, "out_features=10")


def loop_variant(kind: str) -> Any:
    """A `train_epoch` written one particular (right or wrong) way."""

    def train_epoch(
        model: nn.Module, loader: Any, loss_fn: Any, optimizer: Any, device: Any
    ) -> Any:
        model.train()
        total: Any = 0.0
        for x, y in loader:
            if kind == "model.zero_grad":
                model.zero_grad()
            elif kind != "zero_grad at the end" and kind != "no zero_grad":
                optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            if kind == "zero_grad at the end":
                optimizer.zero_grad()
            total = total + (loss if kind == "graph kept" else loss.item())
        return loss.item() if kind == "last loss" else total / len(loader)

    return train_epoch


def test_train_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.train_function(good_train_epoch)
    assert check.train_function(loop_variant("model.zero_grad"))
    assert check.train_function(loop_variant("zero_grad at the end"))
    assert not check.train_function(stub)
    assert said(capsys, "NotImplementedError")
    assert not check.train_function(loop_variant("no zero_grad"))
    assert said(capsys, "zero_grad")
    assert not check.train_function(loop_variant("graph kept"))
    assert said(capsys, "loss.item()")
    assert not check.train_function(loop_variant("last loss"))
    assert said(capsys, "last batch")


def test_accuracy_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.accuracy_function(good_accuracy)

    def inference_mode(model: nn.Module, loader: Any, device: Any) -> float:
        model.eval()
        with torch.inference_mode():
            hits = [(model(x).argmax(1) == y).float() for x, y in loader]
        return float(torch.cat(hits).mean())

    assert check.accuracy_function(inference_mode)
    assert not check.accuracy_function(stub)
    assert said(capsys, "NotImplementedError")

    def percent(model: nn.Module, loader: Any, device: Any) -> float:
        return 100 * good_accuracy(model, loader, device)

    assert not check.accuracy_function(percent)
    assert said(capsys, "percentage")

    def train_mode(model: nn.Module, loader: Any, device: Any) -> float:
        with torch.no_grad():
            return _counted(model, loader)

    assert not check.accuracy_function(train_mode)
    assert said(capsys, "model.eval()")

    def with_grad(model: nn.Module, loader: Any, device: Any) -> float:
        model.eval()
        return _counted(model, loader)

    assert not check.accuracy_function(with_grad)
    assert said(capsys, "torch.no_grad()")

    def mean_of_batches(model: nn.Module, loader: Any, device: Any) -> float:
        model.eval()
        with torch.no_grad():
            scores = [float((model(x).argmax(1) == y).float().mean()) for x, y in loader]
        return sum(scores) / len(scores)

    assert not check.accuracy_function(mean_of_batches)
    assert said(capsys, "divide by the number of images")


def _counted(model: nn.Module, loader: Any) -> float:
    hits = sum(int((model(x).argmax(1) == y).sum()) for x, y in loader)
    return hits / sum(len(y) for _, y in loader)


def test_losses(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.losses([0.6, 0.17], 2)
    assert check.losses([torch.tensor(0.6), torch.tensor(0.17)], 2)
    assert not check.losses(None, 2)
    assert not check.losses([0.6, 0.58], 2)
    assert said(capsys, "at least 30%")
    assert not check.losses([0.6, 0.4, 0.3, 0.17], 2)
    assert said(capsys, "once per epoch")
    weight = nn.Parameter(torch.ones(2))
    fresh = torch.optim.Adam([weight], lr=0.1)
    for _ in range(5):  # the last epoch's steps of an optimiser made anew every epoch
        weight.grad = torch.ones(2)
        fresh.step()
    assert check.losses([0.6, 0.17], 2, fresh, 2)
    assert not check.losses([0.6, 0.17], 2, fresh, 5)
    assert said(capsys, "create it once")


def test_quick_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)  # seeded net and labels: the two accuracies below differ
    net = digit_net()
    images = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    test_loader = TensorBatches(images[:32], torch.randint(0, 10, (32,)), 16)
    train_loader = TensorBatches(images[32:], torch.randint(0, 10, (32,)), 16)
    right = good_accuracy(net, test_loader, CPU)
    assert check.quick_accuracy(0.94)
    assert check.quick_accuracy(right, net, test_loader, bar=0.0)
    assert check.quick_accuracy(torch.tensor(right), net, test_loader, bar=0.0)
    assert not check.quick_accuracy(0.5)
    assert not check.quick_accuracy(None)
    assert not check.quick_accuracy(94.0)
    assert said(capsys, "a percentage")
    wrong = good_accuracy(net, train_loader, CPU)
    assert wrong != right
    assert not check.quick_accuracy(wrong, net, test_loader, bar=0.0)
    assert said(capsys, "small_test_loader")


def test_fast_batches(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = torch.randn(60_000, 1, 28, 28), torch.randint(0, 10, (60_000,))
    tx, ty = x[:10_000], y[:10_000]
    good = TensorBatches(x, y, 256, shuffle=True, memory_format=torch.channels_last)
    before = good.state_dict()["generator"].clone()
    assert check.fast_batches(good, tx, ty)
    assert torch.equal(good.state_dict()["generator"], before), "the check changed the order"
    assert not check.fast_batches(None, tx, ty)
    assert not check.fast_batches(TensorBatches(x, y, 256, shuffle=True), tx, ty)
    assert said(capsys, "channels_last")
    assert not check.fast_batches(
        TensorBatches(x, y, 256, memory_format=torch.channels_last), tx, ty
    )
    assert said(capsys, "shuffle=True")
    from_test = TensorBatches(tx, ty, 256, shuffle=True, memory_format=torch.channels_last)
    assert not check.fast_batches(from_test, tx, ty)
    assert said(capsys, "the test split")
    twice = TensorBatches(
        (x - MNIST_MEAN) / MNIST_STD, y, 256, shuffle=True, memory_format=torch.channels_last
    )
    assert not check.fast_batches(twice, tx, ty)
    assert said(capsys, "already normalises")
    assert not check.fast_batches(good, x, y)
    assert said(capsys, "train=False")


def run_history(lrs: list[float], accuracy: float = 0.9917) -> History:
    losses = [0.55, 0.1, 0.02][: len(lrs)]
    return History(
        [
            {"epoch": i + 1, "lr": lr, "train_loss": loss, "valid_accuracy": accuracy}
            for i, (lr, loss) in enumerate(zip(lrs, losses))
        ]
    )


def test_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.history(run_history([4e-3, 1e-3, 1e-8]))
    assert not check.history(None)
    no_metrics = History([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.1}])
    assert not check.history(no_metrics, epochs=2)
    assert said(capsys, "multiclass_metrics")
    assert not check.history(run_history([4e-3, 4e-3, 4e-3]))
    assert said(capsys, "scheduler=scheduler")
    assert not check.history(run_history([4e-3, 1e-3]))
    assert said(capsys, "final_epochs=3")
    assert not check.history(run_history([4e-3, 1e-3, 1e-8], accuracy=0.98))
    assert said(capsys, "the bar")


@pytest.fixture
def predictions() -> dict[str, Any]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    x, y = torch.randn(60, 4), torch.randint(0, 3, (60,))
    batches = TensorBatches(x, y, 20)
    logits = eval_predictions(net, x)
    return {"net": net, "batches": batches, "logits": logits, "y": y}


def test_confusion(predictions: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    p = predictions
    matrix = confusion_matrix(p["logits"], p["y"], 3)
    kw = {"net": p["net"], "batches": p["batches"], "n_classes": 3}
    assert check.confusion(matrix, p["logits"], p["y"], **kw)
    assert p["net"].training, "the check must leave the model's mode alone"
    assert check.confusion(matrix, p["logits"].softmax(1), p["y"], **kw)
    assert not check.confusion(None, p["logits"], p["y"], **kw)
    assert not check.confusion(matrix.T, p["logits"], p["y"], **kw)
    assert said(capsys, "transposed")
    assert not check.confusion(matrix[:2], p["logits"], p["y"], **kw)
    assert said(capsys, "3x3")
    with torch.no_grad():
        train_mode = p["net"](torch.cat([x for x, _ in p["batches"]]))
    assert not check.confusion(matrix, train_mode, p["y"], **kw)
    assert said(capsys, "model.eval()")
    assert not check.confusion(matrix, p["logits"].requires_grad_(), p["y"], **kw)
    assert said(capsys, "torch.no_grad()")
    assert not check.confusion(matrix, p["logits"][:40], p["y"], **kw)
    assert said(capsys, "one row per test image")


def test_precision_recall_f1(capsys: pytest.CaptureFixture[str]) -> None:
    matrix = torch.tensor([[50, 2, 0], [5, 40, 3], [0, 0, 30]])
    correct = matrix.diagonal().double()
    precision = correct / matrix.sum(0)
    recall = correct / matrix.sum(1)
    f1 = 2 * precision * recall / (precision + recall)
    assert check.precision_recall_f1(precision, recall, f1, matrix)
    assert check.precision_recall_f1(precision.numpy(), recall.tolist(), f1.float(), matrix)
    assert not check.precision_recall_f1(None, recall, f1, matrix)
    assert not check.precision_recall_f1(recall, precision, f1, matrix)
    assert said(capsys, "swapped")
    assert not check.precision_recall_f1(precision.mean(), recall, f1, matrix)
    assert said(capsys, "single number")
    assert not check.precision_recall_f1(precision, recall, (precision + recall) / 2, matrix)
    assert said(capsys, "`f1`")
    assert not check.precision_recall_f1(precision, correct / matrix.sum(), f1, matrix)
    assert said(capsys, "row (true) sums")


def test_prepare_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.prepare_function(good_prepare)
    assert check.prepare_function(
        lambda a: transforms.Compose([transforms.ToTensor(), NORMALISE])(np.array(a))[None]
    )
    assert not check.prepare_function(stub)
    assert said(capsys, "NotImplementedError")
    assert not check.prepare_function(lambda a: good_prepare(a)[0, 0])
    assert said(capsys, "unsqueeze")
    assert not check.prepare_function(lambda a: good_prepare(a)[0])
    assert said(capsys, "unsqueeze once more")

    def raw(a: Any) -> torch.Tensor:
        return torch.tensor(np.array(a), dtype=torch.float32)[None, None]

    def own_stats(a: Any) -> torch.Tensor:
        x = raw(a) / 255
        return (x - x.mean()) / x.std()

    def from_numpy(a: Any) -> torch.Tensor:
        return ((torch.from_numpy(a).float() / 255 - MNIST_MEAN) / MNIST_STD)[None, None]

    assert not check.prepare_function(lambda a: raw(a) / 255)
    assert said(capsys, "normalise like the training data")
    assert not check.prepare_function(raw)
    assert said(capsys, "divide by 255")
    assert not check.prepare_function(lambda a: good_prepare(a).double())
    assert said(capsys, "float32")
    assert not check.prepare_function(own_stats)
    assert said(capsys, "own mean and std")
    assert not check.prepare_function(lambda a: good_prepare(255 - np.array(a)))
    assert said(capsys, "inverts")
    assert not check.prepare_function(from_numpy)
    assert said(capsys, "PIL image")


def test_probabilities(capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Dropout(0.5))
    x = torch.randn(1, 1, 28, 28)
    with torch.no_grad():
        right = torch.softmax(net.eval()(x), dim=1)
        wrong = torch.softmax(net.train()(x), dim=1)
    assert check.probabilities(right, net=net, prepare=lambda _: x, picture=None)
    assert not check.probabilities(None)
    assert not check.probabilities(right.log() * 5)
    assert not check.probabilities(right[0])
    assert said(capsys, "(1, 10)")
    assert not check.probabilities(right.log())
    assert said(capsys, "log-probabilities")
    assert not check.probabilities(right.clone().requires_grad_())
    assert said(capsys, "torch.no_grad()")
    assert not check.probabilities(wrong, net=net, prepare=lambda _: x, picture=None)
    assert said(capsys, "model.eval()")
