"""Build and run the Fortran Lorenz-96 model that calls a network through FTorch.

Lesson 09 uses these three functions; from a shell, ``python course/fortran/coupled.py``
builds the program and prints where it is (or what is missing).

- :func:`find_ftorch` answers whether FTorch and the compilers are here: an FTorch
  install named by ``FTORCH_PREFIX``, or, in a checkout of the course, the build
  that ``python -m tests.native.ftorch`` makes and caches.
- :func:`build` configures and builds ``lorenz96_coupled`` with CMake.
- :func:`run` writes the initial states, runs the program and reads its states back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROGRAM = "lorenz96_coupled"


def _checkout_helper() -> object | None:
    """Return the checkout's FTorch build helper (``tests/native/ftorch.py``), if present."""
    if not (REPO / "tests" / "native" / "ftorch.py").is_file():
        return None
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.native import ftorch

    return ftorch


def find_ftorch(*, build_if_missing: bool = False) -> tuple[list[str] | None, str]:
    """Return the CMake arguments that find FTorch, or ``None`` and what is missing.

    Parameters
    ----------
    build_if_missing
        In a checkout, build FTorch from the vendored sources when no cached build
        exists (a minute or two). The notebook leaves this off.

    Returns
    -------
    cmake_args : list of str or None
        ``-D...`` arguments for the configure step.
    message : str
        Where FTorch was found, or why it cannot be used.
    """
    for tool in ("cmake", "gfortran"):
        if shutil.which(tool) is None:
            return None, f"{tool} is not installed (for example `apt-get install {tool}`)"
    helper = _checkout_helper()
    prefix_env = os.environ.get("FTORCH_PREFIX")
    if prefix_env:
        prefix = Path(prefix_env)
        if helper is not None:
            return list(helper.cmake_args(prefix)), f"FTorch from FTORCH_PREFIX={prefix}"  # type: ignore[attr-defined]
        import torch.utils

        paths = f"{prefix};{torch.utils.cmake_prefix_path}"
        return [f"-DCMAKE_PREFIX_PATH={paths}"], f"FTorch from FTORCH_PREFIX={prefix}"
    if helper is None:
        return None, (
            "no FTorch found: install it (github.com/Cambridge-ICCS/FTorch) and set "
            "FTORCH_PREFIX to its install folder"
        )
    reason = helper.unavailable_reason()  # type: ignore[attr-defined]
    if reason:
        return None, reason
    prefix = helper.cache_root() / helper.cache_key()  # type: ignore[attr-defined]
    if not (prefix / ".complete").is_file():
        if not build_if_missing:
            return None, (
                "FTorch has not been built in this checkout yet: run "
                "`python -m tests.native.ftorch` once (a minute or two), then rerun this cell"
            )
        prefix = helper.ftorch_prefix()  # type: ignore[attr-defined]
    return list(helper.cmake_args(prefix)), f"FTorch built in {prefix}"  # type: ignore[attr-defined]


def build(build_dir: Path, cmake_args: list[str]) -> Path:
    """Configure and build the program in ``build_dir``; return the executable.

    Raises
    ------
    RuntimeError
        With the end of CMake's output, if configuring or compiling fails.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    commands = [
        ["cmake", "-S", str(HERE), "-B", str(build_dir), *cmake_args],
        ["cmake", "--build", str(build_dir)],
    ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
            raise RuntimeError(f"{' '.join(command)} failed:\n{tail}")
    return build_dir / PROGRAM


def run(
    executable: Path,
    model_file: Path,
    x0: np.ndarray,
    steps: int,
    *,
    dt: float = 0.005,
    forcing: float = 20.0,
    every: int = 1,
    work_dir: Path | None = None,
) -> np.ndarray:
    """Run the Fortran model from states ``x0`` ``(members, K)``; return ``(T, members, K)``.

    ``T`` is ``steps // every + 1``: the initial states, then every ``every`` steps.
    """
    work_dir = work_dir or executable.parent
    x0 = np.asarray(x0, dtype="<f8")
    members, k = x0.shape
    init_file, out_file = work_dir / "x0.bin", work_dir / "states.bin"
    x0.T.tofile(init_file)  # member index fastest: the memory order of x(members, K)
    command = [str(executable), str(model_file), str(init_file), str(members), str(k)]
    command += [str(steps), repr(float(dt)), repr(float(forcing)), str(out_file), str(every)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{PROGRAM} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    values = np.fromfile(out_file, dtype="<f8")
    return values.reshape(-1, k, members).transpose(0, 2, 1)


def main() -> int:
    """Build the program (and FTorch, in a checkout, if needed); print where it is."""
    cmake_args, message = find_ftorch(build_if_missing=True)
    print(message)
    if cmake_args is None:
        return 1
    print(build(REPO / "build" / "lorenz96_coupled", cmake_args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
