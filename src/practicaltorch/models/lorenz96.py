"""Parameterisations for the Lorenz-96 test bed: a cubic polynomial, a local network, scaling.

- :class:`CubicPolynomial`: the classical baseline, ``U_k = a + b X_k + c X_k^2 + d X_k^3``
  fitted by least squares.
- :class:`LocalNet`: one small network applied at every grid point with the
  same weights, looking at ``X_k`` and its neighbours. That is a 1-D convolution
  with *periodic* (circular) padding, so it runs on a ring of any length ``K``.
- :class:`Scaled`: wraps a network trained on standardised data so that it takes
  and returns physical units; this is the module to couple to a physical model
  and to export for Fortran.

A dense network that sees all ``K`` values at once is simply
:class:`~practicaltorch.models.MLP` with ``K`` inputs and ``K`` outputs.
"""

import itertools
from typing import Any, Literal

import torch
from torch import Tensor, nn

from practicaltorch.models.mlp import ACTIVATIONS

__all__ = ["CubicPolynomial", "LocalNet", "PaddingMode", "Scaled"]

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


class CubicPolynomial(nn.Module):
    """``U = c0 + c1 X + c2 X^2 + c3 X^3``, the same coefficients at every grid point.

    Parameters
    ----------
    coefficients
        ``(c0, c1, c2, c3)``; :meth:`fit` finds them by least squares.
    """

    coefficients: Tensor

    def __init__(self, coefficients: Tensor | list[float] | None = None) -> None:
        super().__init__()
        values = torch.zeros(4) if coefficients is None else torch.as_tensor(coefficients)
        if values.shape != (4,):
            raise ValueError(f"a cubic has 4 coefficients, got shape {tuple(values.shape)}")
        self.register_buffer("coefficients", values.to(torch.float64))
        self.config: dict[str, Any] = {}

    @staticmethod
    def features(x: Tensor) -> Tensor:
        """Return the columns ``(1, X, X^2, X^3)`` for every value of ``x``, in float64."""
        x = x.reshape(-1, 1).to(torch.float64)
        return torch.cat([torch.ones_like(x), x, x**2, x**3], dim=1)

    @classmethod
    def fit(cls, x: Tensor, u: Tensor) -> "CubicPolynomial":
        """Fit the coefficients by least squares on states ``x`` and coupling terms ``u``.

        Every grid point of every sample is one data point; ``x`` and ``u`` must
        have the same shape.
        """
        if x.shape != u.shape:
            raise ValueError(f"x {tuple(x.shape)} and u {tuple(u.shape)} must have the same shape")
        targets = u.reshape(-1, 1).to(torch.float64)
        solution = torch.linalg.lstsq(cls.features(x), targets).solution
        return cls(solution.reshape(4))

    def forward(self, x: Tensor) -> Tensor:
        """Return the coupling term for states ``x`` of any shape (same shape out)."""
        c = self.coefficients.to(x.dtype)
        return c[0] + x * (c[1] + x * (c[2] + x * c[3]))


class LocalNet(nn.Module):
    """A local parameterisation: the same small network at every point of a periodic ring.

    The first layer sees ``X_k`` and its ``width // 2`` neighbours on each side
    (a circular convolution); the later layers act point by point (convolutions
    of width 1). Inputs ``(N, K)`` give outputs ``(N, K)`` for any ``K``.

    Parameters
    ----------
    width
        Odd stencil width of the first layer: ``1`` sees ``X_k`` only.
    hidden
        Channels of the hidden layers.
    activation
        A key of :data:`~practicaltorch.models.ACTIVATIONS`.
    padding_mode
        ``"circular"`` for a periodic domain. Anything else (``"zeros"``) is
        accepted only to show what goes wrong.
    """

    def __init__(
        self,
        width: int = 5,
        hidden: tuple[int, ...] | list[int] = (32, 32),
        activation: str = "relu",
        padding_mode: PaddingMode = "circular",
    ) -> None:
        super().__init__()
        if width < 1 or width % 2 == 0:
            raise ValueError(f"width={width}: the stencil must have an odd width, 1, 3, 5, ...")
        if not hidden:
            raise ValueError("hidden must name at least one layer of channels")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {list(ACTIVATIONS)}")
        self.config = {
            "width": width,
            "hidden": list(hidden),
            "activation": activation,
            "padding_mode": padding_mode,
        }
        layers: list[nn.Module] = [
            nn.Conv1d(1, hidden[0], width, padding=width // 2, padding_mode=padding_mode),
            ACTIVATIONS[activation](),
        ]
        for size_in, size_out in itertools.pairwise(hidden):
            layers += [nn.Conv1d(size_in, size_out, 1), ACTIVATIONS[activation]()]
        layers.append(nn.Conv1d(hidden[-1], 1, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Map states ``(N, K)`` to coupling terms ``(N, K)``."""
        return self.layers(x.unsqueeze(1)).squeeze(1)  # type: ignore[no-any-return]


class Scaled(nn.Module):
    """A network trained on standardised data, taking and returning physical units.

    ``forward(x) = net((x - x_mean) / x_std) * u_std + u_mean``, computed in the
    network's float32 and returned in the input's dtype. The four statistics are
    buffers, so they travel with the weights, into TorchScript and to Fortran.

    Parameters
    ----------
    net
        The trained network, on standardised inputs and outputs.
    x_mean, x_std, u_mean, u_std
        The training data's statistics (one number each: the ring is homogeneous).
    """

    x_mean: Tensor
    x_std: Tensor
    u_mean: Tensor
    u_std: Tensor

    def __init__(self, net: nn.Module, x_mean: float, x_std: float, u_mean: float, u_std: float):
        super().__init__()
        if x_std <= 0 or u_std <= 0:
            raise ValueError(f"standard deviations must be positive, got {x_std} and {u_std}")
        self.net = net
        for name, value in [("x_mean", x_mean), ("x_std", x_std), ("u_mean", u_mean)]:
            self.register_buffer(name, torch.tensor(float(value)))
        self.register_buffer("u_std", torch.tensor(float(u_std)))

    def forward(self, x: Tensor) -> Tensor:
        """Return the coupling term, in physical units, for states ``x`` ``(N, K)``."""
        z = (x.to(torch.float32) - self.x_mean) / self.x_std
        return (self.net(z) * self.u_std + self.u_mean).to(x.dtype)  # type: ignore[no-any-return]
