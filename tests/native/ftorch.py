"""Build FTorch against the installed torch once, cache it, and build programs that use it.

FTorch is the Fortran library that loads TorchScript models. Its sources are kept
beside the checkout (``../shared/vendor/FTorch``, unmodified); this module builds
them with CMake against the LibTorch inside the installed torch wheel and installs
the result (``libftorch.so``, the ``ftorch`` Fortran module and a CMake package, so
``find_package(FTorch)`` works) into a cache folder keyed on the torch version.
The build takes a minute or two, so it happens once per environment.

Two obstacles of the pip torch wheel are handled from the outside, by
``cmake/torch_compat.cmake`` passed with ``-DCMAKE_PROJECT_INCLUDE`` (see that
file): a CUDA build of torch on a machine without the CUDA toolkit, and torch's
headers needing C++20 where FTorch 1.1 asks for C++17. The vendored tree is never
edited.

Use
---
From a pytest test, ask for the ``ftorch`` fixture (``tests/conftest.py``): it is
the install prefix, and the test is skipped with the reason when FTorch cannot be
built (a failure under ``CI=true``)::

    def test_program(ftorch: Path, tmp_path: Path) -> None:
        build = build_cmake_project(SOURCE_DIR, tmp_path / "build", ftorch)
        run_program([str(build / "my_program")])

From other code or a notebook helper::

    from tests.native.ftorch import build_cmake_project, ftorch_prefix

    prefix = ftorch_prefix()  # builds on first use, then answers from the cache
    build_dir = build_cmake_project(source_dir, build_dir, prefix)

From a shell (CI calls this once, before the tests)::

    python -m tests.native.ftorch   # prints the prefix and the build time

Environment
-----------
``PRACTICALTORCH_FTORCH_SRC``
    FTorch source tree (default: ``../shared/vendor/FTorch`` beside the checkout).
``PRACTICALTORCH_FTORCH_CACHE``
    Folder holding the builds (default: ``$PRACTICALTORCH_CI_CACHE`` or
    ``~/.cache/practicaltorch-ci``).
``PRACTICALTORCH_FTORCH_JOBS``
    Parallel compile jobs (default 2; each takes about 1.5 GB of memory).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

NATIVE = Path(__file__).resolve().parent
REPO = NATIVE.parents[1]
COMPAT_CMAKE = NATIVE / "cmake" / "torch_compat.cmake"
"""The CMake file passed with ``-DCMAKE_PROJECT_INCLUDE`` to every build here."""

COMPLETE = ".complete"
BUILD_INFO = "build.json"


class FTorchUnavailableError(RuntimeError):
    """FTorch cannot be built here (no sources, no compiler, no CMake): a reason to skip."""


class CMakeError(RuntimeError):
    """Configuring or building with CMake failed; the message ends with CMake's output."""


def source_dir() -> Path:
    """Return the FTorch source tree (``$PRACTICALTORCH_FTORCH_SRC`` or the vendored copy)."""
    env = os.environ.get("PRACTICALTORCH_FTORCH_SRC")
    return Path(env) if env else REPO.parent / "shared" / "vendor" / "FTorch"


def cache_root() -> Path:
    """Return the folder that holds cached FTorch builds."""
    env = os.environ.get("PRACTICALTORCH_FTORCH_CACHE") or os.environ.get("PRACTICALTORCH_CI_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "practicaltorch-ci"


def torch_cmake_prefix() -> Path:
    """Return the folder of torch's CMake package (``torch.utils.cmake_prefix_path``)."""
    import torch.utils

    return Path(torch.utils.cmake_prefix_path)


def unavailable_reason() -> str | None:
    """Return why FTorch cannot be built here, or ``None`` when it can."""
    source = source_dir()
    if not (source / "CMakeLists.txt").is_file():
        return (
            f"no FTorch sources at {source} (set PRACTICALTORCH_FTORCH_SRC to a checkout of "
            "github.com/Cambridge-ICCS/FTorch)"
        )
    for tool in ("cmake", "gfortran", "g++"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH (for example `apt-get install {tool}`)"
    if not (torch_cmake_prefix() / "Torch" / "TorchConfig.cmake").is_file():
        return f"this torch installation has no CMake package in {torch_cmake_prefix()}"
    return None


def _digest(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key() -> str:
    """Name of the cached build: torch's version plus a digest of everything it depends on.

    The digest covers the FTorch sources, our CMake include and torch's location
    (the installed library records torch's path, so another environment with the
    same torch version gets its own build).
    """
    import torch

    source = source_dir()
    files = sorted(
        p
        for pattern in ("CMakeLists.txt", "cmake/*", "src/*")
        for p in source.glob(pattern)
        if p.is_file()
    )
    extra = f"{torch_cmake_prefix()}\n{sys.platform}".encode()
    digest = hashlib.sha256(_digest([*files, COMPAT_CMAKE]).encode() + extra).hexdigest()
    return f"ftorch-{torch.__version__}-{digest[:10]}"


def cmake_args(prefix: Path | None = None) -> list[str]:
    """Arguments that make CMake find torch (and FTorch at ``prefix``) from the wheel.

    Parameters
    ----------
    prefix
        FTorch's install prefix, or ``None`` when building FTorch itself.

    Returns
    -------
    list of str
        ``-DCMAKE_PREFIX_PATH=...``, ``-DCMAKE_PROJECT_INCLUDE=...`` and a release
        build type, to pass to ``cmake -S SRC -B BUILD``.
    """
    prefixes = [str(p) for p in (prefix, torch_cmake_prefix()) if p is not None]
    return [
        f"-DCMAKE_PREFIX_PATH={';'.join(prefixes)}",
        f"-DCMAKE_PROJECT_INCLUDE={COMPAT_CMAKE}",
        "-DCMAKE_BUILD_TYPE=Release",
    ]


def _generator() -> list[str]:
    return ["-G", "Ninja"] if shutil.which("ninja") else []


def _jobs() -> int:
    return max(1, int(os.environ.get("PRACTICALTORCH_FTORCH_JOBS", "2")))


def _run(command: list[str], log: Path | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    if log is not None:
        with log.open("a") as handle:
            handle.write(f"$ {' '.join(command)}\n{output}\n")
    if done.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-40:])
        raise CMakeError(f"command failed ({done.returncode}): {' '.join(command)}\n{tail}")
    return output


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (other processes building the same thing wait)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_info(prefix: Path) -> dict[str, object]:
    """Return what was recorded when the FTorch at ``prefix`` was built (seconds, torch, ...)."""
    path = prefix / BUILD_INFO
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def ftorch_prefix(*, log: bool = False) -> Path:
    """Return the install prefix of FTorch built against the installed torch.

    Builds FTorch from :func:`source_dir` into the cache on first use (a minute or
    two), then returns the cached build at once. Concurrent callers wait for one
    build. Point CMake at it with :func:`cmake_args` or :func:`build_cmake_project`.

    Parameters
    ----------
    log
        Print progress (used by ``python -m tests.native.ftorch``).

    Returns
    -------
    Path
        Holds ``lib/libftorch.so``, ``include/ftorch/ftorch.mod`` and
        ``lib/cmake/FTorch/FTorchConfig.cmake``.

    Raises
    ------
    FTorchUnavailableError
        If there are no FTorch sources, compilers or CMake here.
    CMakeError
        If the build itself fails (the message holds the compiler's output).
    """
    reason = unavailable_reason()
    if reason:
        raise FTorchUnavailableError(reason)
    root = cache_root()
    prefix = root / cache_key()
    if (prefix / COMPLETE).is_file():
        return prefix
    with _locked(root / f"{prefix.name}.lock"):
        if (prefix / COMPLETE).is_file():  # built by another process while we waited
            return prefix
        _build_ftorch(prefix, log=log)
    return prefix


def _build_ftorch(prefix: Path, *, log: bool) -> None:
    import torch

    build = prefix.with_name(prefix.name + ".build")
    shutil.rmtree(prefix, ignore_errors=True)
    shutil.rmtree(build, ignore_errors=True)
    prefix.mkdir(parents=True)
    logfile = prefix / "build.log"
    if log:
        print(f"building FTorch from {source_dir()} into {prefix} (-j{_jobs()})", flush=True)
    start = time.perf_counter()
    configure = ["cmake", "-S", str(source_dir()), "-B", str(build), *_generator()]
    configure += [*cmake_args(), f"-DCMAKE_INSTALL_PREFIX={prefix}"]
    _run(configure, logfile)
    _run(["cmake", "--build", str(build), f"-j{_jobs()}"], logfile)
    _run(["cmake", "--install", str(build)], logfile)
    seconds = time.perf_counter() - start
    shutil.rmtree(build, ignore_errors=True)
    info = {"seconds": round(seconds, 1), "jobs": _jobs(), "torch": torch.__version__}
    info["source"] = str(source_dir())
    info["torch_cmake"] = str(torch_cmake_prefix())
    (prefix / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
    (prefix / COMPLETE).touch()
    _prune_stale(prefix.parent)
    if log:
        print(f"FTorch built in {seconds:.1f} s", flush=True)


def _prune_stale(root: Path) -> None:
    """Delete cached builds made for torch installations that no longer exist."""
    for other in root.glob("ftorch-*"):
        recorded = build_info(other).get("torch_cmake") if other.is_dir() else None
        if isinstance(recorded, str) and not Path(recorded).is_dir():
            shutil.rmtree(other, ignore_errors=True)


def build_cmake_project(
    source: Path,
    build: Path,
    prefix: Path | None = None,
    *,
    extra_args: Sequence[str] = (),
    compat: bool = True,
) -> Path:
    """Configure and build a CMake project that uses ``find_package(FTorch)``.

    Parameters
    ----------
    source
        Folder holding the project's ``CMakeLists.txt``.
    build
        Build folder (created; reused if it exists, so rebuilds are incremental).
    prefix
        FTorch's install prefix; defaults to :func:`ftorch_prefix` (building it if needed).
    extra_args
        More ``-D...`` arguments for the configure step.
    compat
        Pass ``cmake/torch_compat.cmake`` with ``-DCMAKE_PROJECT_INCLUDE``; ``False``
        configures the project exactly as a learner would, with only the prefix paths.

    Returns
    -------
    Path
        ``build``, which now holds the project's executables.

    Raises
    ------
    CMakeError
        If configuring or building fails (the message ends with the output).
    """
    prefix = ftorch_prefix() if prefix is None else prefix
    build.mkdir(parents=True, exist_ok=True)
    configure = ["cmake", "-S", str(source), "-B", str(build), *_generator()]
    args = cmake_args(prefix)
    if not compat:
        args = [arg for arg in args if not arg.startswith("-DCMAKE_PROJECT_INCLUDE=")]
    _run([*configure, *args, *extra_args], build / "cmake.log")
    _run(["cmake", "--build", str(build), f"-j{_jobs()}"], build / "cmake.log")
    return build


def main() -> int:
    """Build FTorch if needed and print where it is: ``python -m tests.native.ftorch``."""
    try:
        prefix = ftorch_prefix(log=True)
    except FTorchUnavailableError as error:
        print(f"FTorch unavailable: {error}", file=sys.stderr)
        return 1
    except CMakeError as error:
        print(f"FTorch build failed:\n{error}", file=sys.stderr)
        return 1
    info = build_info(prefix)
    print(f"FTorch prefix: {prefix}")
    print(f"FTorch build time: {info.get('seconds', '?')} s with -j{info.get('jobs', '?')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
