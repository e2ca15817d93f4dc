"""The site build's own cache of executed solution notebooks.

Running every worked solution takes minutes, so the site build keeps each one it
executed in a cache folder it owns (``build/site-cache/executed`` by default).
Each copy is stamped with a key made of the SHA-256 of the notebook it was run
from and of the library's source files, so a copy is reused only while neither
has changed. Nothing else writes to this folder: the tests do not.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = ["CACHE_DIR", "cache_key", "load_executed", "save_executed"]

CACHE_DIR = Path("build") / "site-cache" / "executed"
"""Where the site build keeps executed notebooks, relative to the repository root."""

_STAMP = "practicaltorch_cache_key"


def cache_key(source: Path, library: Path | None = None) -> str:
    """Return the key an executed copy of ``source`` is valid for.

    Parameters
    ----------
    source
        The notebook file.
    library
        A source folder whose ``.py`` files the notebook's outputs depend on
        (the checkout's ``src/practicaltorch``), or ``None``.

    Returns
    -------
    str
        A SHA-256 hex digest of the notebook's bytes and the library's files.
    """
    digest = hashlib.sha256(source.read_bytes())
    if library is not None:
        for path in sorted(library.rglob("*.py")):
            digest.update(str(path.relative_to(library)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def save_executed(notebook: NotebookNode, source: Path, folder: Path, key: str) -> Path:
    """Save an executed notebook into the cache, stamped with ``key``.

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
    partial = target.with_suffix(".partial")
    nbformat.write(notebook, partial)
    partial.replace(target)
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
