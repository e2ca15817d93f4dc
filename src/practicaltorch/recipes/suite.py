"""Run several recipes into one results folder and summarise them against their bars.

This is what ``practicaltorch run NAME|all`` does. Each recipe gets a fresh
numbered run folder ``OUT/NAME/N`` (see :mod:`practicaltorch.runs`). When a
recipe cannot run (its data is missing and cannot be downloaded, say), the
others still run, and the summary says which one failed and what to do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from practicaltorch.paths import DATA_ENV_VAR
from practicaltorch.recipes import get_recipe
from practicaltorch.recipes.base import Report
from practicaltorch.runs import (
    check_writable,
    describe_os_error,
    latest_run,
    new_run_dir,
    write_json_atomic,
)

__all__ = ["Options", "Outcome", "RunInterrupted", "Suite", "advice_for", "run_suite"]

SUMMARY = "summary.json"
"""The file, in the results folder, that lists the last invocation's runs."""


@dataclass(frozen=True)
class Options:
    """Settings applied to every recipe of a suite (the command line's options).

    Attributes
    ----------
    seed, epochs, device, quick
        Copied into each recipe's ``Config``; ``epochs=None`` keeps each default.
    resume
        Continue the newest unfinished run folder of each recipe, with the
        settings saved in its checkpoint, instead of starting a fresh run.
    """

    seed: int = 0
    epochs: int | None = None
    device: str | None = None
    quick: bool = False
    resume: bool = False

    def config_for(self, config: Any) -> Any:
        """Return a recipe's default ``config`` with these settings applied."""
        overrides: dict[str, Any] = {"seed": self.seed, "device": self.device, "quick": self.quick}
        if self.epochs is not None:
            overrides["epochs"] = self.epochs
        return dataclasses.replace(config, **overrides)


@dataclass
class Outcome:
    """What became of one recipe of a suite.

    Attributes
    ----------
    name
        The recipe.
    run_dir
        Its run folder (``None`` if it failed before writing anything).
    report
        The report, if it ran.
    error
        Why it could not run, if it did not.
    advice
        What to do about ``error``.
    """

    name: str
    run_dir: Path | None = None
    report: Report | None = None
    error: str | None = None
    advice: str | None = None

    @property
    def passed(self) -> bool:
        """Whether it ran and reached its quality bar."""
        return self.report is not None and self.report.passed

    def summary(self, short: bool = False) -> str:
        """Return one line for people; ``short`` keeps only the error's first sentence."""
        if self.report is not None:
            return self.report.summary()
        error = str(self.error)
        if short:
            error = error.split(". ", 1)[0].split("\n", 1)[0]
        return f"FAIL  {self.name:<17} could not run: {error}"

    def to_json(self) -> dict[str, Any]:
        """Return the outcome as JSON-serialisable data."""
        data: dict[str, Any] = {
            "name": self.name,
            "run_dir": None if self.run_dir is None else str(self.run_dir),
        }
        if self.report is not None:
            data.update(self.report.to_json())
        else:
            data.update({"error": self.error, "advice": self.advice, "passed": False})
        return data


@dataclass
class Suite:
    """The outcomes of one ``practicaltorch run`` invocation."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    threads: int = 1
    options: Options = field(default_factory=Options)

    @property
    def failed(self) -> list[Outcome]:
        """The recipes that could not run."""
        return [o for o in self.outcomes if o.report is None]

    @property
    def all_passed(self) -> bool:
        """Whether every recipe ran and reached its bar."""
        return all(o.passed for o in self.outcomes)

    def summary_lines(self) -> list[str]:
        """Return the summary for people: a line per recipe and the count that passed."""
        lines = ["Summary against the quality bars:"]
        lines += ["  " + o.summary(short=True) for o in self.outcomes]
        passed = sum(o.passed for o in self.outcomes)
        lines.append(
            f"{passed}/{len(self.outcomes)} reached their bar; {self.seconds:.0f} s in all."
        )
        return lines

    def advice_lines(self) -> list[str]:
        """Return what to do about each recipe that could not run."""
        return [f"To run {o.name}: {o.advice}" for o in self.failed]

    def to_json(self) -> dict[str, Any]:
        """Return the suite as JSON-serialisable data (the content of ``summary.json``)."""
        return {
            "total_seconds": self.seconds,
            "threads": self.threads,
            "quick": self.options.quick,
            "reports": [o.to_json() for o in self.outcomes],
        }


def advice_for(error: Exception) -> str:
    """Return one actionable sentence about an ``error`` that stopped a recipe."""
    from practicaltorch.data.errors import CorruptDataError, DataNotFoundError, DownloadError

    if isinstance(error, (DataNotFoundError, DownloadError, CorruptDataError)):
        return (
            "its data is missing or could not be downloaded: run `practicaltorch fetch` "
            f"while online, or set {DATA_ENV_VAR} to a folder that already holds it "
            "(`practicaltorch doctor` shows what is cached)"
        )
    if isinstance(error, OSError) and error.filename:
        return "fix what the message above says and run it again; earlier runs are untouched"
    if isinstance(error, OSError):
        return describe_os_error(error)
    return "see the message above"


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a recipe; the message says how to continue its run.

    Parameters
    ----------
    name
        The recipe.
    run_dir
        Its unfinished run folder.
    """

    def __init__(self, name: str, run_dir: Path) -> None:
        self.name, self.run_dir = name, run_dir
        super().__init__(name, run_dir)

    def __str__(self) -> str:
        last = self.run_dir / "checkpoints" / "last.pt"
        if not last.is_file():
            return (
                f"interrupted before {self.name} finished its first epoch; nothing to resume. "
                f"Start again with: practicaltorch run {self.name}"
            )
        out = self.run_dir.parent.parent
        return (
            f"interrupted: the {self.name} run in {self.run_dir} is unfinished; its last "
            f"finished epoch is saved in {last}. Continue it with:\n"
            f"  practicaltorch run {self.name} --resume --out {out}"
        )


def _discard_if_empty(folder: Path) -> None:
    """Remove a run folder that a failed recipe left empty."""
    with contextlib.suppress(OSError):
        folder.rmdir()  # only succeeds when empty: nothing is ever lost


def run_one(
    name: str,
    options: Options,
    out: Path,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Outcome:
    """Run one recipe into a fresh run folder ``out/name/N``.

    Parameters
    ----------
    name
        The recipe.
    options
        Settings applied to its ``Config``.
    out
        The results folder.
    progress, log
        Passed to the recipe's ``run``.

    Returns
    -------
    Outcome
        With the report.

    Raises
    ------
    Exception
        Whatever the recipe raised; its empty run folder is removed first.
    """
    recipe = get_recipe(name)
    if options.resume:
        from practicaltorch.training.checkpoints import resume_settings  # loads torch

        run_dir = latest_run(out / name, finished=False)
        config = recipe.Config(**resume_settings(run_dir))
    else:
        config = options.config_for(recipe.Config())
        run_dir = new_run_dir(out, name)
    try:
        report = recipe.run(config, run_dir, progress=progress, log=log)
    except KeyboardInterrupt as interrupt:
        _discard_if_empty(run_dir)
        raise RunInterrupted(name, run_dir) from interrupt
    except BaseException:
        _discard_if_empty(run_dir)
        raise
    # Finished (metrics.json is written): the checkpoints for resuming are no longer needed.
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return Outcome(name, run_dir, report)


def run_suite(
    names: Sequence[str],
    options: Options,
    out: Path,
    *,
    threads: int = 1,
    say: Callable[[str], None] = print,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Suite:
    """Run recipes one after the other; a recipe that cannot run does not stop the others.

    ``out`` is checked for writability before anything trains, and
    ``summary.json`` is written there (atomically) at the end.

    Parameters
    ----------
    names
        Recipe names, in order.
    options
        Settings applied to every recipe.
    out
        The results folder.
    threads
        CPU threads in use, recorded in the summary.
    say
        Called with progress lines and each recipe's result.
    progress, log
        Passed to each recipe's ``run``.

    Returns
    -------
    Suite
        Every outcome.

    Raises
    ------
    OSError
        If ``out`` cannot be written to (before any training).
    """
    check_writable(out)
    suite = Suite(threads=threads, options=options)
    started = time.perf_counter()
    for name in names:
        say(f"-> {name} ...")
        try:
            outcome = run_one(name, options, out, progress=progress, log=log)
        except (OSError, ValueError, RuntimeError, ImportError) as error:
            outcome = Outcome(name, error=str(error) or type(error).__name__)
            outcome.advice = advice_for(error)
            if isinstance(error, OSError) and error.filename:
                outcome.error = describe_os_error(error)
        suite.outcomes.append(outcome)
        say(outcome.summary())
    suite.seconds = time.perf_counter() - started
    write_json_atomic(out / SUMMARY, suite.to_json())
    return suite
