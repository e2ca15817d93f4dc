"""The website and slide decks build offline, and render in a real (headless) browser.

The browser test opens every page of the site and every slide of both decks in
Debian's Chromium, driven by playwright, and fails on console errors, requests that
leave the machine, missing images, unrendered math and dead internal links. It saves
screenshots of the home page and the first slide of each deck under
``build/screenshots/`` for a person to look at.

Without Chromium, pandoc, MkDocs or the npm assets the tests are skipped, saying
what is missing, unless the environment variable ``CI`` is set: then they fail.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from authoring import site
from tests.conftest import REPO
from tests.mirror import serve_folder

CHROMIUM = os.environ.get("PRACTICALTORCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "build" / "screenshots"
RAW_MATH = ("$$", "\\[", "\\(")


def _missing() -> list[str]:
    """Return what the site tests need and this machine lacks."""
    missing = []
    for module, package in [
        ("pypandoc", "pypandoc-binary"),
        ("mkdocs", "mkdocs"),
        ("material", "mkdocs-material"),
        ("mkdocs_jupyter", "mkdocs-jupyter"),
        ("playwright", "playwright"),
        ("nbclient", "nbclient"),
    ]:
        if importlib.util.find_spec(module) is None:
            missing.append(f"pip install {package}")
    if not Path(CHROMIUM).is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        site.node_assets(REPO)
    except site.SiteBuildError as error:
        missing.append(str(error))
    return missing


def _require_tools() -> None:
    missing = _missing()
    if not missing:
        return
    reason = "site build/browser test needs: " + "; ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def test_decks_state_the_correct_update_rule() -> None:
    """Each parameter moves against its own gradient (one seed deck had it wrong)."""
    text = (REPO / "slides" / "teaching.qmd").read_text()
    assert re.search(r"m \\leftarrow m - \\eta\\,\\frac\{\\partial L\}\{\\partial m\}", text)
    assert re.search(r"c \\leftarrow c - \\eta\\,\\frac\{\\partial L\}\{\\partial c\}", text)


def test_decks_use_only_local_images() -> None:
    for deck in site.DECKS:
        text = (REPO / "slides" / f"{deck}.qmd").read_text()
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text):
            assert target.startswith("figures/"), f"{deck}: image {target} is not ours"
            stem = Path(target).stem
            assert stem in _figure_names(), f"{deck}: no figure function draws {target}"


@functools.cache
def _figure_names() -> frozenset[str]:
    source = (REPO / "slides" / "figures.py").read_text()
    block = source[source.index("FIGURES: dict") :]
    return frozenset(re.findall(r'"(\w+)":', block[: block.index("}")]))


def test_broken_internal_link_fails_the_build(tmp_path: Path) -> None:
    _require_tools()
    docs = tmp_path / "docs"
    (docs / "lessons").mkdir(parents=True)
    (docs / "index.md").write_text("# Home\n\nSee [a page that is not there](missing.md).\n")
    (docs / "lessons" / "index.md").write_text("# Lessons\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        "site_name: t\nstrict: true\nvalidation:\n  unrecognized_links: warn\n"
        "nav:\n  - Home: index.md\n  - Lessons: lessons/index.md\n"
    )
    with pytest.raises(site.SiteBuildError, match=r"missing\.md"):
        site.build_pages(config, docs, tmp_path / "site", [])


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the whole site once, reusing the site build's own cache of executed solutions."""
    _require_tools()
    prebuilt = os.environ.get("PRACTICALTORCH_SITE_DIR")  # test a site built earlier
    if prebuilt:
        return Path(prebuilt)
    out = tmp_path_factory.mktemp("site") / "site"
    return site.build(REPO, out, execute=True, log=print)


@pytest.fixture(scope="module")
def server(built_site: Path) -> Iterator[str]:
    """Serve the built site on localhost; yield its base address."""
    with serve_folder(built_site) as address:
        yield address


def test_site_has_every_part(built_site: Path) -> None:
    for page in ["index", "setup", "slides", "instructors", "cite", "export", "lessons/index"]:
        assert (built_site / f"{page}.html").is_file(), page
    for deck in site.DECKS:
        assert (built_site / site.DECK_DIR / f"{deck}.html").is_file(), deck
    for lesson in site.find_lessons(REPO):
        assert (built_site / "lessons" / f"{lesson.stem}.html").is_file()
        assert (built_site / "downloads" / "exercises" / f"{lesson.stem}.ipynb").is_file()
    for html in built_site.rglob("*.html"):
        text = html.read_text(errors="replace")
        assert "fonts.googleapis" not in text, f"{html} loads Google fonts"
        assert not re.search(r"<script[^>]+src=\"https?://", text), f"{html} loads remote JS"


# JavaScript run in each page: what a reader would notice is broken.
_PAGE_PROBLEMS = """
(root) => {
  const problems = [];
  const scope = root ? document.querySelector(root) : document;
  for (const img of scope.querySelectorAll("img")) {
    if (!img.complete || img.naturalWidth === 0) problems.push("missing image " + img.src);
  }
  for (const err of scope.querySelectorAll(".katex-error")) {
    problems.push("KaTeX error: " + err.getAttribute("title"));
  }
  const clone = scope.cloneNode(true);
  for (const el of clone.querySelectorAll(".katex, pre, code, script, style, textarea")) {
    el.remove();
  }
  const text = clone.textContent || "";
  for (const raw of RAW_MATH) {
    const at = text.indexOf(raw);
    if (at >= 0) problems.push("unrendered math: ..." + text.slice(Math.max(0, at - 40), at + 40));
  }
  return problems;
}
""".replace("RAW_MATH", json.dumps(list(RAW_MATH)))

_LINKS = "() => Array.from(document.querySelectorAll('a[href]'), a => a.href)"


def _local_target(built_site: Path, base: str, url: str) -> Path | None:
    """Return the file an internal address points at, or None for external ones."""
    if not url.startswith(base):
        return None
    path = unquote(urlsplit(url).path)[len(urlsplit(base).path) :]
    target = built_site / path
    return target / "index.html" if path == "" or path.endswith("/") else target


def test_every_page_and_slide_renders_in_chromium(built_site: Path, server: str) -> None:
    from playwright.sync_api import ConsoleMessage, Request, Response, sync_playwright

    problems: list[str] = []
    current = {"url": ""}

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"{current['url']}: console error: {message.text}")

    def on_request(request: Request) -> None:
        if not request.url.startswith((server, "data:", "blob:", "about:")):
            problems.append(f"{current['url']}: request leaves the machine: {request.url}")

    def on_failed(request: Request) -> None:
        if request.failure != "net::ERR_ABORTED":  # cancelled by leaving the page: no defect
            problems.append(f"{current['url']}: request failed: {request.url} {request.failure}")

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            problems.append(f"{current['url']}: HTTP {response.status} for {response.url}")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"{current['url']}: {error}"))
        page.on("request", on_request)
        page.on("requestfailed", on_failed)
        page.on("response", on_response)
        page.route(re.compile(r"^(?!http://127\.0\.0\.1)https?://.*"), lambda route: route.abort())

        # Every page reachable from the home page, following internal links.
        queue, seen, pages = [server + "index.html"], set(), 0
        decks = {server + f"{site.DECK_DIR}/{deck}.html" for deck in site.DECKS}
        while queue:
            url = queue.pop(0).split("#")[0]
            if url in seen or url in decks:
                continue
            seen.add(url)
            current["url"] = url
            response = page.goto(url, wait_until="load")
            assert response is not None
            if response.status >= 400:
                problems.append(f"{url}: HTTP {response.status}")
                continue
            page.wait_for_timeout(100)  # let KaTeX run
            pages += 1
            problems += [f"{url}: {p}" for p in page.evaluate(_PAGE_PROBLEMS, None)]
            if url == server + "index.html":
                page.screenshot(path=str(SCREENSHOTS / "home.png"))
            for link in page.evaluate(_LINKS):
                target = _local_target(built_site, server, link.split("#")[0])
                if target is None:
                    continue
                if not target.exists():
                    problems.append(f"{url}: dead link {link}")
                elif target.suffix == ".html":
                    queue.append(link)

        # Every slide of each deck.
        slides = {}
        for deck in site.DECKS:
            url = server + f"{site.DECK_DIR}/{deck}.html"
            current["url"] = url
            page.goto(url, wait_until="load")
            page.wait_for_function("() => window.Reveal && Reveal.isReady()")
            total = page.evaluate("() => Reveal.getTotalSlides()")
            for number in range(total):
                page.evaluate(
                    "(i) => { const s = Reveal.getSlides()[i];"
                    " const at = Reveal.getIndices(s); Reveal.slide(at.h, at.v); }",
                    number,
                )
                page.wait_for_timeout(50)
                where = f"{deck} slide {number + 1}"
                problems += [
                    f"{where}: {p}"
                    for p in page.evaluate(_PAGE_PROBLEMS, ".reveal .slides section.present")
                ]
                overflow = page.evaluate(
                    "() => { const s = Reveal.getCurrentSlide();"
                    " return s.scrollHeight - Reveal.getConfig().height; }"
                )
                if overflow > 10:
                    problems.append(f"{where}: content overflows the slide by {overflow}px")
                if number == 0:
                    page.screenshot(path=str(SCREENSHOTS / f"{deck}-first-slide.png"))
            slides[deck] = total
        browser.close()

    print(f"checked {pages} pages and {slides} slides; screenshots in {SCREENSHOTS}")
    assert pages >= 8
    assert all(count >= 10 for count in slides.values()), slides
    assert not problems, "\n".join(problems)


@pytest.fixture(autouse=True, scope="module")
def _tidy_screenshots() -> Iterator[None]:
    yield
    if SCREENSHOTS.exists() and not any(SCREENSHOTS.iterdir()):
        shutil.rmtree(SCREENSHOTS)


def test_executed_cache_is_keyed_on_the_notebook_and_every_file_it_runs(tmp_path: Path) -> None:
    import nbformat

    from authoring import executed

    source = tmp_path / "00_lesson.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), source)
    library, scripts = tmp_path / "lib", tmp_path / "scripts"
    library.mkdir()
    scripts.mkdir()
    (library / "a.py").write_text("x = 1\n")
    (scripts / "model.f90").write_text("program p\nend program p\n")
    folders = [library, scripts]
    cache = tmp_path / "cache"
    key = executed.cache_key(source, folders)
    ran = nbformat.read(source, as_version=4)
    ran.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"})]
    executed.save_executed(ran, source, cache, key)
    assert executed.load_executed(source, cache, key) is not None
    (library / "__pycache__").mkdir()
    (library / "__pycache__" / "a.pyc").write_bytes(b"bytecode")
    assert executed.cache_key(source, folders) == key  # bytecode is not an input
    (scripts / "model.f90").write_text("program q\nend program q\n")  # not a .py file
    assert executed.load_executed(source, cache, executed.cache_key(source, folders)) is None
    (scripts / "model.f90").write_text("program p\nend program p\n")
    (library / "a.py").write_text("x = 2\n")
    assert executed.load_executed(source, cache, executed.cache_key(source, folders)) is None
    source.write_text(source.read_text().replace("1 + 1", "1 + 2"))
    assert executed.load_executed(source, cache, executed.cache_key(source)) is None
    (cache / source.name).write_text("{not json")
    assert executed.load_executed(source, cache, key) is None


def test_executed_copy_runs_caches_and_reuses_only_when_asked(tmp_path: Path) -> None:
    """The notebook tests always run (reuse=False); the site build takes their copy."""
    import nbformat

    from authoring import executed

    counter = tmp_path / "runs.txt"
    source = tmp_path / "00_lesson.ipynb"
    code = f"import pathlib\np = pathlib.Path({str(counter)!r})\np.write_text(p.read_text() + 'x')"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), source)
    counter.write_text("")
    cache = tmp_path / "cache"
    for reuse in (False, False, True, True):
        executed.executed_copy(source, tmp_path, reuse=reuse, cache_dir=cache)
    assert counter.read_text() == "xx"  # run twice, then served from the cache twice
    executed.executed_copy(source, tmp_path, since=time.time() + 60, cache_dir=cache)
    executed.executed_copy(source, tmp_path, since=time.time() - 60, cache_dir=cache)
    assert counter.read_text() == "xxx"  # a copy older than `since` is run again
    assert not list(cache.glob("*.partial"))  # no partial file left

    with ThreadPoolExecutor(2) as pool:  # two callers at once: one runs, the other waits
        source.write_text(source.read_text().replace("'x'", "'y'"))
        list(pool.map(lambda _: executed.executed_copy(source, tmp_path, cache_dir=cache), "ab"))
    assert counter.read_text() == "xxxy"

    broken = tmp_path / "01_broken.ipynb"
    cell = nbformat.v4.new_code_cell("raise ValueError('bar missed')")
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), broken)
    with pytest.raises(executed.ExecutionError, match="bar missed"):
        executed.executed_copy(broken, tmp_path, cache_dir=cache)
    assert not (cache / broken.name).exists()


def test_site_build_of_a_folder_that_is_not_a_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from authoring.cli import main

    assert main(["site", "build", "--repo", str(tmp_path)]) == 2
    assert "not a checkout of the course" in capsys.readouterr().err
