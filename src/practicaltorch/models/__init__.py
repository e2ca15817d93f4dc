"""Models: a configurable MLP and the CNNs the lessons use.

Every model class keeps the keyword arguments it was built with in
``model.config``, so a saved ``state_dict`` plus the class name and that config
rebuild it (:func:`build_model`, :func:`load_model`).
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from practicaltorch.models.cnn import DigitCNN
from practicaltorch.models.coordconv import EllipseCNN
from practicaltorch.models.lorenz96 import LocalNet
from practicaltorch.models.mlp import ACTIVATIONS, MLP
from practicaltorch.models.transfer import TransferNet, transfer_model

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "MLP": MLP,
    "DigitCNN": DigitCNN,
    "EllipseCNN": EllipseCNN,
    "LocalNet": LocalNet,
    "TransferNet": TransferNet,
}
"""Model classes :func:`build_model` knows by name."""


def build_model(architecture: str, config: dict[str, Any]) -> nn.Module:
    """Build an untrained model from its class name and configuration.

    Parameters
    ----------
    architecture
        A key of :data:`ARCHITECTURES`, for example ``"MLP"``.
    config
        Keyword arguments of that class (its ``model.config``).

    Returns
    -------
    torch.nn.Module
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**config)


def load_model(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from a ``model.pt`` written by a recipe.

    Parameters
    ----------
    path
        The file, or a run directory containing ``model.pt``.

    Returns
    -------
    model : torch.nn.Module
        The network with its trained weights, in eval mode, on the CPU.
    info : dict
        Everything else in the file: ``architecture``, ``config``, ``metadata``
        and ``recipe``.

    Raises
    ------
    FileNotFoundError
        If there is no ``model.pt``.
    ValueError
        If the file is not a model file, or the weights do not fit the architecture.
    """
    from pathlib import Path

    import torch

    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained weights at {path}; train a model first, for example "
            "`practicaltorch run penguins-species --out runs`"
        )
    try:  # weights_only: tensors and plain values only, so the file cannot run code
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged or foreign files
        raise ValueError(
            f"{path} is not a readable model file ({type(error).__name__}): it may be "
            "truncated, or hold Python objects, which are refused because they could run code"
        ) from error
    if not isinstance(contents, dict):
        raise ValueError(f"{path} holds a {type(contents).__name__}, not a model file")
    missing = {"model", "architecture", "config"} - set(contents)
    if missing:
        raise ValueError(f"{path} is not a practicaltorch model file: missing {sorted(missing)}")
    model = build_model(contents["architecture"], contents["config"])
    try:
        model.load_state_dict(contents["model"])
    except RuntimeError as error:
        raise ValueError(
            f"the weights in {path} do not fit a {contents['architecture']} built with "
            f"{contents['config']}: {str(error).splitlines()[0]}"
        ) from error
    model.eval()
    info = {k: v for k, v in contents.items() if k != "model"}
    return model, info


__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "MLP",
    "DigitCNN",
    "EllipseCNN",
    "TransferNet",
    "build_model",
    "load_model",
    "transfer_model",
]
