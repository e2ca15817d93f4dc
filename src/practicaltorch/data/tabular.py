"""What the tabular datasets share: tensors in memory, items by index, name checks."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["TabularDataset", "check_names"]

Transform = Callable[[Tensor], Any]


def check_names(requested: Iterable[str], available: Iterable[str], what: str = "column") -> None:
    """Raise a helpful error for any name not in ``available``.

    Parameters
    ----------
    requested
        Names asked for.
    available
        Valid names.
    what
        What the names are, for the message.

    Raises
    ------
    ValueError
        Naming the unknown name, the closest valid one, and all valid ones.

    Examples
    --------
    >>> check_names(["colour"], ["color", "size"])
    Traceback (most recent call last):
    ...
    ValueError: unknown column 'colour'; did you mean 'color'? available: color, size
    """
    valid = list(available)
    for name in requested:
        if name not in valid:
            close = difflib.get_close_matches(str(name), valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown {what} {name!r}{hint} available: {', '.join(valid)}")


class TabularDataset(Dataset[tuple[Any, Any]]):
    """A map-style dataset over feature and target tensors held in memory.

    Subclasses fill ``self.features`` (``(N, F)`` float32) and
    ``self.targets`` in their ``__init__``; this class provides the
    ``Dataset`` protocol and the fast path.

    Parameters
    ----------
    transform
        Applied to each item's features.
    target_transform
        Applied to each item's target.
    """

    features: Tensor
    targets: Tensor

    def __init__(
        self, transform: Transform | None = None, target_transform: Transform | None = None
    ) -> None:
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Return ``(features, target)`` of sample ``index``, transformed."""
        x: Any = self.features[index]
        y: Any = self.targets[index]
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def tensors(self) -> tuple[Tensor, Tensor]:
        """Return the whole split as ``(features, targets)`` tensors (the fast path).

        Transforms are not applied: these are the stored tensors.
        """
        return self.features, self.targets
