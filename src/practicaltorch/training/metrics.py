"""Metric collections for the three kinds of task the course meets.

All metrics come from `torchmetrics <https://lightning.ai/docs/torchmetrics/>`_:
they accumulate over batches with ``update`` and give the epoch's value with
``compute``, on any device, and reduce correctly across processes.
"""

from __future__ import annotations

from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError

__all__ = [
    "binary_inputs",
    "binary_metrics",
    "confusion_matrix",
    "multiclass_metrics",
    "regression_metrics",
]


def multiclass_metrics(num_classes: int) -> MetricCollection:
    """Accuracy and macro-averaged precision, recall and F1 for class-index targets.

    Parameters
    ----------
    num_classes
        Number of classes; the model outputs one logit per class.

    Returns
    -------
    torchmetrics.MetricCollection
        Keys ``accuracy``, ``precision``, ``recall``, ``f1``. Update it with
        logits of shape ``(N, num_classes)`` and integer targets of shape ``(N,)``.
    """
    return MetricCollection(
        {
            "accuracy": MulticlassAccuracy(num_classes, average="micro"),
            "precision": MulticlassPrecision(num_classes, average="macro"),
            "recall": MulticlassRecall(num_classes, average="macro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        }
    )


def binary_metrics() -> MetricCollection:
    """Accuracy, precision, recall, F1 and ROC-AUC for a two-class problem.

    Returns
    -------
    torchmetrics.MetricCollection
        Keys ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc``.
        Update it with one logit per sample and integer 0/1 targets, both of
        shape ``(N,)``; :func:`binary_inputs` converts the shapes used in
        training.
    """
    return MetricCollection(
        {
            "accuracy": BinaryAccuracy(),
            "precision": BinaryPrecision(),
            "recall": BinaryRecall(),
            "f1": BinaryF1Score(),
            "roc_auc": BinaryAUROC(),
        }
    )


def binary_inputs(outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Turn ``(N, 1)`` logits and float 0/1 targets into what binary metrics expect.

    ``BCEWithLogitsLoss`` wants float targets shaped like the logits; the
    binary metrics want flat logits and integer targets. Pass this function as
    ``metric_transform`` to :func:`practicaltorch.training.fit`.

    Parameters
    ----------
    outputs
        Logits of shape ``(N, 1)`` or ``(N,)``.
    targets
        Targets of the same shape, 0.0 or 1.0.

    Returns
    -------
    tuple of Tensor
        Flat logits and flat ``long`` targets.
    """
    return outputs.reshape(-1), targets.reshape(-1).long()


def regression_metrics() -> MetricCollection:
    """Mean absolute error and root-mean-square error.

    Returns
    -------
    torchmetrics.MetricCollection
        Keys ``mae`` and ``rmse``, averaged over every output and sample.
    """
    return MetricCollection({"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False)})


def confusion_matrix(logits: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Count predictions per (true class, predicted class).

    Parameters
    ----------
    logits
        Model outputs, shape ``(N, num_classes)``, or predicted class indices ``(N,)``.
    targets
        True class indices, shape ``(N,)``.
    num_classes
        Number of classes.

    Returns
    -------
    Tensor
        Integer matrix of shape ``(num_classes, num_classes)``; row ``i``,
        column ``j`` counts samples of class ``i`` predicted as class ``j``.
    """
    metric = MulticlassConfusionMatrix(num_classes).to(logits.device)
    counts: Tensor = metric(logits, targets)
    return counts.cpu()
