"""The Wisconsin breast cancer data: 569 tumours, 30 features, benign or malignant.

scikit-learn bundles a copy (Street, Wolberg & Mangasarian, 1993), so nothing is
downloaded. Here the positive class (target 1) is *malignant*: the finding that
matters.
"""

from __future__ import annotations

import numpy as np
import torch

from practicaltorch.data.tabular import TabularDataset, Transform

__all__ = ["CLASSES", "BreastCancer"]

CLASSES = ("benign", "malignant")
"""Class names in index order."""


class BreastCancer(TabularDataset):
    """Breast tumour measurements with a binary target, split and scaled.

    Parameters
    ----------
    train
        The training split, or the held-out validation split.
    transform, target_transform
        Applied to each item's features and target.
    split_seed
        Seed of the stratified split (same seed, same split).
    valid_fraction
        Share of the tumours held out for validation (stratified by class).
    standardise
        Scale each feature to zero mean and unit variance using the training
        split's statistics (:attr:`mean`, :attr:`std`).

    Attributes
    ----------
    feature_names
        The 30 feature names.
    classes
        ``["benign", "malignant"]``.

    Notes
    -----
    Targets are float tensors of shape ``(1,)``, 1.0 for malignant, matching a
    model with one output logit and ``nn.BCEWithLogitsLoss``.
    """

    def __init__(
        self,
        train: bool = True,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
        *,
        split_seed: int = 0,
        valid_fraction: float = 0.2,
        standardise: bool = True,
    ) -> None:
        super().__init__(transform, target_transform)
        if not 0.0 < valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be between 0 and 1, got {valid_fraction}")
        from sklearn.datasets import load_breast_cancer  # imported here: sklearn is slow to load
        from sklearn.model_selection import train_test_split

        bunch = load_breast_cancer()
        x = np.asarray(bunch.data, dtype=np.float32)
        y = 1.0 - np.asarray(bunch.target, dtype=np.float32)  # scikit-learn's 0 is malignant
        x_train, x_valid, y_train, y_valid = train_test_split(
            x, y, test_size=valid_fraction, stratify=y, random_state=split_seed
        )
        mean = x_train.mean(axis=0) if standardise else np.zeros(x.shape[1], np.float32)
        std = x_train.std(axis=0) if standardise else np.ones(x.shape[1], np.float32)
        self.mean = torch.from_numpy(mean)
        self.std = torch.from_numpy(std)
        chosen_x, chosen_y = (x_train, y_train) if train else (x_valid, y_valid)
        self.features = (torch.from_numpy(chosen_x) - self.mean) / self.std
        self.targets = torch.from_numpy(chosen_y).unsqueeze(1)
        self.feature_names: list[str] = [str(name) for name in bunch.feature_names]
        self.classes = list(CLASSES)
