"""Executed solution notebooks, kept so that the website need not run them twice.

The notebook tests execute every worked solution. Each one that runs to the end
is saved under :data:`EXECUTED_DIR` with its outputs, stamped with the SHA-256
of the notebook it was run from. :func:`load_executed` returns it only while
that stamp still matches, so a stale copy is never shown.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = ["EXECUTED_DIR", "load_executed", "save_executed", "source_digest"]

EXECUTED_DIR = Path("build") / "executed"
"""Where executed notebooks are kept, relative to the repository root."""

_STAMP = "practicaltorch_source_sha256"


def source_digest(path: Path) -> str:
    """Return the SHA-256 of a notebook file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_executed(notebook: NotebookNode, source: Path, folder: Path) -> Path:
    """Save an executed notebook, stamped with the digest of ``source``.

    Parameters
    ----------
    notebook
        The notebook with its outputs.
    source
        The notebook file it was executed from.
    folder
        Where to save it; created if needed.

    Returns
    -------
    pathlib.Path
        The saved file, named like ``source``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    notebook.metadata[_STAMP] = source_digest(source)
    target = folder / source.name
    nbformat.write(notebook, target)
    return target


def load_executed(source: Path, folder: Path) -> NotebookNode | None:
    """Return the executed copy of ``source`` if it is current, else ``None``.

    Parameters
    ----------
    source
        The notebook whose executed copy is wanted.
    folder
        Where executed copies are kept.
    """
    target = folder / source.name
    if not target.is_file():
        return None
    notebook: NotebookNode = nbformat.read(target, as_version=4)
    if notebook.metadata.get(_STAMP) != source_digest(source):
        return None
    return notebook
