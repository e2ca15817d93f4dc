"""Datasets for the course, with torchvision-style signatures, and fast batching.

- :class:`Penguins` (tabular, classification or regression),
- :class:`BreastCancer` (tabular, binary classification),
- :class:`MNIST` and :func:`load_mnist_tensors` (handwritten digits),
- :class:`Ellipses` and :func:`ellipse_tensors` (synthetic images, regression),
- :class:`TensorBatches`: batches from in-memory tensors, the fast path.
"""

from typing import TYPE_CHECKING

from practicaltorch._lazy import lazy_getattr
from practicaltorch.data.batches import TensorBatches
from practicaltorch.data.cancer import BreastCancer
from practicaltorch.data.ellipses import EllipseBatches, Ellipses, ellipse_tensors
from practicaltorch.data.errors import CorruptDataError, DataNotFoundError, DownloadError
from practicaltorch.data.mnist import MNIST, download_mnist, load_mnist_tensors, verify_mnist

if TYPE_CHECKING:
    from practicaltorch.data.penguins import Penguins

# Penguins needs pandas, slow to import and unused by the image lessons: load it on first use.
__getattr__ = lazy_getattr(__name__, {"Penguins": "practicaltorch.data.penguins"})

__all__ = [
    "MNIST",
    "BreastCancer",
    "CorruptDataError",
    "DataNotFoundError",
    "DownloadError",
    "EllipseBatches",
    "Ellipses",
    "Penguins",
    "TensorBatches",
    "download_mnist",
    "ellipse_tensors",
    "load_mnist_tensors",
    "verify_mnist",
]
