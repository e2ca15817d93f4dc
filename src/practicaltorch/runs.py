"""Results folders that are never lost or mixed.

``practicaltorch run NAME --out OUT`` writes each run into a fresh numbered
folder ``OUT/NAME/N/`` (``N`` = 1, 2, 3, ...). The folder is created with
:func:`os.mkdir`, which fails if another process got there first, so two runs
started at the same moment always get different folders and nothing earlier is
replaced.

Every file in a run folder is written atomically: into a unique temporary file
in the same folder, flushed and synced to disk, then renamed over its final
name with :func:`os.replace`. A reader sees the old file or the new one, never
half of one; a full disk leaves the earlier files as they were. A run folder is
*finished* once its ``metrics.json`` exists, which is written last.

This module imports only the standard library (and :mod:`torch` lazily, in
:func:`save_atomic`), so anything in the package may use it.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> out = Path(tempfile.mkdtemp())
>>> first = new_run_dir(out, "mnist")
>>> second = new_run_dir(out, "mnist")
>>> first.name, second.name
('1', '2')
>>> write_json_atomic(first / "metrics.json", {"accuracy": 0.99})
>>> latest_run(out / "mnist") == first  # the newest *finished* run
True
>>> latest_run(out / "mnist", finished=False) == second
True
"""

from __future__ import annotations

import errno
import functools
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "FINISHED_MARKER",
    "atomic_file",
    "check_writable",
    "describe_os_error",
    "is_finished",
    "latest_run",
    "new_run_dir",
    "resolve_run_dir",
    "run_dirs",
    "save_atomic",
    "write_atomic",
    "write_json_atomic",
]

FINISHED_MARKER = "metrics.json"
"""The file whose presence marks a run folder as finished (it is written last)."""

PathLike = str | os.PathLike[str]


def _fsync_dir(folder: Path) -> None:
    """Sync a folder's entries to disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.cache
def _file_mode() -> int:
    """Return the permissions a new file gets here (``0o666`` less the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _naming(error: OSError, path: Path) -> OSError:
    """Return ``error`` as the same kind of error, naming ``path`` instead of a temporary file."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, str(path))


@contextmanager
def atomic_file(path: PathLike) -> Iterator[IO[bytes]]:
    """Open a binary file that appears at ``path`` only once fully written.

    Writes go to a unique temporary file beside ``path``; on leaving the block
    without an error it is flushed, synced and renamed over ``path``. On any
    error the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path
        The final file name. Its folder must exist.

    Yields
    ------
    typing.IO[bytes]
        The open temporary file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_file(target) as f:
    ...     _ = f.write(b"hello")
    >>> target.read_bytes()
    b'hello'
    """
    target = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise _naming(error, target) from error
    try:
        os.chmod(tmp_name, _file_mode())  # mkstemp makes it private; keep the usual mode
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        raise _naming(error, target) from error
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_atomic(path: PathLike, data: bytes) -> None:
    """Write the bytes ``data`` to the file ``path`` atomically; its folder must exist."""
    with atomic_file(path) as handle:
        handle.write(data)


def write_json_atomic(path: PathLike, obj: Any) -> None:
    """Write JSON-serialisable ``obj`` as indented JSON to ``path`` atomically (see above)."""
    write_atomic(path, (json.dumps(obj, indent=2) + "\n").encode("utf-8"))


def save_atomic(obj: object, path: PathLike) -> None:
    """Save ``obj`` with :func:`torch.save` to ``path`` atomically.

    Parameters
    ----------
    obj
        Anything :func:`torch.save` accepts, usually a dict holding a state dict.
    path
        The file to write; its folder must exist.
    """
    import torch  # imported here so this module stays light

    with atomic_file(path) as handle:
        torch.save(obj, handle)


def check_writable(folder: PathLike) -> Path:
    """Make sure files can be created in ``folder``, creating it if needed.

    Call this before long work whose results go there, so that a bad output
    folder is reported at once rather than after training.

    Parameters
    ----------
    folder
        The output folder.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    OSError
        If the folder cannot be created or written to; see
        :func:`describe_os_error` for a message people can act on.
    """
    target = Path(folder).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    try:
        fd, probe = tempfile.mkstemp(dir=target, prefix=".write-check.", suffix=".tmp")
    except OSError as error:
        raise _naming(error, target) from error
    os.close(fd)
    os.unlink(probe)
    return target


def _run_number(folder: Path) -> int | None:
    """Return a run folder's number, or ``None`` if it is not a numbered folder."""
    name = folder.name
    return int(name) if name.isdigit() and folder.is_dir() else None


def run_dirs(recipe_dir: PathLike) -> list[Path]:
    """List the numbered run folders of a recipe folder, oldest first.

    Parameters
    ----------
    recipe_dir
        A folder ``OUT/NAME``.

    Returns
    -------
    list of pathlib.Path
        Its subfolders ``1``, ``2``, ..., sorted by number; empty if there are none.
    """
    root = Path(recipe_dir)
    if not root.is_dir():
        return []
    numbered = [(n, p) for p in root.iterdir() if (n := _run_number(p)) is not None]
    return [p for _, p in sorted(numbered)]


def is_finished(run_dir: PathLike) -> bool:
    """Return whether a run folder holds a finished run (its ``metrics.json``)."""
    return (Path(run_dir) / FINISHED_MARKER).is_file()


def new_run_dir(out: PathLike, name: str) -> Path:
    """Create and return a fresh numbered run folder ``out/name/N``.

    ``N`` is one more than the highest existing number. The folder is created
    with :func:`os.mkdir`; if another process created it first, the next
    number is tried, so concurrent runs never share a folder.

    Parameters
    ----------
    out
        The results folder, for example ``runs``; created if needed.
    name
        The recipe's name.

    Returns
    -------
    pathlib.Path
        The new, empty folder.

    Raises
    ------
    ValueError
        If ``name`` is not a plain folder name (empty, ``..``, or holding a slash).
    OSError
        If the folder cannot be created (permissions, a file in the way, a full disk).
    """
    if not name or name in {".", ".."} or "/" in name or os.sep in name:
        raise ValueError(f"a run name must be a plain folder name, got {name!r}")
    recipe_dir = Path(out).expanduser() / name
    recipe_dir.mkdir(parents=True, exist_ok=True)
    existing = run_dirs(recipe_dir)
    number = (int(existing[-1].name) if existing else 0) + 1
    while True:
        candidate = recipe_dir / str(number)
        try:
            os.mkdir(candidate)
        except FileExistsError:
            number += 1
            continue
        return candidate


def latest_run(path: PathLike, finished: bool = True) -> Path:
    """Return the newest finished (or newest unfinished) run of a recipe folder.

    Parameters
    ----------
    path
        A recipe folder ``OUT/NAME`` holding numbered run folders.
    finished
        ``True`` for the newest run with a ``metrics.json``; ``False`` for the
        newest run without one (an interrupted run, for ``--resume``).

    Returns
    -------
    pathlib.Path
        The run folder; :class:`FileNotFoundError` if there is none.
    """
    candidates = [p for p in run_dirs(path) if is_finished(p) == finished]
    if not candidates:
        kind = "finished" if finished else "unfinished"
        raise FileNotFoundError(
            errno.ENOENT, f"no {kind} run in {path} (run folders are numbered 1, 2, ...)", str(path)
        )
    return candidates[-1]


def resolve_run_dir(path: PathLike) -> Path:
    """Turn a run folder, or a recipe folder meaning its newest finished run, into a run folder.

    Parameters
    ----------
    path
        Either a run folder (holding ``metrics.json`` or ``model.pt``) or a
        recipe folder ``OUT/NAME`` holding numbered run folders.

    Returns
    -------
    pathlib.Path
        The run folder.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist, or holds neither a run nor finished runs.
    NotADirectoryError
        If ``path`` is a file.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(folder))
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "expected a run folder, not a file", str(folder))
    if is_finished(folder) or (folder / "model.pt").is_file():
        return folder
    if not run_dirs(folder):
        raise FileNotFoundError(
            errno.ENOENT,
            "not a run folder (no metrics.json or model.pt) and no numbered runs inside",
            str(folder),
        )
    return latest_run(folder, finished=True)


_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or choose a folder on another disk",
    errno.EDQUOT: "your disk quota is used up: free some space or choose another folder",
    errno.EACCES: "permission denied: choose a folder you can write to, or change its permissions",
    errno.EPERM: "operation not permitted: choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose a folder on a writable disk",
    errno.ENOTDIR: "a part of this path is a file, not a folder: choose another path",
    errno.EEXIST: "a file already exists where a folder is needed: choose another path",
    errno.EISDIR: "this is a folder, not a file: give the path of a file",
    errno.ENOENT: "no such file or folder: check the path",
}


def describe_os_error(error: OSError) -> str:
    """Explain a file-system error in one line that says what to do next.

    Parameters
    ----------
    error
        The error raised by a file operation.

    Returns
    -------
    str
        For example ``"cannot write runs/mnist: permission denied: choose a
        folder you can write to, or change its permissions"``.

    Examples
    --------
    >>> import errno
    >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device", "runs/mnist/3"))
    'runs/mnist/3: the disk is full: free some space or choose a folder on another disk'
    """
    own_words = error.strerror and error.errno and error.strerror != os.strerror(error.errno)
    if own_words:  # a message written for people already, e.g. by resolve_run_dir
        advice = str(error.strerror)
    else:
        advice = _ADVICE.get(error.errno or 0, error.strerror or str(error))
    where = error.filename
    return f"{where}: {advice}" if where else advice
