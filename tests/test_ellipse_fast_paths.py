"""The fast paths of the ellipse code give exactly what the plain ones give."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from practicaltorch.data.ellipses import draw_ellipses
from practicaltorch.models.coordconv import EllipseCNN, block_means


@pytest.mark.parametrize("pool", [2, 3, 4, 8, 129])
def test_block_means_equal_average_pooling(pool: int) -> None:
    generator = torch.Generator().manual_seed(pool)
    images = torch.randint(
        0, 256, (2, 3, 2 * pool, 3 * pool), dtype=torch.uint8, generator=generator
    )
    assert torch.equal(block_means(images, pool), nn.functional.avg_pool2d(images.float(), pool))


@pytest.mark.parametrize("pool", [11, 12])  # the largest block summed in int16, the smallest not
def test_block_means_of_white_images_do_not_overflow(pool: int) -> None:
    images = torch.full((1, 3, pool, 2 * pool), 255, dtype=torch.uint8)
    assert torch.equal(block_means(images, pool), torch.full((1, 3, 1, 2), 255.0))


def test_ellipse_cnn_prepares_bytes_and_floats_alike() -> None:
    images = torch.from_numpy(draw_ellipses(range(4), size=64, seed=3)[0])
    model = EllipseCNN(size=64, channels=(8, 16))
    floats = images.double().div(255).float()  # the same images in [0, 1]
    assert torch.allclose(model.prepare(images), model.prepare(floats), atol=1e-6)


@pytest.mark.parametrize("size", [16, 128])
def test_drawing_many_at_once_equals_one_by_one(size: int) -> None:
    indices = [0, 15, 16, 17, 31, 32, 40, 1000]  # across the blocks drawn together
    together = draw_ellipses([*range(41), 1000], size=size, seed=6)[0]
    for position, index in zip([0, 15, 16, 17, 31, 32, 40, 41], indices, strict=True):
        alone = draw_ellipses([index], size=size, seed=6)[0][0]
        assert np.array_equal(together[position], alone)
