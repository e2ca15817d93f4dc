"""Synthetic images of one filled ellipse, drawn deterministically from the index.

Each image shows one axis-aligned, filled ellipse on a plain background. The
ellipse colour and the background colour are each uniform on ``[0, 255]^3``
(integers), so the network cannot rely on contrast or on any particular colour.
The target is ``(row, col, row_radius, col_radius)`` divided by the image size,
so it lies in ``[0, 1]`` whatever the resolution.

Geometry and pixel convention
-----------------------------
Pixel ``(i, j)`` covers the square ``[i, i + 1) x [j, j + 1)``; it belongs to
the ellipse when its centre does::

    ((i + 0.5 - row) / row_radius) ** 2 + ((j + 0.5 - col) / col_radius) ** 2 <= 1

(all in pixels). :func:`practicaltorch.plots.plot_ellipses` relies on this
convention to draw outlines over the images.

Parameter ranges, as fractions of the image size ``S``:

- each radius is uniform on :data:`RADIUS_RANGE` = ``[1/16, 3/8]``
  (8 to 48 pixels at ``S = 128``; at least one pixel for ``S >= 16``);
- each centre coordinate is uniform on ``[radius, 1 - radius]``, so the whole
  ellipse lies inside the image.

Reproducibility
---------------
Item ``i`` of a set with seed ``s`` is a pure function of ``(s, i)``: its ten
random numbers come from a counter-based integer hash of ``(s, i, k)`` (the
SplitMix64 finaliser), not from a global random number generator. The same item
is therefore identical across epochs, processes and ``DataLoader`` workers, and
any slice of a large set can be drawn without drawing what comes before it.
Drawing is vectorised over whole chunks of images with NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["RADIUS_RANGE", "EllipseBatches", "Ellipses", "draw_ellipses", "ellipse_tensors"]

RADIUS_RANGE: tuple[float, float] = (1 / 16, 3 / 8)
"""Range of each radius as a fraction of the image size."""

MIN_SIZE = 16
"""Smallest image size accepted (the smallest radius is then one pixel)."""

_CHUNK = 256
"""Images drawn per call of :func:`draw_ellipses` by :func:`ellipse_tensors`:
enough to amortise NumPy's overhead on the per-image numbers."""

_BLOCK_PIXELS = 16 * 128 * 128
"""Pixels masked and painted together (16 images at 128x128): their float32
working array (1 MB) stays in the CPU cache, which draws about twice as fast
as a whole chunk at once."""

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_DRAWS = 10  # ellipse colour (3), background colour (3), radii (2), centre (2)


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Scramble 64-bit integers with the SplitMix64 finaliser (wrapping arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))  # type: ignore[no-any-return]


def _uniforms(indices: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.float64]:
    """Return ``(n, _DRAWS)`` floats in ``[0, 1)``, a pure function of ``(seed, index, k)``."""
    seed_key = _splitmix(np.array([seed & _MASK64], dtype=np.uint64))
    keys = _splitmix(indices.astype(np.uint64) ^ seed_key)  # one key per item
    counters = np.arange(_DRAWS, dtype=np.uint64) * _GOLDEN
    bits = _splitmix(keys[:, None] + counters[None, :])
    # The top 53 bits give a float64 in [0, 1) with every value equally likely.
    floats: npt.NDArray[np.float64] = (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return floats


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an integer number of pixels, got {size!r}")
    if size < MIN_SIZE:
        raise ValueError(
            f"size must be at least {MIN_SIZE} pixels so the smallest ellipse is visible, "
            f"got {size}"
        )


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be zero or positive, got {seed}")


def draw_ellipses(
    indices: Sequence[int] | npt.ArrayLike,
    size: int = 128,
    seed: int = 0,
    *,
    out: npt.NDArray[np.uint8] | None = None,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Draw the ellipse images with the given indices, all at once.

    This is the vectorised core that :class:`Ellipses` and
    :func:`ellipse_tensors` share. Memory grows with ``len(indices)``; for many
    thousands of images use :func:`ellipse_tensors`, which draws in chunks.

    Parameters
    ----------
    indices
        Item numbers, non-negative integers (any order, repeats allowed).
    size
        Height and width of the square images, in pixels (at least 16).
    seed
        Which set of ellipses; sets with different seeds are independent.
    out
        Optional C-contiguous ``uint8`` array of shape ``(n, 3, size, size)``
        to draw into (saves a copy when filling a larger buffer).

    Returns
    -------
    images : numpy.ndarray
        ``uint8`` array of shape ``(n, 3, size, size)``, channels first.
    targets : numpy.ndarray
        ``float32`` array of shape ``(n, 4)``: ``(row, col, row_radius,
        col_radius)`` divided by ``size``.

    Examples
    --------
    >>> images, targets = draw_ellipses([0, 1, 2], size=32)
    >>> images.shape, images.dtype, targets.shape
    ((3, 3, 32, 32), dtype('uint8'), (3, 4))
    """
    _check_size(size)
    _check_seed(seed)
    index = np.asarray(indices)
    if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
        raise TypeError(f"indices must be a 1-D sequence of integers, got {index!r:.80}")
    index = index.astype(np.int64)
    if index.size and index.min() < 0:
        raise ValueError(f"indices must be non-negative, got {int(index.min())}")
    shape = (len(index), 3, size, size)
    if out is not None and (out.shape != shape or out.dtype != np.uint8):
        raise ValueError(f"out must be a uint8 array of shape {shape}, got {out.dtype} {out.shape}")

    u = _uniforms(index, seed)
    colours = np.minimum(u[:, :6] * 256, 255).astype(np.uint8)  # uniform on 0..255
    low, high = RADIUS_RANGE
    radii = low + (high - low) * u[:, 6:8]
    centres = radii + (1 - 2 * radii) * u[:, 8:10]
    targets = np.concatenate([centres, radii], axis=1).astype(np.float32)

    # Work in pixels from the float32 targets, so the drawing and the targets
    # agree exactly. Float32 arithmetic is element-wise, hence independent of
    # how many images are drawn together.
    pixels = targets * np.float32(size)
    middles = np.arange(size, dtype=np.float32) + np.float32(0.5)
    rows = ((middles[None, :] - pixels[:, 0:1]) / pixels[:, 2:3]) ** 2  # (n, size)
    cols = ((middles[None, :] - pixels[:, 1:2]) / pixels[:, 3:4]) ** 2
    images = np.empty((len(index), 3, size, size), dtype=np.uint8) if out is None else out
    per_block = max(1, _BLOCK_PIXELS // (size * size))
    for first in range(0, len(index), per_block):
        block = slice(first, first + per_block)
        _paint(images[block], rows[block], cols[block], colours[block])
    return images, targets


def _paint(
    images: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.float32],
    cols: npt.NDArray[np.float32],
    colours: npt.NDArray[np.uint8],
) -> None:
    """Fill ``images`` in place: the ellipse colour where ``rows + cols <= 1``, else the ground."""
    inside = rows[:, :, None] + cols[:, None, :] <= 1  # (n, size, size)
    # image = ground + inside * (fill - ground) in wrapping uint8 arithmetic:
    # exact, and several times faster than np.where on four-dimensional arrays.
    mask = inside.view(np.uint8)
    ground = colours[:, 3:6]
    step = colours[:, 0:3] - ground  # wraps modulo 256; undone by the addition
    for channel in range(3):
        np.multiply(mask, step[:, channel, None, None], out=images[:, channel])
        images[:, channel] += ground[:, channel, None, None]


def ellipse_tensors(
    length: int, size: int = 128, seed: int = 0, *, start: int = 0
) -> tuple[Tensor, Tensor]:
    """Draw a whole set of ellipses as two tensors: the fast path.

    Item ``k`` of the result equals item ``start + k`` of
    ``Ellipses(size=size, seed=seed)``, so this is the same data as the
    ``Dataset``, drawn in vectorised chunks rather than one item at a time.

    Parameters
    ----------
    length
        Number of images.
    size
        Height and width in pixels (at least 16).
    seed
        Which set of ellipses.
    start
        Index of the first item; ``start=length * epoch`` gives fresh images
        for every epoch from one seed.

    Returns
    -------
    images : Tensor
        ``uint8`` tensor of shape ``(length, 3, size, size)``.
    targets : Tensor
        ``float32`` tensor of shape ``(length, 4)``, fractions of ``size``.

    Examples
    --------
    >>> images, targets = ellipse_tensors(8, size=32, seed=1)
    >>> tuple(images.shape), tuple(targets.shape)
    ((8, 3, 32, 32), (8, 4))
    """
    _check_count("length", length)
    _check_count("start", start)
    _check_size(size)
    _check_seed(seed)
    images = np.empty((length, 3, size, size), dtype=np.uint8)
    targets = np.empty((length, 4), dtype=np.float32)
    for first in range(0, length, _CHUNK):
        last = min(first + _CHUNK, length)
        _, targets[first:last] = draw_ellipses(
            np.arange(start + first, start + last), size, seed, out=images[first:last]
        )
    return torch.from_numpy(images), torch.from_numpy(targets)


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be zero or positive, got {value}")


class Ellipses(Dataset[tuple[Any, Any]]):
    """A map-style dataset of synthetic ellipse images, torchvision style.

    Items are ``(image, target)``. With no transforms, ``image`` is a
    ``uint8`` tensor of shape ``(3, size, size)`` (channels first, values
    0-255, like :func:`torchvision.io.decode_image`) and ``target`` a
    ``float32`` tensor ``(row, col, row_radius, col_radius) / size``. Nothing
    is stored: each item is drawn on request from ``(seed, index)``, so it is
    the same every time, in every process and every ``DataLoader`` worker.

    Parameters
    ----------
    length
        Number of items.
    size
        Height and width of the images in pixels (at least 16).
    seed
        Which set of ellipses; use different seeds for training and
        validation sets so they share no images.
    transform
        Applied to the ``uint8`` image tensor, for example
        ``torchvision.transforms.v2.ToDtype(torch.float32, scale=True)``.
    target_transform
        Applied to the target tensor.

    Examples
    --------
    >>> data = Ellipses(length=100, size=32, seed=0)
    >>> image, target = data[0]
    >>> image.shape, image.dtype, target.shape
    (torch.Size([3, 32, 32]), torch.uint8, torch.Size([4]))

    See Also
    --------
    ellipse_tensors : the same items as two tensors, drawn in vectorised chunks.
    """

    def __init__(
        self,
        length: int = 10_000,
        size: int = 128,
        seed: int = 0,
        transform: Callable[[Tensor], Any] | None = None,
        target_transform: Callable[[Tensor], Any] | None = None,
    ) -> None:
        _check_count("length", length)
        _check_size(size)
        _check_seed(seed)
        self.length = int(length)
        self.size = int(size)
        self.seed = int(seed)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        """Return the number of items."""
        return self.length

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Draw item ``index`` (negative indices count from the end)."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Ellipses indices must be integers, got {type(index).__name__}")
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} is out of range for {self.length} ellipses")
        index = int(index) % self.length
        images, targets = draw_ellipses([index], self.size, self.seed)
        image: Any = torch.from_numpy(images[0])
        target: Any = torch.from_numpy(targets[0])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def tensors(self) -> tuple[Tensor, Tensor]:
        """Return every item at once as ``(images, targets)`` tensors, untransformed.

        Equivalent to ``ellipse_tensors(len(self), self.size, self.seed)``.
        """
        return ellipse_tensors(self.length, self.size, self.seed)

    def __repr__(self) -> str:
        return f"Ellipses(length={self.length}, size={self.size}, seed={self.seed})"


class EllipseBatches:
    """Training batches of fresh ellipses every epoch, drawn on the fly.

    Epoch ``e`` (counting from 0) holds items ``e * per_epoch`` to
    ``(e + 1) * per_epoch - 1`` of ``Ellipses(size=size, seed=seed)``, drawn
    with :func:`ellipse_tensors` at the start of the epoch and batched in
    order (the items are independent draws, so no shuffling is needed). The
    network never sees the same image twice, yet every run with the same seed
    sees the same images: with over 10,000 images per second from the
    generator, this costs a few percent of a CPU training epoch and no memory
    beyond one epoch's images.

    Parameters
    ----------
    per_epoch
        Images per epoch.
    batch_size
        Images per batch.
    size
        Image height and width in pixels.
    seed
        Which set of ellipses to draw from.

    Examples
    --------
    >>> batches = EllipseBatches(per_epoch=10, batch_size=4, size=32)
    >>> [len(targets) for _, targets in batches]
    [4, 4, 2]
    """

    def __init__(
        self, per_epoch: int, batch_size: int = 64, size: int = 128, seed: int = 0
    ) -> None:
        _check_count("per_epoch", per_epoch)
        _check_count("batch_size", batch_size)
        if per_epoch < 1 or batch_size < 1:
            raise ValueError(
                f"per_epoch and batch_size must be at least 1, got {per_epoch} and {batch_size}"
            )
        _check_size(size)
        _check_seed(seed)
        self.per_epoch = int(per_epoch)
        self.batch_size = int(batch_size)
        self.size = int(size)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        """Return the number of batches in one epoch."""
        return -(-self.per_epoch // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Draw the next epoch's images and yield them in batches."""
        images, targets = ellipse_tensors(
            self.per_epoch, self.size, self.seed, start=self.epoch * self.per_epoch
        )
        self.epoch += 1
        for first in range(0, self.per_epoch, self.batch_size):
            yield images[first : first + self.batch_size], targets[first : first + self.batch_size]

    @property
    def dataset_size(self) -> int:
        """Images per epoch (the equivalent of ``len(loader.dataset)``)."""
        return self.per_epoch

    def state_dict(self) -> dict[str, Any]:
        """Return the epoch counter, so a resumed run draws the images it would have."""
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the epoch counter saved by :meth:`state_dict`."""
        self.epoch = int(state["epoch"])
