"""The MNIST recipe's network and settings (the data files are tested in test_mnist.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from practicaltorch.models import DigitCNN
from practicaltorch.recipes import mnist as recipe
from tests.conftest import assert_shape_refused


@pytest.mark.parametrize(
    ("shape", "given"),
    [
        ((4, 1, 32, 32), r"\[4, 1, 32, 32\]"),
        ((4, 1, 28, 27), r"\[4, 1, 28, 27\]"),
        ((1, 28, 28), r"\[1, 28, 28\]"),
        ((4, 3, 28, 28), r"\[4, 3, 28, 28\]"),
    ],
)
def test_digit_cnn_names_the_expected_image_size(shape: tuple[int, ...], given: str) -> None:
    model = DigitCNN().eval()
    match = r"shape \(N, 1, 28, 28\), got " + given
    assert_shape_refused(model, shape, match)


def test_digit_cnn_checks_the_size_it_was_built_for() -> None:
    model = DigitCNN(in_channels=3, image_size=32).eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        model(torch.zeros(2, 3, 28, 28))


def test_fast_and_best_settings_build_the_networks_they_describe() -> None:
    fast = DigitCNN(**recipe.model_config(recipe.Config()))
    best = DigitCNN(**recipe.model_config(recipe.Config(best=True)))
    assert fast.config["first_stride"] == 2 and fast.config["channels"] == [8, 16, 32]
    assert best.config["first_stride"] == 1 and best.config["dropout"] > 0
    first = fast.features[0]
    assert isinstance(first, torch.nn.Conv2d) and first.stride == (2, 2)
    assert not any(isinstance(layer, torch.nn.MaxPool2d) for layer in fast.features[:3])


@pytest.mark.slow
def test_best_setting_reaches_its_higher_bar(mnist_root: Path) -> None:
    torch.set_num_threads(1)
    report = recipe.run(recipe.Config(seed=0, root=str(mnist_root), best=True), progress=False)
    assert report.metrics["accuracy"] >= 0.993, report.summary()
