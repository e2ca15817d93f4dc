"""Build the course website and both slide decks into one folder of static files.

The build runs with no network, in four steps:

1. draw the slide figures with ``slides/figures.py`` (matplotlib and PyTorch);
2. render ``slides/teaching.qmd`` and ``slides/applications.qmd`` to self-contained
   reveal.js HTML with pandoc (from the ``pypandoc-binary`` wheel), using reveal.js and
   KaTeX installed beforehand by ``npm ci --prefix slides``;
3. stage the website: ``docs/``, a page per lesson made from its executed worked
   solution, the exercises as downloads, the decks and the KaTeX assets;
4. build the site with MkDocs (material theme, mkdocs-jupyter) in strict mode, so a
   broken internal link fails the build, as does a solution notebook that fails.

Instructors with Quarto can render the decks with ``quarto render`` instead; the
``.qmd`` files are Quarto-compatible markdown.

Examples
--------
From a checkout, after ``npm ci --prefix slides``::

    python -m authoring site build       # writes build/site/index.html
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from authoring import executed

__all__ = [
    "DECKS",
    "Lesson",
    "SiteBuildError",
    "build",
    "find_lessons",
    "node_assets",
    "render_deck",
]

DECKS = ("teaching", "applications")
"""Slide decks, as stems of ``slides/<stem>.qmd``; rendered to ``decks/<stem>.html``."""

DECK_DIR = "decks"
"""Folder of the rendered decks inside the site."""

COLAB = "https://colab.research.google.com/github/practicaltorch/practicaltorch/blob/main"
"""Colab's address for the repository's notebooks on the main branch."""

_NPM_HINT = "install them with `npm ci --prefix slides` (needs network once)"


class SiteBuildError(RuntimeError):
    """The site could not be built; the message says what failed and what to do."""


@dataclass(frozen=True)
class Lesson:
    """One lesson of the course, as found on disk.

    Attributes
    ----------
    stem
        The lesson's file stem, for example ``"02_penguin_species"``.
    title
        The first heading of the solution notebook.
    solution
        The worked-solution notebook.
    exercise
        The exercise notebook (solutions stripped), offered as a download.
    """

    stem: str
    title: str
    solution: Path
    exercise: Path


def _title(notebook: NotebookNode, fallback: str) -> str:
    """Return the first markdown heading of ``notebook``, or ``fallback``."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        match = re.search(r"^#\s+(.+?)\s*$", cell.source, flags=re.MULTILINE)
        if match:
            return match.group(1)
    return fallback


def find_lessons(repo_root: Path) -> list[Lesson]:
    """Return the lessons of the checkout ``repo_root``, sorted by file name.

    Every lesson must have both a solution and an exercise notebook.

    Raises
    ------
    SiteBuildError
        If a lesson has a solution notebook but no exercise notebook, or none exist.
    """
    course = repo_root / "course"
    lessons = []
    for solution in sorted((course / "solutions").glob("[0-9][0-9]_*.ipynb")):
        exercise = course / "exercises" / solution.name
        if not exercise.is_file():
            raise SiteBuildError(
                f"{solution} has no exercise notebook {exercise}; "
                "run `python -m authoring notebooks build`"
            )
        notebook = nbformat.read(solution, as_version=4)
        lessons.append(Lesson(solution.stem, _title(notebook, solution.stem), solution, exercise))
    if not lessons:
        raise SiteBuildError(f"no lesson notebooks in {course / 'solutions'}")
    return lessons


def node_assets(repo_root: Path) -> tuple[Path, Path]:
    """Return the reveal.js and KaTeX folders installed by npm under ``slides/``.

    ``iframe-worker`` must be there too: it lets the site's search work from file://.

    Parameters
    ----------
    repo_root
        The repository checkout.

    Returns
    -------
    reveal, katex : pathlib.Path
        ``slides/node_modules/reveal.js`` and ``slides/node_modules/katex``.

    Raises
    ------
    SiteBuildError
        If either is missing, or reveal.js is not major version 5 (pandoc's
        template does not fit reveal.js 6).
    """
    modules = repo_root / "slides" / "node_modules"
    reveal, katex = modules / "reveal.js", modules / "katex"
    needs = [
        (reveal, "dist/reveal.js"),
        (katex, "dist/katex.min.js"),
        (modules / "iframe-worker", "shim/index.js"),
    ]
    for folder, needed in needs:
        if not (folder / needed).is_file():
            raise SiteBuildError(f"{folder / needed} is missing: {_NPM_HINT}")
    version = str(json.loads((reveal / "package.json").read_text())["version"])
    if not version.startswith("5."):
        raise SiteBuildError(f"reveal.js {version} found; the decks need reveal.js 5: {_NPM_HINT}")
    return reveal, katex


def pandoc_path() -> Path:
    """Return the pandoc executable shipped in the ``pypandoc-binary`` wheel.

    Raises
    ------
    SiteBuildError
        If ``pypandoc`` is not installed.
    """
    try:
        pypandoc = importlib.import_module("pypandoc")
    except ImportError as error:
        raise SiteBuildError("pandoc is needed: pip install pypandoc-binary") from error
    return Path(str(pypandoc.get_pandoc_path()))


def draw_figures(repo_root: Path, folder: Path) -> list[Path]:
    """Draw the slide figures with ``slides/figures.py`` into ``folder``.

    Parameters
    ----------
    repo_root
        The repository checkout.
    folder
        Where the PNG files go.

    Returns
    -------
    list of pathlib.Path
        The figures written.
    """
    source = repo_root / "slides" / "figures.py"
    spec = importlib.util.spec_from_file_location("_practicaltorch_slide_figures", source)
    if spec is None or spec.loader is None:
        raise SiteBuildError(f"cannot import {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    draw_all: Callable[[Path], list[Path]] = module.draw_all
    return draw_all(folder)


def render_deck(
    source: Path,
    target: Path,
    *,
    resource_path: list[Path],
    reveal: Path,
    katex: Path,
    pandoc: Path | None = None,
) -> Path:
    """Render one Quarto-style markdown deck to a self-contained reveal.js HTML file.

    Parameters
    ----------
    source
        The ``.qmd`` deck.
    target
        The HTML file to write; its folder is created if needed.
    resource_path
        Folders searched for the images the deck references (``figures/...``).
    reveal, katex
        The reveal.js 5 and KaTeX package folders (see :func:`node_assets`).
    pandoc
        The pandoc executable; default :func:`pandoc_path`.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    SiteBuildError
        If pandoc fails or warns (a missing image is a warning to pandoc).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(pandoc or pandoc_path()),
        str(source),
        "--from=markdown",
        "--to=revealjs",
        "--standalone",
        "--embed-resources",
        "--slide-level=2",
        f"--katex={katex / 'dist'}/",
        f"--resource-path={os.pathsep.join(str(p) for p in resource_path)}",
        f"--variable=revealjs-url={reveal}",
        f"--css={source.parent / 'deck.css'}",
        "--variable=theme=white",
        "--variable=slideNumber=true",
        "--variable=hash=true",
        "--variable=transition=none",
        "--fail-if-warnings",
        f"--output={target}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SiteBuildError(f"pandoc could not render {source.name}:\n{result.stderr}")
    return target


def solution_page(
    lesson: Lesson, repo_root: Path, *, execute: bool, cache_dir: Path | None
) -> tuple[NotebookNode, str]:
    """Return the notebook to show for a lesson's worked solution, and how it was obtained.

    A current executed copy in the site build's own cache is used if there is one.
    Otherwise the solution is executed (and cached), or, with ``execute=False``,
    shown without outputs.

    Parameters
    ----------
    lesson
        The lesson.
    repo_root
        The repository checkout.
    execute
        Whether to run a solution that has no current executed copy.
    cache_dir
        The cache of executed notebooks (see :mod:`authoring.executed`), or
        ``None`` to always execute.

    Returns
    -------
    notebook, how : nbformat.NotebookNode, str
        ``how`` is ``"cached"``, ``"executed"`` or ``"not executed"``.

    Raises
    ------
    SiteBuildError
        If the solution fails, or an executed copy holds an error output.
    """
    source = lesson.solution
    cached = None if cache_dir is None else executed.cached_copy(source, repo_root, cache_dir)
    try:
        if cached is not None:
            notebook, how = cached, "cached"
        elif not execute:
            notebook, how = nbformat.read(source, as_version=4), "not executed"
        elif cache_dir is None:
            notebook, how = executed.execute(source), "executed"
        else:
            notebook = executed.executed_copy(source, repo_root, cache_dir=cache_dir)
            how = "executed"
    except executed.ExecutionError as error:
        raise SiteBuildError(str(error)) from error
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise SiteBuildError(
                    f"{lesson.solution.name} cell {index} raised {output.get('ename')}: "
                    f"{output.get('evalue')}"
                )
    return notebook, how


def _copy_katex(katex: Path, target: Path) -> None:
    """Copy the KaTeX files the website loads (script, styles, fonts, auto-render)."""
    dist = katex / "dist"
    (target / "contrib").mkdir(parents=True, exist_ok=True)
    for name in ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js"):
        shutil.copy2(dist / name, target / name)
    shutil.copytree(dist / "fonts", target / "fonts", dirs_exist_ok=True)


def _lessons_index(lessons: list[Lesson]) -> str:
    """Return the markdown of the lessons overview page."""
    lines = [
        "# Lessons",
        "",
        "Each lesson is a Jupyter notebook with tasks for you to complete. Download the",
        "exercise notebook, open it in Jupyter (or upload it to Colab) and work through it",
        "from the top; the check cell under each task tells you whether your answer is right.",
        "The worked solution is shown here with the output it produced when this site was built.",
        "",
        "| lesson | worked solution | exercise | on Colab | solution notebook |",
        "| --- | --- | --- | --- | --- |",
    ]
    for lesson in lessons:
        lines.append(
            f"| {lesson.title} | [read it]({lesson.stem}.ipynb) "
            f"| [download](../downloads/exercises/{lesson.stem}.ipynb) "
            f"| [open]({COLAB}/course/exercises/{lesson.stem}.ipynb) "
            f"| [download](../downloads/solutions/{lesson.stem}.ipynb) |"
        )
    lines += [
        "",
        "New to the course? Start with [setting up](../setup.md), then lesson 00.",
        "The notebooks are generated from one source per lesson; see",
        "[how the lessons are built](../instructors.md#changing-a-lesson).",
        "",
    ]
    return "\n".join(lines)


def _nav_with_lessons(nav: list[Any], lessons: list[Lesson]) -> list[Any]:
    """Return ``nav`` with the ``Lessons`` entry expanded to one page per lesson."""
    pages: list[Any] = [{"Overview": "lessons/index.md"}]
    pages += [{lesson.title: f"lessons/{lesson.stem}.ipynb"} for lesson in lessons]
    expanded: list[Any] = []
    for item in nav:
        if isinstance(item, dict) and "Lessons" in item:
            expanded.append({"Lessons": pages})
        else:
            expanded.append(item)
    if not any(isinstance(item, dict) and "Lessons" in item for item in nav):
        raise SiteBuildError("mkdocs.yml: the nav needs a `Lessons` entry to expand")
    return expanded


class _Collect(logging.Handler):
    """Keep the warnings MkDocs logs, to report why a strict build failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _collect_warnings() -> Iterator[_Collect]:
    """Collect the warnings of the ``mkdocs`` logger while the block runs."""
    handler = _Collect()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def build_pages(config_file: Path, docs_dir: Path, site_dir: Path, lessons: list[Lesson]) -> None:
    """Build the MkDocs site from a staged ``docs_dir``, strictly.

    Parameters
    ----------
    config_file
        ``mkdocs.yml``; its ``docs_dir`` and ``site_dir`` are overridden.
    docs_dir
        The staged pages.
    site_dir
        Where the site is written.
    lessons
        The lessons whose pages are listed in the navigation.

    Raises
    ------
    SiteBuildError
        If MkDocs logs any warning (a broken link, a missing page, ...).
    """
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    with _collect_warnings() as warnings:
        try:
            config = load_config(
                str(config_file), docs_dir=str(docs_dir), site_dir=str(site_dir), strict=True
            )
            config["nav"] = _nav_with_lessons(config["nav"], lessons)
            mkdocs_build(config)
        except (MkDocsException, SystemExit) as error:
            details = "\n".join(f"  - {message}" for message in warnings.messages)
            raise SiteBuildError(f"the website build failed ({error}):\n{details}") from error


def build(
    repo_root: Path,
    out_dir: Path | None = None,
    *,
    execute: bool = True,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Render both decks and the whole website into one folder of static files.

    Parameters
    ----------
    repo_root
        The repository checkout (holding ``docs/``, ``slides/``, ``course/``, ``mkdocs.yml``).
    out_dir
        Where the site goes; default ``repo_root / "build" / "site"``. Replaced if present.
    execute
        Run every worked solution that has no current executed copy in the cache.
        With ``False``, such solutions appear without outputs (quick previews only).
    cache_dir
        The site build's cache of executed notebooks; default
        ``repo_root / "build" / "site-cache" / "executed"``.
    use_cache
        With ``False``, execute every solution afresh and cache nothing.
    log
        Called with one line per step, for progress; default: silent.

    Returns
    -------
    pathlib.Path
        The site folder; open ``index.html`` in a browser.

    Raises
    ------
    SiteBuildError
        If an asset is missing, a deck fails to render, a solution notebook fails,
        or the website has a broken internal link.
    """
    say = log or (lambda _message: None)
    started = time.perf_counter()
    repo_root = repo_root.resolve()
    out_dir = (out_dir or repo_root / "build" / "site").resolve()
    cache = (cache_dir or repo_root / executed.CACHE_DIR) if use_cache else None
    work = out_dir.parent / f"{out_dir.name}-work"
    shutil.rmtree(work, ignore_errors=True)
    stage = work / "docs"

    reveal, katex = node_assets(repo_root)
    shim = reveal.parent / "iframe-worker" / "shim" / "index.js"  # file:// search
    lessons = find_lessons(repo_root)
    pandoc = pandoc_path()

    say("drawing the slide figures")
    figures = draw_figures(repo_root, work / "slides" / "figures")
    say(f"  {len(figures)} figures")

    shutil.copytree(repo_root / "docs", stage)
    for deck in DECKS:
        say(f"rendering slides/{deck}.qmd")
        render_deck(
            repo_root / "slides" / f"{deck}.qmd",
            stage / DECK_DIR / f"{deck}.html",
            resource_path=[work / "slides", repo_root / "slides"],
            reveal=reveal,
            katex=katex,
            pandoc=pandoc,
        )

    _copy_katex(katex, stage / "assets" / "katex")
    shutil.copy2(shim, stage / "assets" / "javascripts" / "iframe-worker-shim.js")
    (stage / "lessons").mkdir(exist_ok=True)
    for folder in ("exercises", "solutions"):
        (stage / "downloads" / folder).mkdir(parents=True, exist_ok=True)
    for lesson in lessons:
        notebook, how = solution_page(lesson, repo_root, execute=execute, cache_dir=cache)
        say(f"lesson {lesson.stem}: solution {how}")
        nbformat.write(notebook, stage / "lessons" / f"{lesson.stem}.ipynb")
        shutil.copy2(lesson.exercise, stage / "downloads" / "exercises" / lesson.exercise.name)
        shutil.copy2(lesson.solution, stage / "downloads" / "solutions" / lesson.solution.name)
    (stage / "lessons" / "index.md").write_text(_lessons_index(lessons))

    say("building the website (strict)")
    shutil.rmtree(out_dir, ignore_errors=True)
    build_pages(repo_root / "mkdocs.yml", stage, out_dir, lessons)
    shutil.rmtree(work, ignore_errors=True)
    say(f"site written to {out_dir} in {time.perf_counter() - started:.0f} s")
    return out_dir
