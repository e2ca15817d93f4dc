"""The ``python -m authoring`` command: generate notebooks, build the site.

It only parses arguments and calls :mod:`authoring.notebooks` or :mod:`authoring.site`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main", "site_root"]


def _notebooks(args: argparse.Namespace) -> int:
    from authoring import notebooks

    course = notebooks.course_folder(args.course)
    if args.check:
        problems = notebooks.check(course)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        if problems:
            print(f"{len(problems)} problem(s) in {course}", file=sys.stderr)
            return 1
        print(f"all notebooks in {course} are up to date")
        return 0
    written = notebooks.build(course, args.only)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} notebook(s) written; the rest were already up to date")
    return 0


def _site(args: argparse.Namespace) -> int:
    from authoring import site

    root = Path(args.repo).expanduser().resolve() if args.repo else site_root()
    if not (root / "mkdocs.yml").is_file():
        raise FileNotFoundError(f"{root} is not a checkout of the course: it has no mkdocs.yml")
    try:
        out = site.build(
            root,
            Path(args.out) if args.out else None,
            execute=not args.no_execute,
            cache_dir=Path(args.cache) if args.cache else None,
            use_cache=not args.no_cache,
            log=print,
        )
    except site.SiteBuildError as error:
        print(f"site build: {error}", file=sys.stderr)
        return 1
    print(f"site and slide decks written to {out}")
    return 0


def site_root() -> Path:
    """Return the checkout holding mkdocs.yml, searching upwards from the working directory.

    Returns
    -------
    pathlib.Path
        The checkout's root folder.

    Raises
    ------
    FileNotFoundError
        If no folder at or above the working directory holds ``mkdocs.yml`` and ``slides/``.
    """
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "mkdocs.yml").is_file() and (folder / "slides").is_dir():
            return folder
    raise FileNotFoundError(
        f"no mkdocs.yml with a slides/ folder in {here} or above; run this from a checkout "
        "of the practicaltorch repository, or pass --repo PATH"
    )


def build_parser(prog: str = "python -m authoring") -> argparse.ArgumentParser:
    """Build the argument parser.

    Parameters
    ----------
    prog
        The program name shown in help and errors.

    Returns
    -------
    argparse.ArgumentParser
        With the ``notebooks`` and ``site`` commands.
    """
    parser = argparse.ArgumentParser(
        prog=prog, description="Authoring tools: lesson notebooks, slide decks and the website."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    notebooks = commands.add_parser(
        "notebooks",
        help="generate exercise and solution notebooks from the lesson sources",
        description="Generate course/exercises and course/solutions from course/lessons.",
    )
    notebooks.add_argument("action", choices=["build"], help="what to do")
    notebooks.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a notebook is stale or a marker is wrong",
    )
    notebooks.add_argument("--course", default=None, help="the course folder (default: found)")
    notebooks.add_argument(
        "--only", default=None, metavar="PREFIX", help="build only lessons starting with this"
    )
    notebooks.set_defaults(handler=_notebooks)

    site = commands.add_parser(
        "site",
        help="render both slide decks and the course website as static files",
        description="Render the slide decks and the website (with executed solutions) into one "
        "folder that works with no network; any broken link or failing notebook fails the build.",
    )
    site.add_argument("action", choices=["build"], help="what to do")
    site.add_argument("--out", default=None, help="output folder (default: build/site)")
    site.add_argument("--repo", default=None, help="the checkout (default: found)")
    site.add_argument(
        "--cache",
        default=None,
        help="the site build's cache of executed solutions (default: build/site-cache/executed)",
    )
    site.add_argument(
        "--no-cache", action="store_true", help="execute every solution afresh; cache nothing"
    )
    site.add_argument(
        "--no-execute",
        action="store_true",
        help="a quick preview: do not run solutions that have no current executed copy",
    )
    site.set_defaults(handler=_site)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m authoring") -> int:
    """Run the authoring command line; return the exit status.

    Parameters
    ----------
    argv
        The arguments; default ``sys.argv[1:]``.
    prog
        The program name shown in help and errors.

    Returns
    -------
    int
        0 on success, 1 when a check fails, 2 on bad input.
    """
    args = build_parser(prog).parse_args(argv)
    try:
        status: int = args.handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        print(f"{prog} {args.command}: {error}", file=sys.stderr)
        return 2
    return status
