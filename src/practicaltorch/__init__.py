"""practicaltorch: practical machine learning with PyTorch, as a course and a library."""

from practicaltorch.data import TensorBatches
from practicaltorch.devices import configure_threads, pick_device, seed_everything
from practicaltorch.models import MLP
from practicaltorch.training import EarlyStopping, History, evaluate, fit, train_one_epoch

__version__ = "0.1.0"

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
