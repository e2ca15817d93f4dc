"""Where practicaltorch keeps data and writes outputs.

The data directory is, in order of preference:

1. the ``PRACTICALTORCH_DATA`` environment variable, if set;
2. a per-user cache directory (for example ``~/.cache/practicaltorch`` on Linux).

Every dataset that takes a ``root`` argument falls back to :func:`data_dir` when
``root`` is ``None``, so pointing the variable at a shared folder (a course
server, a USB stick handed round a room) is enough for every lesson to find it.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

DATA_ENV_VAR = "PRACTICALTORCH_DATA"
"""Name of the environment variable that overrides the data directory."""


def data_dir() -> Path:
    """Return the directory where datasets are cached.

    Returns
    -------
    pathlib.Path
        ``$PRACTICALTORCH_DATA`` if set, else the per-user cache directory. The
        directory is not created here; downloads create it when they need it.
    """
    override = os.environ.get(DATA_ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(user_cache_dir("practicaltorch", appauthor=False))


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    """Turn a user-supplied ``root`` argument into a directory path.

    Parameters
    ----------
    root
        A directory given by the user, or ``None`` for :func:`data_dir`.

    Returns
    -------
    pathlib.Path
        The directory to read datasets from.
    """
    return data_dir() if root is None else Path(root).expanduser()
