"""Every lesson's notebooks run: solutions end to end, exercises up to their first stub.

Solution notebooks ``assert`` their lesson's quality bar in their last cells, so a
solution that runs but misses its bar fails here too. Each solution runs once per test
session, through the site build's cache of executed notebooks (:mod:`authoring.executed`):
the site test, perhaps on another worker, finds the run there, and a solution the site
test ran earlier in the session counts here.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from authoring import executed
from tests.conftest import REPO

nbclient = pytest.importorskip("nbclient")
from nbclient.exceptions import CellExecutionError  # noqa: E402

COURSE = REPO / "course"
LESSONS = sorted(p.stem for p in (COURSE / "lessons").glob("[0-9][0-9]_*.py"))
STUB = "raise NotImplementedError()"
SESSION_STARTED = time.time()


def run_until_error(path: Path) -> tuple[int | None, CellExecutionError | None]:
    """Execute a notebook cell by cell; return the index and error of the first failure."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=executed.CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as error:
                    return index, error
    finally:
        print(f"{path.relative_to(REPO)}: {time.perf_counter() - start:.1f} s")
    return None, None


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_runs_and_reaches_its_bar(lesson: str) -> None:
    start = time.perf_counter()
    try:
        source = COURSE / "solutions" / f"{lesson}.ipynb"
        executed.executed_copy(source, REPO, since=SESSION_STARTED)
    except executed.ExecutionError as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        print(f"solutions/{lesson}.ipynb: {time.perf_counter() - start:.1f} s")


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", LESSONS)
def test_exercise_runs_up_to_its_first_stub(lesson: str) -> None:
    path = COURSE / "exercises" / f"{lesson}.ipynb"
    cells = nbformat.read(path, as_version=4).cells
    first_stub = next(
        (i for i, c in enumerate(cells) if c.cell_type == "code" and STUB in c.source), None
    )
    assert first_stub is not None, f"{path.name} has no exercise stub"
    index, error = run_until_error(path)
    assert error is not None, "the exercise ran to the end: a solution has leaked"
    assert index == first_stub, (
        f"cell {index} failed before the first stub (cell {first_stub}):\n{error}"
    )
    assert error.ename == "NotImplementedError", str(error)
