"""The examples in the library's docstrings run and print what they say.

They are collected here, from the installed package, rather than with
``--doctest-modules`` on ``src/``: that would clash with a non-editable install.
"""

import doctest
import importlib
import pkgutil

import pytest

import practicaltorch

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(practicaltorch.__path__, prefix="practicaltorch.")
    if not info.name.endswith("__main__")
)


def test_every_module_is_collected_and_examples_exist() -> None:
    assert "practicaltorch.data.penguins" in MODULES
    assert "practicaltorch.notebooks" in MODULES
    finder = doctest.DocTestFinder()
    examples = sum(
        len(test.examples)
        for name in MODULES
        for test in finder.find(importlib.import_module(name))
    )
    assert examples >= 40, "the docstring examples were not found"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
