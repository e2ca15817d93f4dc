"""The record of a training run: one dict of numbers per epoch."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch records of a training run.

    Attributes
    ----------
    records
        One dict per epoch, for example
        ``{"epoch": 3, "train_loss": 0.21, "valid_loss": 0.25, "valid_accuracy": 0.93}``.

    Examples
    --------
    >>> history = History([{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.4}])
    >>> history["loss"], len(history)
    ([0.9, 0.4], 2)
    """

    records: list[dict[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[float]:
        """Return one quantity across epochs, for example ``history["valid_loss"]``."""
        if self.records and key not in self.records[-1]:
            raise KeyError(f"no {key!r} in this history; recorded: {sorted(self.keys())}")
        return [r[key] for r in self.records if key in r]

    def keys(self) -> list[str]:
        """Return the names of the recorded quantities."""
        names: dict[str, None] = {}
        for record in self.records:
            names.update(dict.fromkeys(record))
        return list(names)

    @property
    def last(self) -> dict[str, float]:
        """The record of the last epoch."""
        if not self.records:
            raise IndexError("this history is empty: no epoch has finished yet")
        return self.records[-1]

    @property
    def seconds(self) -> float:
        """The training time recorded so far (0 before the first epoch)."""
        return self.records[-1].get("seconds", 0.0) if self.records else 0.0

    def to_list(self) -> list[dict[str, float]]:
        """Return the records as plain data (for JSON and checkpoints)."""
        return [dict(r) for r in self.records]
