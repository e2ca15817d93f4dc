"""Local stand-ins for a data mirror: an HTTP server on 127.0.0.1, and one that never answers.

Used by the download tests, which must run with no internet: the real download
code talks to these through ``PRACTICALTORCH_MNIST_MIRROR``.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from practicaltorch.data import mnist


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # torchvision's redirect check opens each file and hangs up without reading
        # it; the server's side of that is a reset connection, not a failure.
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port); yield its base URL."""
    server = _Server(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(connection)  # held open, never answered

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for connection in self.accepted:
            connection.close()
        self.listener.close()


def refused_url() -> str:
    """Return a URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def gzip_into(folder: Path, files: dict[str, bytes]) -> Path:
    """Write ``name.gz`` for each ``name -> contents`` into ``folder``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1))
    return folder


def _idx(magic: int, array: np.ndarray) -> bytes:
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def synthetic_mnist(train: int = 64, test: int = 32, seed: int = 0) -> dict[str, bytes]:
    """Return four tiny, valid IDX files with MNIST's file names (seeded random pixels)."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, count in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, size=(count, 28, 28))
        labels = np.arange(count) % 10
        files[f"{split}-images-idx3-ubyte"] = _idx(2051, images)
        files[f"{split}-labels-idx1-ubyte"] = _idx(2049, labels)
    return files


def use_synthetic_checksums(files: dict[str, bytes], monkeypatch: Any) -> None:
    """Make practicaltorch expect ``files`` (from :func:`synthetic_mnist`) as MNIST."""
    import hashlib

    for key, spec in list(mnist._RAW.items()):
        data = files[spec.name]
        shape = (len(data) - spec.header_bytes,) if spec.magic == 2049 else None
        if shape is None:
            shape = ((len(data) - spec.header_bytes) // (28 * 28), 28, 28)
        replacement = mnist._RawFile(
            spec.name, spec.magic, shape, hashlib.md5(data, usedforsecurity=False).hexdigest()
        )
        monkeypatch.setitem(mnist._RAW, key, replacement)
