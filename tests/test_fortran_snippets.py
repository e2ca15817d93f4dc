"""Every Fortran snippet shown to learners is part of a program the tests compile against FTorch.

The snippets in the lesson, the website and the slides are excerpts: each of their
lines appears, in the same order, in one of the Fortran programs that
``test_fortran.py`` (or lesson 09's tests) builds with the real FTorch and runs.
The one exception is a snippet marked as FTorch's unreleased API. The FTorch
version the course targets is stated once, in the note of ``docs/export.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from practicaltorch.export import FTORCH_VERSION
from tests.conftest import REPO

SHOWN = [
    REPO / "docs" / "export.md",
    REPO / "slides" / "applications.qmd",
    REPO / "course" / "lessons" / "06_saving_deploying.py",
]
COMPILED = sorted(
    [
        *(REPO / "course" / "fortran").rglob("*.f90"),
        *(REPO / "tests" / "native" / "fortran").glob("*.f90"),
    ]
)
CMAKE_FILES = sorted((REPO / "course" / "fortran").rglob("CMakeLists.txt"))
UNRELEASED = "not yet in a release"
VERSION_NOTE = "Which FTorch this course targets"


def text_of(path: Path) -> str:
    """The file's prose; for a lesson, its markdown cells without the ``# `` prefix."""
    text = path.read_text()
    if path.suffix == ".py":
        lines = [
            line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.splitlines()
        ]
        text = "\n".join(lines)
    return text


def blocks(path: Path, language: str) -> list[str]:
    fence = re.compile(rf"^( *)```{language}\n(.*?)^\1```", re.M | re.S)
    return [match.group(2) for match in fence.finditer(text_of(path))]


def code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def is_excerpt(snippet: str, source: str) -> bool:
    """Whether every line of ``snippet`` appears in ``source`` in the same order."""
    remaining = iter(code_lines(source))
    return all(any(line == candidate for candidate in remaining) for line in code_lines(snippet))


def shown_snippets(language: str) -> list[tuple[str, str]]:
    return [
        (f"{path.relative_to(REPO)} #{i}", block)
        for path in SHOWN
        for i, block in enumerate(blocks(path, language), 1)
    ]


def params(language: str) -> list[object]:
    return [pytest.param(name, block, id=name) for name, block in shown_snippets(language)]


def test_snippets_are_found() -> None:
    found = shown_snippets("fortran")
    assert len(found) >= 6, found  # docs (4), slides (2), lesson (1)
    assert {name.split(" #")[0] for name, _ in found} == {str(p.relative_to(REPO)) for p in SHOWN}
    assert REPO / "course" / "fortran" / "penguins" / "penguins.f90" in COMPILED


@pytest.mark.parametrize(("name", "snippet"), params("fortran"))
def test_fortran_snippet_is_compiled(name: str, snippet: str) -> None:
    if UNRELEASED in snippet:
        assert "permute_dims" in snippet, f"{name} is marked unreleased but uses the released API"
        return
    assert "permute_dims" not in snippet, f"{name} uses FTorch's unreleased API unmarked"
    sources = [path for path in COMPILED if is_excerpt(snippet, path.read_text())]
    assert sources, f"{name} is not an excerpt of any compiled program:\n{snippet}"


@pytest.mark.parametrize(("name", "snippet"), params("cmake"))
def test_cmake_snippet_is_a_tested_project(name: str, snippet: str) -> None:
    assert any(is_excerpt(snippet, path.read_text()) for path in CMAKE_FILES), name


def test_excerpt_check_can_fail() -> None:
    assert is_excerpt("b\n\nd", "a\nb\nc\nd")
    assert not is_excerpt("d\nb", "a\nb\nc\nd")
    assert not is_excerpt("call torch_tensor_from_array(x)", "call torch_model_forward(m)")


def test_ftorch_version_is_stated_in_one_place() -> None:
    version = re.compile(r"FTorch v?1\.\d|v1\.\d\.\d")
    note_files = [path for path in SHOWN if VERSION_NOTE in path.read_text()]
    assert note_files == [REPO / "docs" / "export.md"]
    note = (REPO / "docs" / "export.md").read_text().split(VERSION_NOTE)[1].split("\n\n")[0]
    assert f"FTorch {FTORCH_VERSION}" in note and "permute_dims" in note and UNRELEASED in note
    for path in [*SHOWN, REPO / "README.md"]:
        text = path.read_text().replace(note, "")
        assert not version.search(text), f"{path.name} states an FTorch version outside the note"
