"""practicaltorch: practical machine learning with PyTorch, as a course and a library.

The names below are imported on first use (PEP 562), so ``import practicaltorch``
and ``practicaltorch --help`` answer at once without loading PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'practicaltorch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names, including those not imported yet."""
    return sorted(set(globals()) | set(__all__))
