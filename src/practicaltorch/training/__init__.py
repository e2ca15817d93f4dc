"""Training: the loop, metrics, early stopping and checkpoints."""

from practicaltorch.training.callbacks import EarlyStopping, load_checkpoint, save_checkpoint
from practicaltorch.training.loop import History, NonFiniteLossError, evaluate, fit, train_one_epoch
from practicaltorch.training.metrics import (
    binary_inputs,
    binary_metrics,
    confusion_matrix,
    multiclass_metrics,
    regression_metrics,
)

__all__ = [
    "EarlyStopping",
    "History",
    "NonFiniteLossError",
    "binary_inputs",
    "binary_metrics",
    "confusion_matrix",
    "evaluate",
    "fit",
    "load_checkpoint",
    "multiclass_metrics",
    "regression_metrics",
    "save_checkpoint",
    "train_one_epoch",
]
