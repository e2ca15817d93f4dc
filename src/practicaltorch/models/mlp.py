"""A configurable fully-connected network for tabular data."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "MLP"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
"""Activation functions :class:`MLP` accepts by name."""


class MLP(nn.Module):
    """A multilayer perceptron: ``Linear`` layers with activations in between.

    Each hidden layer is ``Linear -> [BatchNorm1d] -> activation -> [Dropout]``;
    the output layer is a plain ``Linear`` (logits for classification, raw
    values for regression), so choose the loss to match.

    Parameters
    ----------
    in_features
        Number of input columns.
    out_features
        Number of outputs: classes for classification, targets for regression.
    hidden
        Width of each hidden layer, for example ``(64, 64)``. Empty gives a
        linear model.
    batch_norm
        Add batch normalisation after each hidden ``Linear``.
    dropout
        Dropout probability after each hidden activation (0 for none).
    activation
        One of :data:`ACTIVATIONS`.

    Examples
    --------
    >>> import torch
    >>> MLP(4, 3, hidden=(16,))(torch.zeros(5, 4)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (64, 64),
        *,
        batch_norm: bool = False,
        dropout: float = 0.0,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if in_features < 1 or out_features < 1 or any(h < 1 for h in hidden):
            raise ValueError(
                f"layer sizes must be positive, got in={in_features}, hidden={tuple(hidden)}, "
                f"out={out_features}"
            )
        self.input_shape = (in_features,)
        """One sample's shape, without the batch dimension (exports build examples from it)."""
        self.config = {
            "in_features": in_features,
            "out_features": out_features,
            "hidden": list(hidden),
            "batch_norm": batch_norm,
            "dropout": dropout,
            "activation": activation,
        }
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Map a batch of shape ``(N, in_features)`` to ``(N, out_features)``."""
        return self.layers(x)  # type: ignore[no-any-return]
