"""practicaltorch: practical machine learning with PyTorch, as a course and a library.

The names below are imported on first use (PEP 562), so ``import practicaltorch``
and ``practicaltorch --help`` answer at once without loading PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from practicaltorch._lazy import lazy_getattr

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "TensorBatches": "practicaltorch.data",
    "configure_threads": "practicaltorch.devices",
    "pick_device": "practicaltorch.devices",
    "seed_everything": "practicaltorch.devices",
    "MLP": "practicaltorch.models",
    "EarlyStopping": "practicaltorch.training",
    "History": "practicaltorch.training",
    "evaluate": "practicaltorch.training",
    "fit": "practicaltorch.training",
    "train_one_epoch": "practicaltorch.training",
}
"""Public names and the modules that define them."""

__all__ = [
    "MLP",
    "EarlyStopping",
    "History",
    "TensorBatches",
    "__version__",
    "configure_threads",
    "evaluate",
    "fit",
    "pick_device",
    "seed_everything",
    "train_one_epoch",
]

if TYPE_CHECKING:
    from practicaltorch.data import TensorBatches
    from practicaltorch.devices import configure_threads, pick_device, seed_everything
    from practicaltorch.models import MLP
    from practicaltorch.training import EarlyStopping, History, evaluate, fit, train_one_epoch


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    """List the public names, including those not imported yet."""
    return sorted(set(globals()) | set(__all__))
