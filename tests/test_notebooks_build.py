"""Generating exercise and solution notebooks from one lesson source."""

from pathlib import Path

import nbformat
import pytest

from authoring import notebooks
from authoring.cli import main
from practicaltorch.cli import main as practicaltorch_main
from tests.conftest import REPO

LESSON = """# %% [markdown]
# # A tiny lesson
# Fit a line.

# %%
import math

# %%
def slope(points):
    ### BEGIN SOLUTION
    (x0, y0), (x1, y1) = points
    return (y1 - y0) / (x1 - x0)
    ### END SOLUTION

# %% [markdown]
# Why is the slope positive?
#
# ### BEGIN SOLUTION
# Because y grows with x.
# ### END SOLUTION

# %%
assert math.isclose(slope([(0, 0), (1, 2)]), 2.0)
"""


def make_course(tmp_path: Path, text: str = LESSON) -> Path:
    course = tmp_path / "course"
    (course / "lessons").mkdir(parents=True)
    (course / "lessons" / "00_tiny.py").write_text(text)
    return course


def test_build_writes_stubbed_exercise_and_full_solution(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    written = notebooks.build(course)
    assert len(written) == 2
    exercise = nbformat.read(course / "exercises" / "00_tiny.ipynb", as_version=4)
    solution = nbformat.read(course / "solutions" / "00_tiny.ipynb", as_version=4)
    assert [c.cell_type for c in exercise.cells] == [c.cell_type for c in solution.cells]
    code = exercise.cells[4].source
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in code, "indentation kept"
    assert "return" not in code
    assert "_Your answer here._" in exercise.cells[5].source
    assert "Because y grows" in solution.cells[5].source
    assert "BEGIN SOLUTION" not in solution.cells[4].source
    assert "return (y1 - y0)" in solution.cells[4].source
    assert all(c.get("outputs", []) == [] for c in exercise.cells)
    assert notebooks.check(course) == []
    assert notebooks.build(course) == [], "rebuilding changes nothing"


def test_every_notebook_gets_the_colab_cells_after_its_title(tmp_path: Path) -> None:
    pair = notebooks.lesson_notebooks(make_course(tmp_path) / "lessons" / "00_tiny.py")
    for notebook in (pair.exercise, pair.solution):
        assert [c.cell_type for c in notebook.cells[:4]] == ["markdown", "markdown", "code", "code"]
        assert notebook.cells[0].source.startswith("# A tiny lesson")
        assert notebook.cells[1].source.startswith("## Running on Colab?")
        assert f"git+https://github.com/{notebooks.REPOSITORY}@main" in notebook.cells[2].source
        assert notebook.cells[3].source == "import math"


def test_check_finds_a_notebook_built_before_the_colab_cells_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = make_course(tmp_path)
    notebooks.build(course)
    template = tmp_path / "colab_install.py"
    template.write_text(notebooks.COLAB_CELLS.read_text().replace("@main", "@v2"))
    monkeypatch.setattr(notebooks, "COLAB_CELLS", template)
    assert any("00_tiny.ipynb is stale" in p for p in notebooks.check(course))


def test_the_course_notebooks_have_the_colab_cells_and_no_lesson_copies_them() -> None:
    code = notebooks.COLAB_CELLS.read_text().split("# %%\n")[1].strip()
    course = REPO / "course"
    for source in sorted((course / "lessons").glob("[0-9][0-9]_*.py")):
        assert "google.colab" not in source.read_text(), f"{source.name} copies the Colab cell"
        for folder in ("exercises", "solutions"):
            notebook = nbformat.read(course / folder / f"{source.stem}.ipynb", as_version=4)
            assert notebook.cells[1].source.startswith("## Running on Colab?"), source.stem
            assert notebook.cells[2].source == code, f"{folder}/{source.stem}.ipynb"


def test_check_finds_stale_missing_and_orphaned(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    notebooks.build(course)
    lesson = course / "lessons" / "00_tiny.py"
    lesson.write_text(lesson.read_text().replace("Fit a line.", "Fit a straight line."))
    (course / "solutions" / "99_orphan.ipynb").write_text("{}")
    problems = notebooks.check(course)
    assert any("00_tiny.ipynb is stale" in p for p in problems)
    assert any("99_orphan.ipynb has no lesson" in p for p in problems)
    (course / "exercises" / "00_tiny.ipynb").unlink()
    assert any("is missing" in p for p in notebooks.check(course))


def test_check_finds_solution_text_in_an_exercise(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    notebooks.build(course)
    path = course / "exercises" / "00_tiny.ipynb"
    exercise = nbformat.read(path, as_version=4)
    exercise.cells[4].source += "\n    return (y1 - y0) / (x1 - x0)"
    nbformat.write(exercise, path)
    assert any("contains solution text" in p for p in notebooks.check(course))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("# %%\nx = 0\n### BEGIN SOLUTION\nx = 1\n", 3, "never closed"),
        ("# %%\nx = 1\n### END SOLUTION\n", 3, "without a ### BEGIN"),
        ("# %%\n### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", 3, "must not nest"),
        ("# %%\n### BEGIN SOLUTION\nx = 1\n# %%\n### END SOLUTION\n", 2, "before the next cell"),
        ("# %%\n### BEGIN SOLUTON\nx = 1\n### END SOLUTION\n", 2, "looks like a solution marker"),
        ("# %%\n### BEGIN SOLUTION\nx = 1\n### END SOLUTIN\n", 4, "looks like a solution marker"),
        ("# %% [markdown]\n# ## BEGIN SOLUTION\n# An answer.\n", 2, "looks like a solution marker"),
        ("# %%\n# BEGIN SOLUTION\nx = 1\n", 2, "looks like a solution marker"),
    ],
)
def test_marker_errors_name_the_lesson_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    course = make_course(tmp_path, LESSON + "\n" + text)
    line += LESSON.count("\n") + 1
    with pytest.raises(notebooks.MarkerError, match=rf"00_tiny\.py, line {line}: .*{message}"):
        notebooks.build(course)
    problems = notebooks.check(course)
    assert len(problems) == 1 and message in problems[0], "and no false 'no lesson' problems"


def test_check_of_a_lesson_with_bad_markers_reports_no_orphans(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    notebooks.build(course)
    lesson = course / "lessons" / "00_tiny.py"
    lesson.write_text(lesson.read_text().replace("### END SOLUTION", "### END SOLUTON", 1))
    problems = notebooks.check(course)
    assert len(problems) == 1 and "looks like a solution marker" in problems[0]


def test_a_misspelt_marker_never_leaks_the_answer(tmp_path: Path) -> None:
    course = make_course(tmp_path, LESSON.replace("### BEGIN SOLUTION", "### BEGIN SOLUTON", 1))
    with pytest.raises(notebooks.MarkerError):
        notebooks.build(course)
    assert not (course / "exercises").exists(), "nothing is written"


def test_cli_errors_for_a_missing_or_empty_course(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notebooks", "build", "--check", "--course", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["notebooks", "build", "--course", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["notebooks", "build", "--check", "--course", str(tmp_path)]) == 2
    assert "no lessons/ folder" in capsys.readouterr().err
    (tmp_path / "lessons").mkdir()
    assert main(["notebooks", "build", "--check", "--course", str(tmp_path)]) == 1
    assert "no lessons (NN_name.py)" in capsys.readouterr().err
    course = make_course(tmp_path / "c")
    assert main(["notebooks", "build", "--only", "07", "--course", str(course)]) == 2
    assert "no lessons starting with '07'" in capsys.readouterr().err


def test_cli_marker_error_is_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    course = make_course(tmp_path, LESSON.replace("### END SOLUTION", "### END SOLUTON", 1))
    assert main(["notebooks", "build", "--course", str(course)]) == 2
    err = capsys.readouterr().err
    assert "00_tiny.py, line" in err and "Traceback" not in err


def test_cli_build_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    course = make_course(tmp_path)
    assert main(["notebooks", "build", "--check", "--course", str(course)]) == 1
    assert "is missing" in capsys.readouterr().err
    assert main(["notebooks", "build", "--course", str(course)]) == 0
    assert main(["notebooks", "build", "--check", "--course", str(course)]) == 0


def test_practicaltorch_notebooks_forwards_to_the_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    course = make_course(tmp_path)
    assert practicaltorch_main(["notebooks", "build", "--course", str(course)]) == 0
    assert "2 notebook(s) written" in capsys.readouterr().out
    assert practicaltorch_main(["notebooks", "build", "--check", "--course", str(course)]) == 0


def test_practicaltorch_notebooks_outside_a_checkout_says_how_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from practicaltorch import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "__file__", str(tmp_path / "site-packages" / "p" / "cli.py"))
    assert practicaltorch_main(["notebooks", "build"]) == 2
    err = capsys.readouterr().err
    assert "from a checkout" in err and "python -m authoring notebooks" in err


def test_readme_lesson_table_is_generated_and_checked(tmp_path: Path) -> None:
    course = make_course(
        tmp_path, LESSON.replace("# Fit a line.", "# **Time:** about 5 minutes.\n# Fit a line.")
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# Course\n\n{notebooks.TABLE_START}\nold\n{notebooks.TABLE_END}\n\nMore.\n")
    notebooks.build(course)
    text = readme.read_text()
    assert "| 00 | A tiny lesson | about 5 minutes |" in text
    assert "colab.research.google.com/github/" in text and "/course/exercises/00_tiny.ipynb" in text
    assert text.endswith("\n\nMore.\n") and "old" not in text
    assert notebooks.check(course) == []
    readme.write_text(text.replace("about 5 minutes", "about 9 minutes"))
    assert any("lesson table" in p for p in notebooks.check(course))


def test_repository_readme_table_matches_the_lessons() -> None:
    readme = (REPO / "README.md").read_text()
    assert notebooks.TABLE_START in readme, "README.md shows the lesson table"
    for source in sorted((REPO / "course" / "lessons").glob("[0-9][0-9]_*.py")):
        assert f"course/exercises/{source.stem}.ipynb" in readme
