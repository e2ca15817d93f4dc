"""Run folders of the reference models, for the export tests (Python, C++ and Fortran).

The penguin runs are trained by their recipes in quick mode (a second or two).
The CNNs are seeded and untrained (training them is their own tests' job), saved
as their recipes save them, with batch-norm statistics made non-trivial so that
running in eval mode matters.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from practicaltorch.data.mnist import MNIST_CLASSES, MNIST_MEAN, MNIST_STD
from practicaltorch.models import DigitCNN, EllipseCNN
from practicaltorch.recipes.physical import ellipse_scaling, mnist_scaling
from practicaltorch.training import save_checkpoint

ELLIPSE_TARGETS = ["row", "col", "row_radius", "col_radius"]


def penguin_run(out: Path, recipe: str = "species") -> Path:
    """Train a penguin recipe (``"species"`` or ``"mass"``) in quick mode into ``out``."""
    from practicaltorch.recipes import penguins_mass, penguins_species

    module = penguins_species if recipe == "species" else penguins_mass
    module.run(module.Config(quick=True, device="cpu"), out, progress=False)
    return out


def _realistic_batch_norm(model: nn.Module) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)


def _saved_cnn(
    out: Path, model: DigitCNN | EllipseCNN, recipe: str, metadata: dict[str, object]
) -> Path:
    """Save ``model`` (seeded, batch norm made realistic) into ``out`` as ``recipe`` saves it."""
    _realistic_batch_norm(model)
    save_checkpoint(
        out / "model.pt",
        model=model.state_dict(),
        architecture=type(model).__name__,
        config=model.config,
        metadata=metadata,
        recipe=recipe,
    )
    return out


def digit_cnn_run(out: Path) -> Path:
    """A seeded DigitCNN saved as the MNIST recipe saves it: input (N, 1, 28, 28)."""
    torch.manual_seed(0)
    scaling = mnist_scaling(MNIST_CLASSES, MNIST_MEAN, MNIST_STD)
    metadata = {"classes": MNIST_CLASSES, "input_shape": [1, 28, 28], **scaling}
    return _saved_cnn(out, DigitCNN(), "mnist", metadata)


def ellipse_cnn_run(out: Path, size: int = 128) -> Path:
    """A seeded EllipseCNN saved as the ellipses recipe saves it: input (N, 3, size, size)."""
    torch.manual_seed(0)
    scaling = ellipse_scaling(size, ELLIPSE_TARGETS)
    metadata = {"size": size, "targets": ELLIPSE_TARGETS, "input_shape": [3, size, size]}
    return _saved_cnn(out, EllipseCNN(size=size), "ellipses", {**metadata, **scaling})
