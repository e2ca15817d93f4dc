"""Reference solutions, one module per lesson, each a :class:`~practicaltorch.recipes.base.Recipe`.

Recipes are looked up by name and imported only when used, so asking for one
does not load the others' dependencies, and listing them loads no PyTorch.

Examples
--------
>>> list(RECIPES)[:2]
['penguins-species', 'penguins-mass']
>>> closest_recipe("pengiuns-mass")
'penguins-mass'
"""

from __future__ import annotations

import difflib
import importlib
from typing import cast

from practicaltorch.recipes.base import Bar, Recipe, Report

__all__ = ["RECIPES", "Bar", "Recipe", "Report", "closest_recipe", "get_recipe"]

RECIPES: dict[str, str] = {
    "penguins-species": "practicaltorch.recipes.penguins_species",
    "penguins-mass": "practicaltorch.recipes.penguins_mass",
    "cancer": "practicaltorch.recipes.cancer",
    "mnist": "practicaltorch.recipes.mnist",
    "ellipses": "practicaltorch.recipes.ellipses",
    "lorenz96": "practicaltorch.recipes.lorenz96",
}
"""Recipe names, in the order ``practicaltorch run all`` runs them, and their modules."""

_REQUIRED = ("NAME", "BAR", "Config", "run")


def closest_recipe(name: str) -> str | None:
    """Return the recipe name most like ``name``, or ``None`` if none is close.

    Parameters
    ----------
    name
        A possibly misspelt recipe name.

    Returns
    -------
    str or None
        The closest name in :data:`RECIPES`.
    """
    matches = difflib.get_close_matches(name.strip().lower(), [*RECIPES, "all"], n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_recipe(name: str) -> str:
    """Return the message for an unknown recipe name, with a did-you-mean.

    Parameters
    ----------
    name
        The name given.

    Returns
    -------
    str
        For example ``"unknown recipe 'minst'; did you mean 'mnist'? choose one of ..."``.
    """
    guess = closest_recipe(name)
    hint = f"; did you mean {guess!r}?" if guess else ";"
    return f"unknown recipe {name!r}{hint} choose one of {', '.join(RECIPES)}, or 'all'"


def get_recipe(name: str) -> Recipe:
    """Import the recipe called ``name``.

    Parameters
    ----------
    name
        A key of :data:`RECIPES`.

    Returns
    -------
    Recipe
        The recipe module: ``NAME``, ``BAR``, ``Config`` and ``run``.

    Raises
    ------
    ValueError
        If there is no such recipe (the message suggests the closest name).
    TypeError
        If the module lacks part of the :class:`Recipe` protocol.
    """
    if name not in RECIPES:
        raise ValueError(unknown_recipe(name))
    module = importlib.import_module(RECIPES[name])
    missing = [attribute for attribute in _REQUIRED if not hasattr(module, attribute)]
    if missing:
        raise TypeError(f"{module.__name__} is not a recipe: it has no {', '.join(missing)}")
    return cast(Recipe, module)
