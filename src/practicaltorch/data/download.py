"""Downloading checksummed, gzipped data files safely, through torchvision's download code.

Each file is fetched with :func:`torchvision.datasets.utils.download_url` (its
progress bar, its redirect handling) into a unique temporary name beside its
final place. It is then decompressed, checked against its md5 checksum, and only
then renamed over its final name with :func:`os.replace`. So:

- a file that is already there and intact is never downloaded again;
- a file is never removed before its verified replacement has arrived;
- an interrupted, damaged or wrong download leaves nothing behind but what was
  there before (temporary names start with a dot and end in ``.part``; those of
  a process killed outright are removed by the next download, an hour later).

Every network call waits at most :func:`download_timeout` seconds for the
server (60 by default; the ``PRACTICALTORCH_DOWNLOAD_TIMEOUT`` variable changes
it), so a server that accepts the connection and never answers fails within that
time instead of hanging.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from torchvision.datasets.utils import download_url

from practicaltorch.data.errors import DownloadError
from practicaltorch.runs import atomic_file

__all__ = [
    "DEFAULT_TIMEOUT",
    "STALE_AFTER",
    "TIMEOUT_ENV_VAR",
    "GzipResource",
    "download_gzipped",
    "download_timeout",
    "network_timeout",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds a download waits for a silent server before giving up."""
TIMEOUT_ENV_VAR = "PRACTICALTORCH_DOWNLOAD_TIMEOUT"
"""Environment variable that sets the download timeout in seconds."""

_CHUNK = 1 << 20


@dataclass(frozen=True)
class GzipResource:
    """One gzipped file on a server and what its decompressed contents must be.

    Attributes
    ----------
    name
        The decompressed file's name, for example ``"t10k-labels-idx1-ubyte"``;
        the server holds ``name + ".gz"``.
    md5
        The md5 checksum of the decompressed file.
    size
        Its size in bytes.
    archive_md5
        The md5 of the ``.gz`` file itself, if known (torchvision's mirrors);
        ``None`` for mirrors that may have compressed the file themselves.
    """

    name: str
    md5: str
    size: int
    archive_md5: str | None = None

    @property
    def archive(self) -> str:
        """The compressed file's name on the server."""
        return f"{self.name}.gz"


def download_timeout() -> float:
    """Return the download timeout in seconds.

    Returns
    -------
    float
        ``$PRACTICALTORCH_DOWNLOAD_TIMEOUT`` if set, else :data:`DEFAULT_TIMEOUT`.

    Raises
    ------
    ValueError
        If the variable is set but is not a positive number.
    """
    text = os.environ.get(TIMEOUT_ENV_VAR, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError(
            f"{TIMEOUT_ENV_VAR}={text!r} is not a positive number of seconds; "
            f"set it to, for example, 60, or unset it for the default of {DEFAULT_TIMEOUT:g} s"
        )
    return seconds


@contextmanager
def network_timeout(seconds: float) -> Iterator[None]:
    """Give every socket opened inside the block a timeout of ``seconds``.

    torchvision's and torch.hub's download functions take no timeout, so this
    sets the process-wide default for the duration of the block and restores it
    afterwards. Each connect and each read then fails after ``seconds`` of
    silence.

    Parameters
    ----------
    seconds
        The timeout of each network operation.
    """
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _say(message: str) -> None:
    """Tell the user what is being downloaded (beside torchvision's progress bar)."""
    print(message, file=sys.stderr, flush=True)


def _reason(error: BaseException, timeout: float) -> str:
    """Describe a failed download in a few words."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s (timed out)"
    if isinstance(error, RuntimeError) and "corrupted" in str(error):
        return "the .gz file does not match its md5 checksum"
    text = " ".join(str(error).split())[:200]
    return text or type(error).__name__


class _WrongContentsError(ValueError):
    """A download arrived but is not the expected file."""


def _copy_checked(source: gzip.GzipFile, target: IO[bytes], resource: GzipResource) -> None:
    """Copy decompressed bytes, checking size and md5; raise _WrongContentsError on a mismatch."""
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    try:
        while chunk := source.read(min(_CHUNK, resource.size + 1 - written)):
            written += len(chunk)
            if written > resource.size:
                raise _WrongContentsError(f"it holds more than the expected {resource.size} bytes")
            digest.update(chunk)
            target.write(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise _WrongContentsError(f"it is not a complete gzip file ({error})") from None
    if written != resource.size:
        raise _WrongContentsError(f"it holds {written} bytes, expected {resource.size}")
    if digest.hexdigest() != resource.md5:
        raise _WrongContentsError(
            f"its contents have md5 {digest.hexdigest()}, expected {resource.md5}"
        )


def _file_mode() -> int:
    """Return the permissions a new file normally gets here (``0o666`` less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _install(archive: Path, resource: GzipResource, folder: Path) -> None:
    """Decompress ``archive`` into ``folder/resource.name`` atomically, if it checks out."""
    with gzip.open(archive, "rb") as source, atomic_file(folder / resource.name) as target:
        _copy_checked(source, target, resource)
        if hasattr(os, "fchmod"):  # temporary files are private; data folders may be shared
            os.fchmod(target.fileno(), _file_mode())


def _fetch_from(url: str, resource: GzipResource, folder: Path, verify_archive: bool) -> None:
    """Download one file from one URL and install it; raise on any failure."""
    part = f".{resource.archive}.{uuid.uuid4().hex}.part"
    archive_md5 = resource.archive_md5 if verify_archive else None
    try:
        download_url(url, str(folder), filename=part, md5=archive_md5)
        _install(folder / part, resource, folder)
    finally:
        (folder / part).unlink(missing_ok=True)


def download_gzipped(
    resources: Sequence[GzipResource],
    folder: str | os.PathLike[str],
    mirrors: Sequence[str],
    *,
    verify_archives: bool = True,
    timeout: float | None = None,
) -> list[Path]:
    """Download and verify the files not yet intact in ``folder``.

    Each missing or damaged file is fetched from the first mirror that serves
    it correctly. A mirror that fails with a network error (unreachable, timed
    out) is not asked for the remaining files, so a silent server costs one
    timeout, not one per file.

    Parameters
    ----------
    resources
        The files to fetch.
    folder
        Where the decompressed files go; created if needed.
    mirrors
        Base URLs, each holding every ``resource.archive``; tried in order.
    verify_archives
        Check each ``.gz`` against ``resource.archive_md5`` too (the
        decompressed file is always checked).
    timeout
        Seconds each network operation may wait; ``None`` for :func:`download_timeout`.

    Returns
    -------
    list of pathlib.Path
        The files that were downloaded (empty if all were intact already).

    Raises
    ------
    DownloadError
        If a file could not be fetched intact from any mirror; the message
        lists each mirror's reason. Files installed before the failure stay.
    OSError
        If ``folder`` cannot be created or written.
    """
    target = Path(folder)
    seconds = download_timeout() if timeout is None else timeout
    alive = list(mirrors)
    fetched = []
    target.mkdir(parents=True, exist_ok=True)
    _remove_stale(target, resources)
    with network_timeout(seconds):
        for resource in resources:
            if _intact(target / resource.name, resource):
                continue
            _fetch_one(resource, target, alive, verify_archives, seconds)
            fetched.append(target / resource.name)
    return fetched


def _fetch_one(
    resource: GzipResource,
    folder: Path,
    alive: list[str],
    verify_archives: bool,
    timeout: float,
) -> None:
    """Try each live mirror for one file; drop mirrors that fail at the network level."""
    reasons = []
    for mirror in list(alive):
        url = mirror.rstrip("/") + "/" + resource.archive
        _say(f"Downloading {url}")
        try:
            _fetch_from(url, resource, folder, verify_archives)
            return
        except _WrongContentsError as error:
            reasons.append(f"{url}: {error}")
        except (urllib.error.URLError, OSError, RuntimeError, http.client.HTTPException) as error:
            if _is_local(error):
                raise
            reasons.append(f"{url}: {_reason(error, timeout)}")
            if not isinstance(error, RuntimeError | urllib.error.HTTPError):
                alive.remove(mirror)  # unreachable or silent: do not wait for it again
    tried = "; ".join(reasons) or "every mirror had already failed"
    raise DownloadError(f"no mirror served {resource.archive} intact ({tried})")


def _is_local(error: BaseException) -> bool:
    """Whether an error comes from this machine's disk, where another mirror cannot help."""
    if isinstance(error, urllib.error.URLError):
        return False
    local = (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR)
    return isinstance(error, OSError) and error.errno in local


STALE_AFTER = 3600.0
"""Seconds after which an untouched temporary download file is taken as abandoned."""


def _remove_stale(folder: Path, resources: Sequence[GzipResource]) -> None:
    """Remove temporary files that a killed download left behind.

    A download in progress writes to its file all the time, so one left
    untouched for :data:`STALE_AFTER` seconds belongs to no running process.
    """
    now = time.time()
    for resource in resources:
        patterns = (f".{resource.archive}.*.part", f".{resource.name}.*.tmp")
        for path in (p for pattern in patterns for p in folder.glob(pattern)):
            try:
                if now - path.stat().st_mtime > STALE_AFTER:
                    path.unlink()
            except OSError:  # removed meanwhile, or not ours to remove: leave it
                pass


def _intact(path: Path, resource: GzipResource) -> bool:
    """Return whether ``path`` exists with the expected size and md5."""
    if not path.is_file() or path.stat().st_size != resource.size:
        return False
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == resource.md5
