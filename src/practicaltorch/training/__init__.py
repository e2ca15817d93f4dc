"""Training: the loop, its callbacks, checkpoints and metrics.

``fit`` (in :mod:`~practicaltorch.training.loop`) is a short loop over epochs;
early stopping, checkpoints with resume, the progress bar and printed logs are
callbacks (:mod:`~practicaltorch.training.callbacks`,
:mod:`~practicaltorch.training.checkpoints`).
"""

from typing import TYPE_CHECKING

from practicaltorch._lazy import lazy_getattr
from practicaltorch.training.callbacks import (
    Callback,
    EarlyStopping,
    FitState,
    PrintLog,
    ProgressBar,
    standard_callbacks,
)
from practicaltorch.training.checkpoints import (
    Checkpoint,
    load_checkpoint,
    random_state,
    resume_settings,
    save_checkpoint,
    set_random_state,
)
from practicaltorch.training.history import History
from practicaltorch.training.loop import NonFiniteLossError, evaluate, fit, train_one_epoch

if TYPE_CHECKING:
    from practicaltorch.training.metrics import (
        binary_inputs,
        binary_metrics,
        confusion_matrix,
        multiclass_metrics,
        regression_metrics,
    )

_METRICS = (
    "binary_inputs",
    "binary_metrics",
    "confusion_matrix",
    "multiclass_metrics",
    "regression_metrics",
)
"""Names from :mod:`~practicaltorch.training.metrics`, imported on first use (PEP 562):
torchmetrics takes over a second to import, and training without metrics needs none of it."""

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "FitState",
    "History",
    "NonFiniteLossError",
    "PrintLog",
    "ProgressBar",
    "binary_inputs",
    "binary_metrics",
    "confusion_matrix",
    "evaluate",
    "fit",
    "load_checkpoint",
    "multiclass_metrics",
    "random_state",
    "regression_metrics",
    "resume_settings",
    "save_checkpoint",
    "set_random_state",
    "standard_callbacks",
    "train_one_epoch",
]


__getattr__ = lazy_getattr(__name__, dict.fromkeys(_METRICS, "practicaltorch.training.metrics"))
