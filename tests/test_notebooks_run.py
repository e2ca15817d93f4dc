"""Every lesson's notebooks run: solutions end to end, exercises up to their first stub.

Solution notebooks ``assert`` their lesson's quality bar in their last cells, so a
solution that runs but misses its bar fails here too.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO

nbclient = pytest.importorskip("nbclient")
from nbclient.exceptions import CellExecutionError  # noqa: E402

COURSE = REPO / "course"
LESSONS = sorted(p.stem for p in (COURSE / "lessons").glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT = 900  # seconds; generous for a loaded 2-core CI machine
STUB = "raise NotImplementedError()"


def run_until_error(path: Path) -> tuple[int | None, CellExecutionError | None]:
    """Execute a notebook cell by cell; return the index and error of the first failure."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
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
    index, error = run_until_error(COURSE / "solutions" / f"{lesson}.ipynb")
    assert error is None, f"solution cell {index} failed:\n{error}"


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
