"""Exercise and solution notebooks, generated from one source per lesson.

Each lesson is a percent-format Python file (``# %%`` starts a code cell,
``# %% [markdown]`` a markdown cell) in ``course/lessons/``. Worked answers sit
between marker lines::

    ### BEGIN SOLUTION
    model = MLP(5, 3)
    ### END SOLUTION

:func:`build` writes two notebooks per lesson: the *solution* with the markers
removed, and the *exercise* with each marked region replaced by a stub
(``raise NotImplementedError()`` in code, a prompt in markdown). Markers must
pair up and must not nest; anything else is an error naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode

__all__ = [
    "BEGIN",
    "END",
    "MarkerError",
    "NotebookPair",
    "build",
    "check",
    "find_course",
    "lesson_notebooks",
    "solution_only_lines",
    "strip_solutions",
]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "_Your answer here._"
_MARKER = re.compile(r"^(\s*)(?:#\s*)?(### (?:BEGIN|END) SOLUTION)\s*$")
_KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


class MarkerError(ValueError):
    """Solution markers are unmatched, nested, or left in a generated exercise."""


@dataclass
class NotebookPair:
    """The two notebooks generated from one lesson source."""

    source: Path
    exercise: NotebookNode
    solution: NotebookNode
    regions: int = 0
    problems: list[str] = field(default_factory=list)


def _regions(lines: list[str], where: str) -> Iterator[tuple[int, int, str]]:
    """Yield (begin line, end line, indentation) of each marked region."""
    begin: tuple[int, str] | None = None
    for number, line in enumerate(lines):
        match = _MARKER.match(line)
        if not match:
            continue
        indent, marker = match.groups()
        if marker == BEGIN:
            if begin is not None:
                raise MarkerError(
                    f"{where}, line {number + 1}: {BEGIN} inside another solution region "
                    f"(opened at line {begin[0] + 1}); regions must not nest"
                )
            begin = (number, indent)
        else:
            if begin is None:
                raise MarkerError(f"{where}, line {number + 1}: {END} without a {BEGIN} before it")
            yield begin[0], number, begin[1]
            begin = None
    if begin is not None:
        raise MarkerError(f"{where}, line {begin[0] + 1}: {BEGIN} is never closed with {END}")


def strip_solutions(source: str, cell_type: str, where: str = "cell") -> tuple[str, str, int]:
    r"""Split one cell's source into its exercise and solution versions.

    Parameters
    ----------
    source
        The cell's text, markers included.
    cell_type
        ``"code"`` or ``"markdown"``: decides the stub.
    where
        A description for error messages, such as ``"02_penguins.py, cell 7"``.

    Returns
    -------
    exercise, solution : str
        The cell with regions stubbed, and with the marker lines dropped.
    regions : int
        How many regions the cell held.

    Raises
    ------
    MarkerError
        If markers are unmatched or nested.

    Examples
    --------
    >>> text = "x = 1\n### BEGIN SOLUTION\ny = 2 * x\n### END SOLUTION"
    >>> exercise, solution, n = strip_solutions(text, "code")
    >>> print(exercise)
    x = 1
    # YOUR CODE HERE
    raise NotImplementedError()
    >>> print(solution)
    x = 1
    y = 2 * x
    """
    lines = source.split("\n")
    found = list(_regions(lines, where))
    if not found:
        return source, source, 0
    exercise: list[str] = []
    solution: list[str] = []
    cursor = 0
    for begin, end, indent in found:
        exercise.extend(lines[cursor:begin])
        solution.extend(lines[cursor:begin])
        if cell_type == "code":
            exercise.extend(indent + stub for stub in CODE_STUB)
        else:
            exercise.append(MARKDOWN_STUB)
        solution.extend(lines[begin + 1 : end])
        cursor = end + 1
    exercise.extend(lines[cursor:])
    solution.extend(lines[cursor:])
    return "\n".join(exercise), "\n".join(solution), len(found)


def _clean(notebook: NotebookNode) -> NotebookNode:
    """Clear outputs and volatile metadata, so regenerating gives identical files."""
    notebook.metadata = nbformat.from_dict(
        {"kernelspec": _KERNEL, "language_info": {"name": "python"}}
    )
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items() if k == "tags"})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def lesson_notebooks(source: Path) -> NotebookPair:
    """Read one lesson source and produce its exercise and solution notebooks.

    Parameters
    ----------
    source
        A percent-format ``.py`` lesson.

    Returns
    -------
    NotebookPair

    Raises
    ------
    MarkerError
        If markers are unmatched or nested (the message names file and cell).
    """
    notebook = jupytext.read(source, fmt="py:percent")
    exercise = nbformat.from_dict(nbformat.v4.new_notebook())
    solution = nbformat.from_dict(nbformat.v4.new_notebook())
    regions = 0
    for number, cell in enumerate(notebook.cells, start=1):
        where = f"{source.name}, cell {number}"
        ex_text, sol_text, found = strip_solutions(cell.source, cell.cell_type, where)
        regions += found
        for target, text in ((exercise, ex_text), (solution, sol_text)):
            new = nbformat.from_dict(dict(cell))
            new.source = text
            target.cells.append(new)
    return NotebookPair(source, _clean(exercise), _clean(solution), regions)


def _text(notebook: NotebookNode) -> str:
    text: str = nbformat.writes(notebook, version=4)
    return text + "\n"


def find_course(start: Path | None = None) -> Path:
    """Find the ``course`` folder of a checkout, from ``start`` or the working directory.

    Raises
    ------
    FileNotFoundError
        If no ``course/lessons`` folder is found in ``start`` or its parents.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "course" / "lessons").is_dir():
            return folder / "course"
        if folder.name == "course" and (folder / "lessons").is_dir():
            return folder
    raise FileNotFoundError(
        f"no course/lessons folder in {here} or above it; run this from a checkout of "
        "the practicaltorch repository, or pass --course PATH"
    )


def _targets(course: Path, source: Path) -> tuple[Path, Path]:
    name = source.stem + ".ipynb"
    return course / "exercises" / name, course / "solutions" / name


def _sources(course: Path, only: str | None = None) -> list[Path]:
    sources = sorted((course / "lessons").glob("[0-9][0-9]_*.py"))
    return [s for s in sources if only is None or s.stem.startswith(only)]


def build(course: Path, only: str | None = None) -> list[Path]:
    """Write every lesson's exercise and solution notebook.

    Parameters
    ----------
    course
        The ``course`` folder, holding ``lessons/``.
    only
        Build only the lessons whose file names start with this, e.g. ``"02"``.

    Returns
    -------
    list of Path
        The notebooks written (only those whose content changed).
    """
    written: list[Path] = []
    for source in _sources(course, only):
        pair = lesson_notebooks(source)
        for path, notebook in zip(_targets(course, source), (pair.exercise, pair.solution)):
            text = _text(notebook)
            if not path.exists() or path.read_text() != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                written.append(path)
    return written


def check(course: Path) -> list[str]:
    """List every way the committed notebooks differ from what ``build`` would write.

    Parameters
    ----------
    course
        The ``course`` folder.

    Returns
    -------
    list of str
        Problems found: stale or missing notebooks, notebooks without a
        lesson, solution markers or solution text left in an exercise. Empty
        when all is well. Marker errors in a lesson are reported too.
    """
    problems: list[str] = []
    sources = _sources(course)
    expected: set[Path] = set()
    for source in sources:
        try:
            pair = lesson_notebooks(source)
        except MarkerError as error:
            problems.append(str(error))
            continue
        for path, notebook in zip(_targets(course, source), (pair.exercise, pair.solution)):
            expected.add(path)
            if not path.exists():
                problems.append(f"{path} is missing: run `practicaltorch notebooks build`")
            elif path.read_text() != _text(notebook):
                problems.append(f"{path} is stale: run `practicaltorch notebooks build`")
        committed = course / "exercises" / (source.stem + ".ipynb")
        if committed.exists():
            problems.extend(_leaks(committed, pair))
    for folder in ("exercises", "solutions"):
        for path in sorted((course / folder).glob("*.ipynb")):
            if path not in expected:
                problems.append(f"{path} has no lesson source in {course / 'lessons'}")
    return problems


def solution_only_lines(pair: NotebookPair) -> set[str]:
    """Return the distinctive lines that appear only inside solution regions.

    Blank lines, comments, and lines that also occur outside the regions are
    left out, so the set can be searched for in an exercise without false alarms.
    """
    outside = {line.strip() for cell in pair.exercise.cells for line in cell.source.split("\n")}
    inside = {line.strip() for cell in pair.solution.cells for line in cell.source.split("\n")}
    return {line for line in inside - outside if len(line) >= 8 and not line.startswith("#")}


def _leaks(exercise_path: Path, pair: NotebookPair) -> list[str]:
    """Report solution markers or solution-only lines in a committed exercise."""
    notebook = nbformat.read(exercise_path, as_version=4)
    lines = {line.strip() for cell in notebook.cells for line in cell.source.split("\n")}
    problems = []
    if any(_MARKER.match(line) for line in lines):
        problems.append(f"{exercise_path} still contains solution markers")
    leaked = sorted(lines & solution_only_lines(pair))
    if leaked:
        problems.append(f"{exercise_path} contains solution text, e.g. {leaked[0]!r}")
    return problems
