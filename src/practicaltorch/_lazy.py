"""Import a package's public names on first use (PEP 562), to keep start-up fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """Return a module-level ``__getattr__`` that imports each name from its module.

    Parameters
    ----------
    package
        The package's ``__name__``, for the error message.
    modules
        Each public name and the module that defines it.

    Returns
    -------
    callable
        Assign it to ``__getattr__`` in the package's ``__init__``: the first
        access to a name imports its module, later ones find it in that module.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 (the name PEP 562 asks for)
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
