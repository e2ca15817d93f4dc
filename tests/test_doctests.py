"""The examples in the docstrings run and print what they say.

Only modules that hold examples become test cases, so every case runs at least
one example and can fail. They are collected from the imported packages rather
than with ``--doctest-modules`` on ``src/``, which would clash with a
non-editable install.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import authoring
import practicaltorch

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _all_modules() -> list[str]:
    names = []
    for package in (practicaltorch, authoring):
        prefix = package.__name__ + "."
        names += [info.name for info in pkgutil.walk_packages(package.__path__, prefix)]
    return sorted(name for name in names if not name.endswith("__main__"))


def _example_count(name: str) -> int:
    """Count a module's docstring examples; -1 if it does not import (kept, so it fails)."""
    try:
        module = importlib.import_module(name)
    except Exception:
        return -1
    return sum(len(test.examples) for test in doctest.DocTestFinder().find(module))


ALL_MODULES = _all_modules()
WITH_EXAMPLES = [name for name in ALL_MODULES if _example_count(name) != 0]


def test_modules_with_examples_are_found() -> None:
    assert "practicaltorch.data.penguins" in ALL_MODULES
    assert {"practicaltorch.runs", "authoring.notebooks"} <= set(WITH_EXAMPLES)
    assert sum(max(_example_count(name), 0) for name in WITH_EXAMPLES) >= 40


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.attempted > 0, f"{name} has no examples to run"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
