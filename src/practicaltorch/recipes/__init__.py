"""Reference solutions, one module per lesson: ``Config`` and ``run(config) -> Report``.

Recipes are looked up by name and imported only when used, so asking for one
does not load the others' dependencies.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from practicaltorch.recipes.base import Bar, Report

__all__ = ["RECIPES", "Bar", "Report", "get_recipe"]

RECIPES: dict[str, str] = {
    "penguins-species": "practicaltorch.recipes.penguins_species",
    "penguins-mass": "practicaltorch.recipes.penguins_mass",
    "cancer": "practicaltorch.recipes.cancer",
    "mnist": "practicaltorch.recipes.mnist",
    "ellipses": "practicaltorch.recipes.ellipses",
}
"""Recipe names, in the order ``practicaltorch run all`` runs them, and their modules."""


def get_recipe(name: str) -> ModuleType:
    """Import the recipe module called ``name``.

    Parameters
    ----------
    name
        A key of :data:`RECIPES`.

    Returns
    -------
    module
        With a ``Config`` dataclass, a ``run(config, out_dir)`` function and ``BAR``.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)} or 'all'")
    return importlib.import_module(RECIPES[name])
