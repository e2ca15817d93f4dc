"""The Palmer penguins: three species of Antarctic penguin, measured.

The data (Gorman, Williams & Fraser, 2014) come bundled with the
``palmerpenguins`` package, so nothing is downloaded. Rows with any missing
value are dropped, leaving 333 birds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from palmerpenguins import load_penguins

from practicaltorch.data.tabular import TabularDataset, Transform, check_names

__all__ = [
    "COLUMNS",
    "MASS_FEATURES",
    "SPECIES",
    "SPECIES_FEATURES",
    "Penguins",
    "load_penguin_table",
    "split_penguins",
]

COLUMNS = (
    "species",
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
)
"""Every column of the table."""

SPECIES = ("Adelie", "Chinstrap", "Gentoo")
"""Class names in index order."""

SPECIES_FEATURES = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex")
"""Inputs used to classify species: body measurements and sex, not island or year."""

MASS_FEATURES = ("species", "sex", "bill_length_mm", "bill_depth_mm", "flipper_length_mm")
"""Inputs used to predict body mass."""

ISLANDS = ("Biscoe", "Dream", "Torgersen")
_LEVELS = {"species": SPECIES, "island": ISLANDS}
_CONTINUOUS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year")
VALIDATION_PER_GROUP = 10
"""Birds of each species and sex held out for validation (3 x 2 x 10 = 60)."""


def load_penguin_table() -> pd.DataFrame:
    """Return the complete rows of the penguins table, in the package's order.

    Returns
    -------
    pandas.DataFrame
        333 rows, the columns of :data:`COLUMNS`.
    """
    table: pd.DataFrame = load_penguins()
    complete: pd.DataFrame = table.dropna().reset_index(drop=True)
    return complete


def split_penguins(
    table: pd.DataFrame, seed: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into training birds and a balanced validation set.

    The validation set holds :data:`VALIDATION_PER_GROUP` female and as many
    male birds of each species (60 birds). By default they are evenly spaced
    through each group in the table's order, which runs by island and year, so
    every island and year is represented; a ``seed`` draws them at random
    instead. Either way the same arguments always give the same split.

    Parameters
    ----------
    table
        From :func:`load_penguin_table`.
    seed
        ``None`` for the evenly spaced split, or the seed of a random draw.

    Returns
    -------
    train, valid : pandas.DataFrame
    """
    chosen: list[int] = []
    for _, group in table.groupby(["species", "sex"]):
        if seed is None:
            positions = (np.arange(VALIDATION_PER_GROUP) + 0.5) * len(group) / VALIDATION_PER_GROUP
            chosen.extend(group.index[positions.astype(int)])
        else:
            chosen.extend(group.sample(n=VALIDATION_PER_GROUP, random_state=seed).index)
    valid = table.loc[sorted(chosen)]
    train = table.drop(index=valid.index)
    return train, valid


def _encode(table: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Turn the chosen columns into numbers: sex as 0/1, categories one-hot."""
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for column in columns:
        if column == "sex":
            blocks.append((table["sex"] == "male").to_numpy(np.float32)[:, None])
            names.append("sex_male")
        elif column in _LEVELS:
            for level in _LEVELS[column]:
                blocks.append((table[column] == level).to_numpy(np.float32)[:, None])
                names.append(f"{column}_{level}")
        else:
            blocks.append(table[column].to_numpy(np.float32)[:, None])
            names.append(column)
    return np.concatenate(blocks, axis=1), names


class Penguins(TabularDataset):
    """Penguin measurements as tensors, with the inputs and target chosen by name.

    Parameters
    ----------
    train
        The training split (273 birds) or the validation split (60 birds).
    features
        Input columns. ``sex`` becomes 0 (female) / 1 (male); ``species`` and
        ``island`` become one-hot columns; the rest are numbers.
    target
        ``"species"`` for classification (targets are class indices, names in
        :attr:`classes`) or a numeric column such as ``"body_mass_g"`` for
        regression (targets are float tensors of shape ``(1,)``).
    transform, target_transform
        Applied to each item's features and target.
    split_seed
        ``None`` (default) for the evenly spaced validation split, or a seed
        for a random one (:func:`split_penguins`).
    standardise
        Scale continuous inputs to zero mean and unit variance, with statistics
        from the training split only (see :attr:`mean`, :attr:`std`).
    standardise_target
        For regression, scale the target the same way (see
        :attr:`target_mean`, :attr:`target_std`, :meth:`unscale_target`).

    Attributes
    ----------
    feature_names
        Names of the encoded input columns.
    classes
        Species names in index order (classification only).
    mean, std
        Per-feature statistics used for scaling (0 and 1 for unscaled columns).

    Examples
    --------
    >>> birds = Penguins(train=False)
    >>> len(birds), birds.classes
    (60, ['Adelie', 'Chinstrap', 'Gentoo'])
    >>> x, y = birds[0]
    >>> x.shape, y.dtype
    (torch.Size([5]), torch.int64)
    """

    def __init__(
        self,
        train: bool = True,
        features: Sequence[str] = SPECIES_FEATURES,
        target: str = "species",
        transform: Transform | None = None,
        target_transform: Transform | None = None,
        *,
        split_seed: int | None = None,
        standardise: bool = True,
        standardise_target: bool = False,
    ) -> None:
        super().__init__(transform, target_transform)
        if isinstance(features, str):
            raise TypeError(f"features must be a list of column names, not the string {features!r}")
        check_names(features, COLUMNS)
        check_names([target], COLUMNS, what="target column")
        if target in features:
            raise ValueError(f"{target!r} is both an input and the target; remove it from features")
        if target in ("island", "sex"):
            raise ValueError(
                f"target {target!r} is not supported; use 'species' or a numeric column"
            )
        if len(set(features)) != len(features):
            raise ValueError(f"features contain duplicates: {list(features)}")

        self.columns = list(features)
        train_table, valid_table = split_penguins(load_penguin_table(), split_seed)
        table = train_table if train else valid_table
        raw_train, self.feature_names = _encode(train_table, features)
        raw, _ = _encode(table, features)
        continuous = np.array([name in _CONTINUOUS for name in self.feature_names])
        mean = np.where(continuous & standardise, raw_train.mean(axis=0), 0.0)
        std = np.where(continuous & standardise, raw_train.std(axis=0), 1.0)
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)
        self.features = (torch.from_numpy(raw) - self.mean) / self.std

        self.target = target
        self.classes: list[str] = []
        self.target_mean, self.target_std = 0.0, 1.0
        if target == "species":
            self.classes = list(SPECIES)
            codes = table["species"].map({name: i for i, name in enumerate(SPECIES)})
            self.targets = torch.tensor(codes.to_numpy(), dtype=torch.int64)
        else:
            values = table[target].to_numpy(np.float32)
            if standardise_target:
                self.target_mean = float(train_table[target].mean())
                self.target_std = float(train_table[target].std(ddof=0))
            scaled = (values - self.target_mean) / self.target_std
            self.targets = torch.tensor(scaled, dtype=torch.float32).unsqueeze(1)

    @property
    def is_classification(self) -> bool:
        """Whether the target is the species (class indices)."""
        return self.target == "species"

    def unscale_target(self, values: torch.Tensor) -> torch.Tensor:
        """Convert scaled regression outputs or targets back to physical units."""
        return values * self.target_std + self.target_mean

    def encode(self, birds: pd.DataFrame | dict[str, Any]) -> torch.Tensor:
        """Turn raw measurements of new birds into scaled model inputs.

        Parameters
        ----------
        birds
            A table (or a dict of column -> value for one bird) with this
            dataset's input columns, in physical units, ``sex`` as
            ``"male"``/``"female"``.

        Returns
        -------
        torch.Tensor
            Shape ``(N, len(feature_names))``, scaled like the training data.
        """
        frame = pd.DataFrame([birds]) if isinstance(birds, dict) else birds
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"the new data lack {missing}; this model needs the columns {self.columns}"
            )
        raw, _ = _encode(frame, self.columns)
        return (torch.from_numpy(raw) - self.mean) / self.std

    def metadata(self) -> dict[str, Any]:
        """Everything needed to prepare inputs and read outputs at inference time."""
        return {
            "columns": list(self.columns),
            "features": list(self.feature_names),
            "target": self.target,
            "classes": list(self.classes),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }
