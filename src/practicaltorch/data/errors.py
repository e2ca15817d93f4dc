"""Errors raised when data or weights are missing, damaged or cannot be fetched.

Each message says what to do next; none of them is a traceback from deep inside
another library.
"""

from __future__ import annotations

__all__ = ["CorruptDataError", "DataNotFoundError", "DownloadError"]


class DataNotFoundError(FileNotFoundError):
    """A dataset or weights file is not in the data directory and was not downloaded."""


class CorruptDataError(ValueError):
    """A cached file exists but is truncated, damaged or of the wrong format."""


class DownloadError(ConnectionError):
    """A download failed (no network, host unreachable, or a checksum mismatch)."""
