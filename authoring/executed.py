"""Executed solution notebooks, run once and kept in the site build's own cache.

Running every worked solution takes minutes. :func:`executed_copy` runs a notebook in a
fresh kernel and keeps the executed copy in a cache folder that belongs to the site
build (``build/site-cache/executed`` by default). Each copy is stamped with a key: the
SHA-256 of the notebook, of every file the notebooks run (the library's sources, the
course's scripts and Fortran programs: :data:`INPUTS`) and of the Python, torch and
torchvision versions, so a copy is reused only while none of them has changed.

The site build takes any current copy. The notebook tests take only a copy made during
their own test session (``since``), so each solution runs at least once per session,
and the site test then finds them all. A lock file per notebook keeps two processes
(two pytest-xdist workers, say) from running the same notebook at once: the second
waits, then takes the first's copy.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import platform
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import nbformat
from filelock import FileLock
from nbformat import NotebookNode

__all__ = [
    "CACHE_DIR",
    "CELL_TIMEOUT",
    "INPUTS",
    "ExecutionError",
    "cache_key",
    "cached_copy",
    "execute",
    "executed_copy",
    "load_executed",
    "save_executed",
]

CACHE_DIR = Path("build") / "site-cache" / "executed"
"""Where the site build keeps executed notebooks, relative to the repository root."""

CELL_TIMEOUT = 900
"""Seconds a cell may run before the execution gives up on it (a loaded 2-core machine)."""

INPUTS = (Path("src") / "practicaltorch", Path("course") / "scripts", Path("course") / "fortran")
"""Folders, relative to the repository root, whose files the notebooks' outputs depend on."""

_STAMP = "practicaltorch_cache_key"
_VERSIONED = ("torch", "torchvision")


class ExecutionError(RuntimeError):
    """A notebook failed to run; the message names the cell and the error."""


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def cache_key(source: Path, folders: Sequence[Path] = ()) -> str:
    """Return the key an executed copy of ``source`` is valid for.

    Parameters
    ----------
    source
        The notebook file.
    folders
        Folders whose files the notebook's outputs depend on (the checkout's
        :data:`INPUTS`); every file in them counts, by name and content, except
        Python's ``__pycache__``.

    Returns
    -------
    str
        A SHA-256 hex digest of the notebook, those files and the versions.
    """
    digest = hashlib.sha256(source.read_bytes())
    versions = [platform.python_version(), *(_version(name) for name in _VERSIONED)]
    digest.update(" ".join(versions).encode())
    for folder in folders:
        files = (p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in sorted(files):
            digest.update(f"{folder.name}/{path.relative_to(folder).as_posix()}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def save_executed(notebook: NotebookNode, source: Path, folder: Path, key: str) -> Path:
    """Save an executed notebook into the cache, stamped with ``key``, atomically.

    Parameters
    ----------
    notebook
        The notebook with its outputs.
    source
        The notebook file it was executed from; the copy gets the same name.
    folder
        The cache folder; created if needed.
    key
        From :func:`cache_key`.

    Returns
    -------
    pathlib.Path
        The saved file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    notebook.metadata[_STAMP] = key
    target = folder / source.name
    handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{source.stem}-", suffix=".partial")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        nbformat.write(notebook, file)
    os.replace(partial, target)
    return target


def load_executed(source: Path, folder: Path, key: str) -> NotebookNode | None:
    """Return the cached executed copy of ``source`` if its key matches, else ``None``.

    Parameters
    ----------
    source
        The notebook whose executed copy is wanted.
    folder
        The cache folder.
    key
        From :func:`cache_key`.

    Returns
    -------
    nbformat.NotebookNode or None
        The executed notebook, or ``None`` if there is no current copy.
    """
    target = folder / source.name
    if not target.is_file():
        return None
    try:
        notebook: NotebookNode = nbformat.read(target, as_version=4)
    except Exception:  # a damaged cache entry is simply not used
        return None
    if notebook.metadata.get(_STAMP) != key:
        return None
    return notebook


def execute(path: Path) -> NotebookNode:
    """Run the notebook at ``path`` in a fresh ``python3`` kernel, in its own folder.

    Returns the notebook with its outputs.

    Raises
    ------
    ExecutionError
        If a cell raises or times out, or the kernel dies.
    """
    nbclient = importlib.import_module("nbclient")
    notebook: NotebookNode = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except Exception as error:  # nbclient raises CellExecutionError, timeouts, kernel deaths
        raise ExecutionError(f"{path} failed to run:\n{error}") from error
    return notebook


def _key(source: Path, repo_root: Path) -> str:
    return cache_key(source, [repo_root / f for f in INPUTS if (repo_root / f).is_dir()])


def cached_copy(
    source: Path, repo_root: Path, cache_dir: Path | None = None
) -> NotebookNode | None:
    """Return the current executed copy of ``source`` from the cache, or ``None``; runs nothing.

    ``repo_root`` is the checkout (the files of its :data:`INPUTS` are part of the key);
    ``cache_dir`` defaults to ``repo_root / CACHE_DIR``.
    """
    return load_executed(source, cache_dir or repo_root / CACHE_DIR, _key(source, repo_root))


def executed_copy(
    source: Path,
    repo_root: Path,
    *,
    reuse: bool = True,
    since: float | None = None,
    cache_dir: Path | None = None,
) -> NotebookNode:
    """Return ``source`` executed: the cached copy when ``reuse`` and current, else run and cached.

    Parameters
    ----------
    source
        The notebook.
    repo_root
        The checkout; the files of its :data:`INPUTS` are part of the key.
    reuse
        Whether a current cached copy may stand in for running the notebook.
    since
        If given, reuse only a copy saved at or after this time (``time.time()``),
        for example one executed earlier in the same test session.
    cache_dir
        The cache folder; default ``repo_root / CACHE_DIR``.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook.

    Raises
    ------
    ExecutionError
        If the notebook fails to run (nothing is cached then).
    """
    folder = cache_dir or repo_root / CACHE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / f".{source.name}.lock"):
        key = _key(source, repo_root)
        target = folder / source.name
        fresh = since is None or (target.is_file() and target.stat().st_mtime >= since)
        cached = load_executed(source, folder, key) if reuse and fresh else None
        if cached is not None:
            return cached
        notebook = execute(source)
        save_executed(notebook, source, folder, key)
        return notebook
