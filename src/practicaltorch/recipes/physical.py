"""What the recipes' networks take and return, in physical units, for their exports.

Each recipe records these descriptions in its run's metadata (``"inputs"`` and
``"outputs"``), so :func:`practicaltorch.export.export_run` can build the scaling
into the exported model: a Fortran or C++ caller then passes millimetres, grams or
pixel values and gets physical units back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from practicaltorch.data.penguins import Penguins
from practicaltorch.export.scaling import describe

__all__ = ["ellipse_scaling", "mnist_scaling", "penguin_scaling", "penguin_unit"]

YES_NO = "1 = yes, 0 = no"


def penguin_unit(feature: str) -> str:
    """Return the unit of an encoded penguin feature, from the column's name.

    Examples
    --------
    >>> penguin_unit("flipper_length_mm"), penguin_unit("body_mass_g"), penguin_unit("sex_male")
    ('mm', 'g', '1 = yes, 0 = no')
    """
    if feature.endswith("_mm"):
        return "mm"
    if feature.endswith("_g"):
        return "g"
    if feature == "year":
        return "year"
    return YES_NO  # sex_male and the one-hot species_* and island_* columns


def penguin_scaling(train_set: Penguins) -> dict[str, Any]:
    """Describe a penguin network's inputs (standardised features) and outputs.

    Species networks output one logit per class; body-mass networks output the
    standardised mass, which the description turns back into grams.
    """
    names = list(train_set.feature_names)
    inputs = describe(
        names, [penguin_unit(n) for n in names], train_set.mean.tolist(), train_set.std.tolist()
    )
    if train_set.is_classification:
        outputs = describe(train_set.classes, "logit")
    else:
        target = train_set.target
        outputs = describe(
            [target], penguin_unit(target), train_set.target_mean, train_set.target_std
        )
    return {"inputs": inputs, "outputs": outputs}


def mnist_scaling(classes: Sequence[str], mean: float, std: float) -> dict[str, Any]:
    """Describe a digit network: grey levels 0-255 in, one logit per class out.

    ``mean`` and ``std`` are the training pixels' statistics on the [0, 1] scale.
    """
    inputs = describe(["grey level"], "0 (background) to 255 (ink)", 255.0 * mean, 255.0 * std)
    return {"inputs": inputs, "outputs": describe(list(classes), "logit")}


def ellipse_scaling(size: int, targets: Sequence[str]) -> dict[str, Any]:
    """Describe an ellipse network: RGB values 0-255 in, centre and radii in pixels out."""
    inputs = describe(["red", "green", "blue"], "0 to 255", 0.0, 255.0)
    return {"inputs": inputs, "outputs": describe(list(targets), "pixels", 0.0, float(size))}
