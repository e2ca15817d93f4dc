"""MNIST handwritten digits: the torchvision dataset, checked, plus a fast in-memory path.

Two ways to the same data:

- :class:`MNIST` is ``torchvision.datasets.MNIST`` with a default ``root`` (the
  practicaltorch data directory), friendly errors, and a cheap check of the raw
  files on every load. Use it with ``transforms`` and a ``DataLoader``: the
  idiom every PyTorch tutorial teaches.
- :func:`load_mnist_tensors` reads a whole split into two tensors at once,
  already normalised, for :class:`~practicaltorch.data.TensorBatches`. On a
  small CPU this is the fast path (see ``benchmarks/bench_mnist.py``).

The raw files live where torchvision keeps them, ``ROOT/MNIST/raw/*-ubyte``,
so a folder prepared by either library serves both.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import torch
from torch import Tensor
from torchvision import datasets

from practicaltorch.data.download import GzipResource, download_gzipped
from practicaltorch.data.errors import CorruptDataError, DataNotFoundError, DownloadError
from practicaltorch.paths import DATA_ENV_VAR, resolve_root
from practicaltorch.runs import describe_os_error

__all__ = [
    "MIRROR_ENV_VAR",
    "MNIST",
    "MNIST_CLASSES",
    "MNIST_FETCH_COMMAND",
    "MNIST_FILES",
    "MNIST_MEAN",
    "MNIST_STD",
    "download_mnist",
    "load_mnist_tensors",
    "mnist_mirrors",
    "mnist_raw_dir",
    "verify_mnist",
]

MNIST_MEAN = 0.1307
"""Mean pixel value of the MNIST training images, scaled to [0, 1]."""
MNIST_STD = 0.3081
"""Standard deviation of the MNIST training pixels, scaled to [0, 1]."""
MNIST_CLASSES = [str(digit) for digit in range(10)]
"""Class names, in label order."""
MNIST_FETCH_COMMAND = "practicaltorch fetch"
"""The shell command that downloads MNIST, quoted in error messages."""
MIRROR_ENV_VAR = "PRACTICALTORCH_MNIST_MIRROR"
"""Environment variable naming a base URL that holds the four MNIST ``.gz`` files."""

_IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


@dataclass(frozen=True)
class _RawFile:
    """What one raw IDX file must look like."""

    name: str
    magic: int
    shape: tuple[int, ...]
    md5: str

    @property
    def header_bytes(self) -> int:
        return 4 * (1 + len(self.shape))

    @property
    def size(self) -> int:
        return self.header_bytes + int(np.prod(self.shape))

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        return f"an IDX file with magic number {self.magic}, shape {dims}, {self.size} bytes"


_RAW = {
    (True, "images"): _RawFile(
        "train-images-idx3-ubyte", _IMAGE_MAGIC, (60000, 28, 28), "6bbc9ace898e44ae57da46a324031adb"
    ),
    (True, "labels"): _RawFile(
        "train-labels-idx1-ubyte", _LABEL_MAGIC, (60000,), "a25bea736e30d166cdddb491f175f624"
    ),
    (False, "images"): _RawFile(
        "t10k-images-idx3-ubyte", _IMAGE_MAGIC, (10000, 28, 28), "2646ac647ad5339dbf082846283269ea"
    ),
    (False, "labels"): _RawFile(
        "t10k-labels-idx1-ubyte", _LABEL_MAGIC, (10000,), "27ae3e4e09519cfbb04c329615203637"
    ),
}

MNIST_FILES: dict[str, tuple[int, str]] = {f.name: (f.size, f.md5) for f in _RAW.values()}
"""The four raw files: name -> (size in bytes, md5 checksum)."""


def mnist_raw_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder that holds (or will hold) the raw MNIST files.

    Parameters
    ----------
    root
        The data directory; ``None`` for the practicaltorch default (the
        ``PRACTICALTORCH_DATA`` variable, else a per-user cache directory).

    Returns
    -------
    pathlib.Path
        ``root/MNIST/raw``, torchvision's layout.
    """
    return resolve_root(root) / "MNIST" / "raw"


def _where(root: str | os.PathLike[str] | None) -> str:
    """Say where the data directory came from, for error messages."""
    if root is not None:
        return "the root you passed"
    if os.environ.get(DATA_ENV_VAR, "").strip():
        return f"from ${DATA_ENV_VAR}"
    return f"the default data directory; ${DATA_ENV_VAR} is not set"


def _not_found(raw_dir: Path, missing: list[str], root: str | os.PathLike[str] | None) -> str:
    return (
        f"MNIST was not found in {raw_dir} ({_where(root)}); missing: {', '.join(missing)}. "
        f"Download it once with `{MNIST_FETCH_COMMAND}` (or pass download=True), or set the "
        f"{DATA_ENV_VAR} environment variable to a folder that already holds MNIST/raw/."
    )


def _check_file(path: Path, spec: _RawFile) -> None:
    """Check a raw file's size and IDX header cheaply; raise CorruptDataError if wrong."""
    fix = (
        f"Run `{MNIST_FETCH_COMMAND}` (or pass download=True) to download it again; the "
        "damaged file is replaced once the new one has been verified. Or copy an intact file there."
    )
    size = path.stat().st_size
    if size != spec.size:
        state = "truncated" if size < spec.size else "too long"
        raise CorruptDataError(
            f"{path} is damaged ({state}): expected {spec.describe()}, but it has {size} bytes. "
            + fix
        )
    with path.open("rb") as handle:
        header = handle.read(spec.header_bytes)
    values = tuple(int(v) for v in np.frombuffer(header, dtype=">u4"))
    if values[0] != spec.magic or values[1:] != spec.shape:
        found = "x".join(str(v) for v in values[1:])
        raise CorruptDataError(
            f"{path} is not the expected MNIST file: expected {spec.describe()}, but its header "
            f"says magic number {values[0]}, shape {found}. " + fix
        )


def _check_split(
    raw_dir: Path, train: bool, root: str | os.PathLike[str] | None
) -> tuple[Path, Path]:
    """Check one split's two files exist and look right; return their paths."""
    specs = [_RAW[train, "images"], _RAW[train, "labels"]]
    missing = [s.name for s in specs if not (raw_dir / s.name).is_file()]
    if missing:
        raise DataNotFoundError(_not_found(raw_dir, missing, root))
    for spec in specs:
        _check_file(raw_dir / spec.name, spec)
    return raw_dir / specs[0].name, raw_dir / specs[1].name


def _read_split(
    raw_dir: Path, train: bool, root: str | os.PathLike[str] | None = None
) -> tuple[Tensor, Tensor]:
    """Read a checked split as uint8 images ``(N, 28, 28)`` and int64 labels ``(N,)``."""
    images_path, labels_path = _check_split(raw_dir, train, root)
    images_spec, labels_spec = _RAW[train, "images"], _RAW[train, "labels"]
    images = np.fromfile(images_path, dtype=np.uint8, offset=images_spec.header_bytes)
    labels = np.fromfile(labels_path, dtype=np.uint8, offset=labels_spec.header_bytes)
    if labels.max(initial=0) > 9:
        raise CorruptDataError(
            f"{labels_path} holds label {int(labels.max())}, but MNIST labels are 0-9. "
            f"Run `{MNIST_FETCH_COMMAND}` to download it again."
        )
    return (
        torch.from_numpy(images.reshape(images_spec.shape)),
        torch.from_numpy(labels.astype(np.int64)),
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_mnist(root: str | os.PathLike[str] | None = None) -> Path:
    """Check all four raw MNIST files thoroughly, including their md5 checksums.

    Parameters
    ----------
    root
        The data directory; ``None`` for the practicaltorch default.

    Returns
    -------
    pathlib.Path
        The folder holding the verified files.

    Raises
    ------
    DataNotFoundError
        If any file is missing.
    CorruptDataError
        If any file has the wrong size, header or checksum.
    """
    raw_dir = mnist_raw_dir(root)
    missing = [name for name in MNIST_FILES if not (raw_dir / name).is_file()]
    if missing:
        raise DataNotFoundError(_not_found(raw_dir, missing, root))
    for spec in _RAW.values():
        path = raw_dir / spec.name
        _check_file(path, spec)
        digest = _md5(path)
        if digest != spec.md5:
            raise CorruptDataError(
                f"{path} has the right size but the wrong contents: md5 {digest}, expected "
                f"{spec.md5}. Run `{MNIST_FETCH_COMMAND}` to download it again."
            )
    return raw_dir


def mnist_mirrors() -> list[str]:
    """Return the base URLs MNIST is downloaded from, in the order they are tried.

    Returns
    -------
    list of str
        ``[$PRACTICALTORCH_MNIST_MIRROR]`` if that variable is set, else
        torchvision's own mirrors.

    Raises
    ------
    ValueError
        If the variable is set but is not an ``http://`` or ``https://`` URL.
    """
    custom = os.environ.get(MIRROR_ENV_VAR, "").strip()
    if not custom:
        return list(datasets.MNIST.mirrors)
    if urlsplit(custom).scheme not in ("http", "https") or not urlsplit(custom).netloc:
        raise ValueError(
            f"{MIRROR_ENV_VAR}={custom!r} is not an http:// or https:// URL: give the address "
            "of a web folder holding the four MNIST .gz files, for example "
            "http://192.168.1.10:8000/mnist/, or unset it to use torchvision's mirrors "
            f"(for files on a disk, set {DATA_ENV_VAR} instead)"
        )
    return [custom.rstrip("/") + "/"]


def _resources() -> list[GzipResource]:
    """Return the four files as download resources, with torchvision's .gz checksums."""
    archive_md5 = dict(datasets.MNIST.resources)
    return [
        GzipResource(spec.name, spec.md5, spec.size, archive_md5.get(f"{spec.name}.gz"))
        for spec in _RAW.values()
    ]


def _offline_advice(raw_dir: Path, mirror: str | None) -> str:
    check = (
        f"Check that {mirror} (from ${MIRROR_ENV_VAR}) is reachable and holds the four .gz files"
        if mirror
        else "Check the internet connection (and any proxy)"
    )
    return (
        f"{check} and run `{MNIST_FETCH_COMMAND}` again. "
        f"Offline, copy the four files {', '.join(MNIST_FILES)} from a machine that has them "
        f"into {raw_dir}, or set {DATA_ENV_VAR} to a folder that holds MNIST/raw/, or set "
        f"{MIRROR_ENV_VAR} to the URL of a folder holding the four .gz files."
    )


def download_mnist(root: str | os.PathLike[str] | None = None) -> Path:
    """Download MNIST into the data directory, unless it is already there and intact.

    Uses torchvision's download code (:mod:`torchvision.datasets.utils`, with
    its progress bar) and torchvision's mirrors, or the folder named by
    ``$PRACTICALTORCH_MNIST_MIRROR``. Only missing or damaged files are fetched.
    Each goes to a temporary file beside its final place, is decompressed and
    checked against its md5 checksum, and only then replaces the old file: an
    intact file is never deleted, and a failed download leaves no partial file.
    Each network call times out after :func:`~practicaltorch.data.download.download_timeout`
    seconds (60 unless ``$PRACTICALTORCH_DOWNLOAD_TIMEOUT`` says otherwise). ``root`` is
    the data directory (``None`` for the practicaltorch default); the folder holding the
    four verified raw files, ``root/MNIST/raw``, is returned.

    Raises
    ------
    DownloadError
        If the files could not be downloaded intact or written; the message
        says what to do next.
    ValueError
        If ``$PRACTICALTORCH_MNIST_MIRROR`` or ``$PRACTICALTORCH_DOWNLOAD_TIMEOUT``
        is set to something unusable.
    """
    root_dir = resolve_root(root)
    raw_dir = mnist_raw_dir(root_dir)
    mirrors = mnist_mirrors()
    custom = mirrors[0] if os.environ.get(MIRROR_ENV_VAR, "").strip() else None
    try:
        # A mirror of our own may have compressed the files itself: then only
        # the decompressed files' checksums can be known in advance.
        download_gzipped(_resources(), raw_dir, mirrors, verify_archives=custom is None)
    except DownloadError as error:
        advice = _offline_advice(raw_dir, custom)
        raise DownloadError(f"could not download MNIST into {raw_dir}: {error}. {advice}") from None
    except OSError as error:
        raise DownloadError(
            f"cannot write MNIST into {raw_dir}: {describe_os_error(error)}. Set {DATA_ENV_VAR} "
            f"to a folder you can write to and run `{MNIST_FETCH_COMMAND}` again."
        ) from None
    return raw_dir  # every file now matches its md5: checked as found, or after download


class MNIST(datasets.MNIST):  # type: ignore[misc]
    """The MNIST digits, as ``torchvision.datasets.MNIST`` with practicaltorch defaults.

    Items are ``(image, label)`` pairs exactly as torchvision gives them: a
    PIL image (or whatever ``transform`` makes of it) and an ``int``.

    Parameters
    ----------
    root
        The data directory holding ``MNIST/raw``; ``None`` for the practicaltorch
        default (the ``PRACTICALTORCH_DATA`` variable, else a per-user cache).
    train
        The 60,000 training images if ``True``, else the 10,000 test images.
    transform
        Applied to each PIL image, for example
        ``transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,),
        (MNIST_STD,))])``.
    target_transform
        Applied to each label.
    download
        Download the files first if they are missing or damaged (see
        :func:`download_mnist`); files already there and intact are kept.

    Raises
    ------
    DataNotFoundError
        If the files are not there and ``download`` is ``False``.
    CorruptDataError
        If a file is truncated or not an MNIST file.
    DownloadError
        If ``download`` is ``True`` and the download fails.

    Examples
    --------
    >>> from torchvision import transforms
    >>> data = MNIST(train=False, transform=transforms.ToTensor())  # doctest: +SKIP
    >>> image, label = data[0]  # doctest: +SKIP
    >>> image.shape, label  # doctest: +SKIP
    (torch.Size([1, 28, 28]), 7)
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        download: bool = False,
    ) -> None:
        root_dir = resolve_root(root)
        if download:
            download_mnist(root_dir)
        # Checked here, before torchvision, so a missing or damaged file gets a clear message.
        _check_split(mnist_raw_dir(root_dir), train, root)
        super().__init__(
            str(root_dir),
            train=train,
            transform=transform,
            target_transform=target_transform,
            download=False,
        )

    def download(self) -> None:
        """Download the raw files if needed and verify their checksums."""
        download_mnist(self.root)

    def _check_exists(self) -> bool:
        # torchvision wants all four files; one split needs only its own two.
        split = (_RAW[self.train, "images"], _RAW[self.train, "labels"])
        return all((Path(self.raw_folder) / spec.name).is_file() for spec in split)

    def _load_data(self) -> tuple[Tensor, Tensor]:
        # torchvision's reader, replaced by a checked one that reads with numpy.
        return _read_split(Path(self.raw_folder), self.train, self.root)


def load_mnist_tensors(
    root: str | os.PathLike[str] | None = None,
    train: bool = True,
    device: torch.device | str | None = None,
    download: bool = False,
) -> tuple[Tensor, Tensor]:
    """Load a whole MNIST split as two tensors, normalised once.

    Parameters
    ----------
    root
        The data directory holding ``MNIST/raw``; ``None`` for the practicaltorch default.
    train
        The 60,000 training images if ``True``, else the 10,000 test images.
    device
        Where to put the tensors; ``None`` leaves them on the CPU.
    download
        Download the files first if they are missing or damaged (see
        :func:`download_mnist`).

    Returns
    -------
    images : Tensor
        ``float32`` of shape ``(N, 1, 28, 28)``: pixels scaled to [0, 1], minus
        :data:`MNIST_MEAN`, divided by :data:`MNIST_STD`.
    labels : Tensor
        ``int64`` of shape ``(N,)``, the digits 0-9.

    Raises
    ------
    DataNotFoundError, CorruptDataError, DownloadError
        As :class:`MNIST` does: the files are missing (the message says how to fetch
        them), damaged, or could not be downloaded.

    Examples
    --------
    >>> images, labels = load_mnist_tensors(train=False)  # doctest: +SKIP
    >>> images.shape, labels.shape  # doctest: +SKIP
    (torch.Size([10000, 1, 28, 28]), torch.Size([10000]))
    """
    if download:
        download_mnist(root)
    images, labels = _read_split(mnist_raw_dir(root), train, root)
    scaled = images.unsqueeze(1).to(torch.float32)
    scaled.mul_(1.0 / (255.0 * MNIST_STD)).sub_(MNIST_MEAN / MNIST_STD)
    if device is not None:
        scaled, labels = scaled.to(device), labels.to(device)
    return scaled, labels
