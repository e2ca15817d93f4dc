"""Physical units in, physical units out: the scaling a network was trained with, built in.

Networks train best on standardised numbers, but a Fortran or C++ caller has
millimetres, grams and pixel values. A run records how its values were scaled
in its metadata, under ``"inputs"`` and ``"outputs"`` (see :func:`describe`):

- the network's input is ``(physical - offset) / scale``;
- the physical output is ``network_output * scale + offset``.

:class:`PhysicalUnits` wraps the trained network with exactly that arithmetic,
so the exported model takes and returns physical units, and the manifest lists
the names and units in order.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["PhysicalUnits", "Values", "describe"]


def describe(
    names: Sequence[str],
    units: Sequence[str] | str,
    offset: Sequence[float] | float = 0.0,
    scale: Sequence[float] | float = 1.0,
) -> dict[str, Any]:
    """Describe one side of a network (its inputs or outputs) for a run's metadata.

    Parameters
    ----------
    names
        What the values along the feature (or channel) axis are, in order.
    units
        Their physical units, one per name or one for all.
    offset, scale
        The network sees ``(physical - offset) / scale`` (inputs) or produces
        values with ``physical = value * scale + offset`` (outputs); one per name
        or one for all.

    Returns
    -------
    dict
        Plain JSON-serialisable values, for ``metadata["inputs"]`` or
        ``metadata["outputs"]``.

    Examples
    --------
    >>> describe(["body_mass_g"], "g", offset=4200.0, scale=800.0)["units"]
    ['g']
    """
    count = len(names)

    def per_name(value: Sequence[Any] | Any, what: str) -> list[Any]:
        values = [value] * count if isinstance(value, str | int | float) else list(value)
        if len(values) != count:
            raise ValueError(f"{len(values)} {what} for {count} names {list(names)}")
        return values

    return {
        "names": list(names),
        "units": per_name(units, "units"),
        "offset": [float(v) for v in per_name(offset, "offsets")],
        "scale": [float(v) for v in per_name(scale, "scales")],
    }


@dataclass(frozen=True)
class Values:
    """Names, units and scaling of the values along one axis (read from run metadata)."""

    names: list[str]
    units: list[str]
    offset: list[float]
    scale: list[float]

    @classmethod
    def from_metadata(cls, entry: dict[str, Any] | None) -> "Values | None":
        """Read an entry written by :func:`describe`; ``None`` when there is none."""
        if not entry:
            return None
        described = describe(
            entry["names"], entry["units"], entry.get("offset", 0.0), entry.get("scale", 1.0)
        )
        if any(s == 0 for s in described["scale"]):
            raise ValueError(f"a scale of 0 cannot be undone: {described['scale']}")
        return cls(**described)

    def manifest(self) -> dict[str, Any]:
        """Return the names and units, for ``export.json``."""
        return {"names": self.names, "units": self.units}


def _on_axis1(values: list[float] | None, rank: int, default: float) -> Tensor:
    """``values`` shaped to broadcast along axis 1 of a rank-``rank`` batch."""
    if values is None:
        return torch.tensor(default)
    return torch.tensor(values, dtype=torch.float32).reshape(1, -1, *([1] * (rank - 2)))


class PhysicalUnits(nn.Module):
    """A trained network that takes and returns physical units.

    Parameters
    ----------
    network
        The trained network, taking scaled inputs along axis 1.
    inputs, outputs
        How its inputs and outputs were scaled; ``None`` leaves that side as is.
    input_rank
        Rank of an input batch (2 for ``(N, features)``, 4 for images).

    Examples
    --------
    >>> net = nn.Identity()
    >>> grams = Values(["mass"], ["g"], [4000.0], [500.0])
    >>> PhysicalUnits(net, None, grams, 2)(torch.tensor([[1.0]]))
    tensor([[4500.]])
    """

    # Real annotations (no `from __future__ import annotations` here): TorchScript reads them.
    in_offset: Tensor
    in_scale: Tensor
    out_offset: Tensor
    out_scale: Tensor

    def __init__(
        self,
        network: nn.Module,
        inputs: Values | None,
        outputs: Values | None,
        input_rank: int,
        output_rank: int = 2,
    ) -> None:
        super().__init__()
        self.network = network
        offset, scale = (inputs.offset, inputs.scale) if inputs else (None, None)
        self.register_buffer("in_offset", _on_axis1(offset, input_rank, 0.0))
        self.register_buffer("in_scale", _on_axis1(scale, input_rank, 1.0))
        offset, scale = (outputs.offset, outputs.scale) if outputs else (None, None)
        self.register_buffer("out_offset", _on_axis1(offset, output_rank, 0.0))
        self.register_buffer("out_scale", _on_axis1(scale, output_rank, 1.0))

    def physical_input(self, scaled: Tensor) -> Tensor:
        """Return the physical values that the network sees as ``scaled``."""
        return scaled * self.in_scale + self.in_offset

    def forward(self, x: Tensor) -> Tensor:
        """Scale ``x`` as in training, run the network, and undo the target scaling."""
        scaled = (x - self.in_offset) / self.in_scale
        return self.network(scaled) * self.out_scale + self.out_offset  # type: ignore[no-any-return]
