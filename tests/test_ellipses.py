"""Synthetic ellipses, the CoordConv CNN, and the ellipse recipe."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from practicaltorch.data.ellipses import (
    RADIUS_RANGE,
    EllipseBatches,
    Ellipses,
    draw_ellipses,
    ellipse_tensors,
)
from practicaltorch.models import ARCHITECTURES, build_model, load_model
from practicaltorch.models.coordconv import (
    EllipseCNN,
    background_difference,
    coordinate_channels,
)
from practicaltorch.recipes import ellipses as recipe
from tests.conftest import assert_shape_refused

# ---------------------------------------------------------------- determinism


def test_same_item_from_two_datasets() -> None:
    a, b = Ellipses(50, size=32, seed=3), Ellipses(50, size=32, seed=3)
    for index in (0, 7, 49, -1):
        image_a, target_a = a[index]
        image_b, target_b = b[index]
        assert torch.equal(image_a, image_b)
        assert torch.equal(target_a, target_b)
    # Reading an item twice (a second epoch) gives it again.
    assert torch.equal(a[7][0], a[7][0])


def test_dataset_matches_fast_path_and_offsets() -> None:
    data = Ellipses(40, size=32, seed=5)
    images, targets = ellipse_tensors(40, size=32, seed=5)
    for index in range(40):
        image, target = data[index]
        assert torch.equal(image, images[index])
        assert torch.equal(target, targets[index])
    # A slice drawn on its own equals the same slice of the whole set.
    tail_images, tail_targets = ellipse_tensors(15, size=32, seed=5, start=25)
    assert torch.equal(tail_images, images[25:])
    assert torch.equal(tail_targets, targets[25:])
    whole_images, whole_targets = data.tensors()
    assert torch.equal(whole_images, images) and torch.equal(whole_targets, targets)


def test_dataloader_workers_see_the_fast_path_items() -> None:
    data = Ellipses(24, size=32, seed=2)
    loader = DataLoader(data, batch_size=5, num_workers=2, shuffle=False)
    images = torch.cat([x for x, _ in loader])
    targets = torch.cat([y for _, y in loader])
    fast_images, fast_targets = ellipse_tensors(24, size=32, seed=2)
    assert torch.equal(images, fast_images)
    assert torch.equal(targets, fast_targets)


def test_seeds_and_indices_give_different_images() -> None:
    _, targets0 = ellipse_tensors(100, size=32, seed=0)
    _, targets1 = ellipse_tensors(100, size=32, seed=1)
    assert not torch.equal(targets0, targets1)
    assert len(torch.unique(targets0, dim=0)) == 100


def test_generation_ignores_the_global_rng() -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    first = ellipse_tensors(10, size=32, seed=9)
    torch.manual_seed(1)
    np.random.seed(1)
    np.random.random(100)
    second = ellipse_tensors(10, size=32, seed=9)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_chunking_does_not_change_items() -> None:
    # 300 images span two internal chunks; drawing them one by one must agree.
    images, targets = ellipse_tensors(300, size=16, seed=4)
    for index in (0, 255, 256, 299):
        one_image, one_target = draw_ellipses([index], size=16, seed=4)
        assert np.array_equal(one_image[0], images[index].numpy())
        assert np.array_equal(one_target[0], targets[index].numpy())


# ---------------------------------------------------------------- values


def test_shapes_dtypes_and_ranges() -> None:
    images, targets = ellipse_tensors(500, size=64, seed=0)
    assert images.shape == (500, 3, 64, 64) and images.dtype == torch.uint8
    assert targets.shape == (500, 4) and targets.dtype == torch.float32
    low, high = RADIUS_RANGE
    radii, centres = targets[:, 2:], targets[:, :2]
    assert radii.min() >= low - 1e-6 and radii.max() <= high + 1e-6
    # The whole ellipse lies inside the image.
    assert (centres - radii).min() >= -1e-6
    assert (centres + radii).max() <= 1 + 1e-6
    # Colours cover the byte range.
    assert int(images.min()) <= 5 and int(images.max()) >= 250


def test_every_image_has_two_colours() -> None:
    images, _ = ellipse_tensors(50, size=32, seed=1)
    for image in images:
        colours = torch.unique(image.reshape(3, -1), dim=1)
        assert colours.shape[1] <= 2


def test_pixel_convention_matches_targets() -> None:
    size = 64
    images, targets = ellipse_tensors(60, size=size, seed=7)
    middles = np.arange(size) + 0.5
    checked = 0
    for image, target in zip(images.numpy(), targets.numpy().astype(np.float64), strict=True):
        row, col, r_row, r_col = target * size
        # The ellipse is the set of pixels that differ from the corner (background) colour.
        mask = (image != image[:, :1, :1]).any(axis=0)
        if not mask.any():  # ellipse and background drew the same colour
            continue
        checked += 1
        value = ((middles[:, None] - row) / r_row) ** 2 + ((middles[None, :] - col) / r_col) ** 2
        expected = value <= 1
        disagree = mask != expected
        # Only pixels whose centre lies on the boundary (to rounding) may disagree.
        assert np.all(np.abs(value[disagree] - 1) < 1e-4)
        rows, cols = np.nonzero(mask)
        assert abs((rows + 0.5).mean() - row) < 0.25
        assert abs((cols + 0.5).mean() - col) < 0.25
        # Extent: every inside pixel centre lies within the radii of the centre.
        assert row - r_row - 1e-4 <= rows.min() + 0.5 and rows.max() + 0.5 <= row + r_row + 1e-4
        assert col - r_col - 1e-4 <= cols.min() + 0.5 and cols.max() + 0.5 <= col + r_col + 1e-4
    assert checked >= 55


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 8}, ValueError, "at least 16"),
        ({"size": 64.0}, TypeError, "integer"),
        ({"length": -1}, ValueError, "length"),
        ({"seed": -3}, ValueError, "seed"),
        ({"seed": "zero"}, TypeError, "seed"),
    ],
)
def test_dataset_argument_errors(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Ellipses(**kwargs)  # type: ignore[arg-type]


def test_index_errors() -> None:
    data = Ellipses(5, size=16)
    with pytest.raises(IndexError, match="out of range"):
        data[5]
    with pytest.raises(TypeError, match="integers"):
        data[1.5]  # type: ignore[index]
    with pytest.raises(ValueError, match="non-negative"):
        draw_ellipses([-1], size=16)
    with pytest.raises(TypeError, match="1-D"):
        draw_ellipses([[0, 1]], size=16)
    with pytest.raises(ValueError, match="start"):
        ellipse_tensors(4, size=16, start=-2)
    with pytest.raises(ValueError, match="per_epoch"):
        EllipseBatches(0)


def test_transforms_are_applied() -> None:
    data = Ellipses(
        3, size=16, transform=lambda x: x.float() / 255, target_transform=lambda t: t * 16
    )
    image, target = data[0]
    raw_image, raw_target = Ellipses(3, size=16)[0]
    assert image.dtype == torch.float32 and torch.allclose(image * 255, raw_image.float())
    assert torch.allclose(target, raw_target * 16)


def test_fresh_batches_per_epoch() -> None:
    batches = EllipseBatches(per_epoch=10, batch_size=4, size=16, seed=1)
    assert len(batches) == 3 and batches.dataset_size == 10
    first = torch.cat([y for _, y in batches])
    second = torch.cat([y for _, y in batches])
    assert not torch.equal(first, second)
    _, expected = ellipse_tensors(20, size=16, seed=1)
    assert torch.equal(torch.cat([first, second]), expected)
    # Resuming from a saved state draws the epoch that would have come next.
    resumed = EllipseBatches(per_epoch=10, batch_size=4, size=16, seed=1)
    resumed.load_state_dict({"epoch": 1})
    assert torch.equal(torch.cat([y for _, y in resumed]), second)
    assert batches.state_dict() == {"epoch": 2}


# ---------------------------------------------------------------- model


def test_ellipse_cnn_shapes_and_input_types() -> None:
    model = EllipseCNN(size=32, channels=(8, 16), hidden=16, pool=2).eval()
    images, _ = ellipse_tensors(3, size=32)
    out_uint8 = model(images)
    out_float = model(images.float() / 255)
    assert out_uint8.shape == (3, 4)
    assert torch.allclose(out_uint8, out_float, atol=1e-5)
    assert model.prepare(images).shape == (3, 9, 16, 16)


def test_ellipse_cnn_rebuilds_from_config() -> None:
    assert ARCHITECTURES["EllipseCNN"] is EllipseCNN
    model = EllipseCNN(size=32, channels=(8, 16), convs_per_stage=2, hidden=16).eval()
    rebuilt = build_model("EllipseCNN", json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(model(x), rebuilt(x))


def test_ellipse_cnn_scripts_for_export() -> None:
    # TorchScript (used for Fortran coupling through FTorch) must compile the
    # preprocessing too, so the exported model takes plain images.
    model = EllipseCNN(size=32, channels=(8, 16), hidden=16, pool=2).eval()
    images, _ = ellipse_tensors(2, size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        scripted = torch.jit.script(model)
    assert torch.allclose(scripted(images), model(images), atol=1e-6)


def test_ellipse_cnn_argument_errors() -> None:
    with pytest.raises(ValueError, match="divisible"):
        EllipseCNN(size=100, channels=(8, 16, 32), pool=4)
    with pytest.raises(ValueError, match="RGB"):
        EllipseCNN(size=32, channels=(8,))(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="channels"):
        EllipseCNN(size=32, channels=())


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((2, 3, 64, 64), r"built for 32x32 images, got 64x64"),
        ((2, 3, 32, 16), r"built for 32x32 images, got 32x16"),
        ((3, 32, 32), r"shape \(N, 3, 32, 32\), got \[3, 32, 32\]"),
        ((2, 1, 32, 32), r"RGB batches of shape \(N, 3, 32, 32\)"),
    ],
)
def test_ellipse_cnn_names_the_expected_image_size(shape: tuple[int, ...], match: str) -> None:
    model = EllipseCNN(size=32, channels=(8, 16), hidden=16, pool=2).eval()
    assert_shape_refused(model, shape, match)


def test_background_difference_and_coordinates() -> None:
    images = torch.full((1, 3, 16, 16), 0.25)
    images[:, :, 4:9, 0:6] = 0.75  # an object touching the left border
    difference = background_difference(images)
    assert torch.allclose(difference[0, :, 0, 0], torch.zeros(3))
    assert torch.allclose(difference[0, :, 5, 2], torch.full((3,), 0.5))
    grid = coordinate_channels(images)
    assert grid.shape == (1, 2, 16, 16)
    assert grid[0, 0, 0, 0] == pytest.approx(-15 / 16)
    assert grid[0, 1, 0, -1] == pytest.approx(15 / 16)


# ---------------------------------------------------------------- recipe


def test_quick_recipe_writes_files_and_beats_the_sanity_bar(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    report = recipe.run(recipe.Config(quick=True, seed=0), tmp_path, progress=False)
    assert report.bar == recipe.QUICK_BAR
    assert report.passed, report.summary()
    assert report.metrics["mae_px"] < 0.5 * report.metrics["baseline_mae_px"]
    assert report.seconds == report.history[-1]["seconds"]
    assert report.epochs == recipe.QUICK_EPOCHS
    for name in ("predictions.png", "model.pt", "metrics.json", "curves.png"):
        assert name in report.files
        assert (tmp_path / name).is_file()
    model, info = load_model(tmp_path)
    assert info["architecture"] == "EllipseCNN"
    images, _ = ellipse_tensors(2, size=128, seed=1)
    assert model(images).shape == (2, 4)


def test_recipe_is_reproducible() -> None:
    torch.set_num_threads(1)
    config = recipe.Config(quick=True, seed=1, epochs=1, size=64)
    first = recipe.run(config, progress=False)
    second = recipe.run(config, progress=False)
    assert first.metrics == second.metrics


def test_default_bar() -> None:
    assert recipe.BAR.passed(0.99) and not recipe.BAR.passed(1.0)
    assert recipe.BAR.metric == "mae_px" and recipe.BAR.unit == "px"


@pytest.mark.slow
def test_default_recipe_reaches_the_bar() -> None:
    torch.set_num_threads(1)
    report = recipe.run(recipe.Config(seed=0, device="cpu"), progress=False)
    assert report.bar == recipe.BAR
    assert report.passed, report.summary()
    assert report.epochs == recipe.DEFAULT_EPOCHS
