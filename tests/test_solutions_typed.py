"""The worked solutions are typed: mypy checks each lesson's solution code.

Each lesson's solution notebook is written out as one Python module (its code
cells in order) and the modules are checked together in one mypy run. The
exercises are not checked: their stubs are meant to be filled in.

The settings suit notebook code rather than library code: names may be rebound
with a new type from one cell to the next, ``.grad`` and other optional values
are not narrowed, and unannotated variables are inferred where mypy can. Every
function the solutions define must be fully annotated.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from authoring.notebooks import lesson_notebooks

LESSONS = sorted((Path(__file__).parents[1] / "course" / "lessons").glob("[0-9][0-9]_*.py"))
MYPY_SETTINGS = """\
[mypy]
python_version = 3.10
ignore_missing_imports = True
check_untyped_defs = True
disallow_untyped_defs = True
disallow_incomplete_defs = True
allow_redefinition = True
strict_optional = False
disable_error_code = var-annotated
"""
_MAGIC = re.compile(r"^(\s*)[%!]")


def without_magics(code: str) -> str:
    """Replace IPython magics and shell escapes (lines starting ``%`` or ``!``) with ``pass``.

    The result stays valid Python with the same line numbers.
    """
    return "\n".join(_MAGIC.sub(r"\1pass  # ", line) for line in code.split("\n"))


def solution_module(lesson: Path) -> str:
    """Return the code cells of a lesson's worked solution as one Python module."""
    pair = lesson_notebooks(lesson)
    cells = [cell.source for cell in pair.solution.cells if cell.cell_type == "code"]
    return without_magics("\n\n".join(cells)) + "\n"


def test_magics_become_pass() -> None:
    code = "%matplotlib inline\nif x:\n    !pip install demo\ny = 1 % 2"
    assert without_magics(code) == (
        "pass  # matplotlib inline\nif x:\n    pass  # pip install demo\ny = 1 % 2"
    )


def test_solution_module_keeps_solutions(tmp_path: Path) -> None:
    lesson = tmp_path / "00_demo.py"
    lesson.write_text("# %%\nx = 1\n### BEGIN SOLUTION\ny: int = x + 1\n### END SOLUTION\n")
    module = solution_module(lesson)
    assert "y: int = x + 1" in module
    assert "SOLUTION" not in module


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run mypy once over every lesson's solution module; return its errors by lesson."""
    try:
        from mypy import api
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("mypy is not installed; install the dev extra: pip install -e .[dev]")
        pytest.skip("mypy is not installed (it is in the dev extra)")
    folder = tmp_path_factory.mktemp("solutions")
    config = folder / "mypy.ini"
    config.write_text(MYPY_SETTINGS)
    paths = []
    for lesson in LESSONS:
        path = folder / f"lesson_{lesson.stem[:2]}.py"
        path.write_text(solution_module(lesson))
        paths.append(str(path))
    stdout, stderr, _ = api.run(
        ["--config-file", str(config), "--no-error-summary", "--show-error-codes", *paths]
    )
    assert not stderr.strip(), stderr
    report: dict[str, list[str]] = {lesson.stem[:2]: [] for lesson in LESSONS}
    for line in stdout.splitlines():
        match = re.match(r".*lesson_(\d\d)\.py:(\d+): (error|note): (.*)", line)
        if match and match[3] == "error":
            report[match[1]].append(f"line {match[2]}: {match[4]}")
    return report


NOT_YET_TYPED: set[str] = set()
"""Lessons whose worked solutions still lack type hints (strict xfail: typing one fails this)."""


def _lesson_param(lesson: Path) -> object:
    number = lesson.stem[:2]
    if number in NOT_YET_TYPED:
        reason = f"lesson {number}'s solutions are not typed yet"
        mark = pytest.mark.xfail(strict=True, reason=reason)
        return pytest.param(lesson, id=number, marks=mark)
    return pytest.param(lesson, id=number)


@pytest.mark.parametrize("lesson", [_lesson_param(lesson) for lesson in LESSONS])
def test_solution_is_typed(lesson: Path, mypy_report: dict[str, list[str]]) -> None:
    errors = mypy_report[lesson.stem[:2]]
    assert not errors, (
        f"mypy finds {len(errors)} problem(s) in the worked solution of {lesson.name} "
        "(line numbers count the solution's code cells joined by one blank line):\n"
        + "\n".join(errors)
    )
