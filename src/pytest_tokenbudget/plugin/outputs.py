"""The run's output files: checked before any test runs, each written on its own at the end.

A CI gate is trusted only if one bad path never costs the run its results: every path is
checked when the run starts (a usage error naming the option), and a write that still fails
at the end is reported in the summary and fails the run, after every other output was written.
Runs that run no tests (``--collect-only``, ``--fixtures``, every test deselected) write nothing:
IDEs collect all day, and an empty report or a 0-token history line would read as a change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

from ..config import BY_KEY, Settings

if TYPE_CHECKING:
    from ..files.baseline import Baseline
    from ..report import Report

#: The report outputs, in the order they are written; the baseline update comes last.
REPORTS = ("json", "markdown", "html", "openmetrics", "history")
#: pytest options that run no test although a session starts.
NO_TEST_OPTIONS = (
    "collectonly",
    "showfixtures",
    "show_fixtures_per_test",
    "setuponly",
    "setupplan",
)


def runs_tests(config: pytest.Config) -> bool:
    """Whether this session is one that runs tests (not ``--collect-only``, ``--fixtures``...)."""
    return not any(getattr(config.option, name, False) for name in NO_TEST_OPTIONS)


def ran_tests(session: pytest.Session) -> bool:
    """Whether any test ran (or was meant to: a run interrupted with usage recorded still is)."""
    return runs_tests(session.config) and session.testscollected > 0


class Outputs:
    """Where the run writes, what could not be written, and what to say about it."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.root = config.rootpath
        self.settings = settings
        #: One line per output that could not be written (the run then exits 1).
        self.failed: list[str] = []
        self.notes: list[str] = []
        self.written: list[tuple[str, Path]] = []
        self._baseline_id: tuple[int, ...] | None = None
        #: Why the baseline could not be read (a run that updates it replaces it).
        self.unreadable: str | None = None

    def keys(self) -> list[str]:
        """The outputs this run writes."""
        keys = [key for key in REPORTS if self.settings[key]]
        return [*keys, "baseline"] if self.settings["update_baseline"] else keys

    def path(self, key: str) -> Path:
        return self.root / str(self.settings[key])

    def name(self, key: str) -> str:
        """The option or config key that named the output, as the user wrote it."""
        if key == "baseline":
            return "--tokenbudget-update-baseline"
        source = self.settings.sources.get(key, "")
        if source.startswith("command line"):
            return str(BY_KEY[key].option)
        return f"`{key}` of {source}"

    def check(self) -> None:
        """Every output path can be written: else a usage error naming the option and why."""
        seen: dict[str, str] = {}
        for key in self.keys():
            from ..atomicfile import write_problem  # only for runs with outputs

            path = self.path(key)
            problem = write_problem(path, append=key == "history")
            if problem:
                raise pytest.UsageError(
                    f"tokenbudget: {self.name(key)}: cannot write {path}: {problem}"
                )
            real = os.path.realpath(path)
            if real in seen:
                raise pytest.UsageError(
                    f"tokenbudget: {seen[real]} and {self.name(key)} both write {path}; "
                    "give each its own file"
                )
            seen[real] = self.name(key)

    def write_reports(self, report: Report) -> None:
        """The report files asked for, each on its own (its writer loaded only then)."""
        from ..atomicfile import write_atomic

        def json(path: Path) -> None:
            from ..files.baseline import write_json_atomic

            write_json_atomic(path, report)

        def markdown(path: Path) -> None:
            from ..render.markdown import render_markdown

            write_atomic(path, render_markdown(report))

        def html(path: Path) -> None:
            from ..render.html import render_html

            write_atomic(path, render_html(report))

        def openmetrics(path: Path) -> None:
            from ..render.openmetrics import render_openmetrics

            write_atomic(path, render_openmetrics(report))

        def history(path: Path) -> None:
            from ..files.history import append_history

            append_history(path, report)

        for key, writer in (
            ("json", json),
            ("markdown", markdown),
            ("html", html),
            ("openmetrics", openmetrics),
            ("history", history),
        ):
            self.write(key, writer)

    def write(self, key: str, write: Callable[[Path], None]) -> None:
        """Write one output; a failure is kept for the summary, never raised."""
        if key not in self.keys():
            return
        path = self.path(key)
        try:
            write(path)
        except (OSError, ValueError) as exc:  # ValueError: BaselineError, bad content
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.failed.append(f"{self.name(key)}: could not write {path}: {reason}")
        else:
            self.written.append((key, path))

    # -- the baseline read at the start --------------------------------------------------------
    def load_baseline(self, path: Path) -> Baseline | None:
        """The baseline to compare with; a corrupt one is a usage error, unless this run
        updates it (the fix its error message gives): then it is replaced, with a note."""
        if not path.exists():
            return None
        from ..files.baseline import load_baseline
        from ..files.codec import BaselineError

        try:
            baseline = load_baseline(path, keep_checked=bool(self.settings["update_baseline"]))
        except BaselineError as exc:
            if not self.settings["update_baseline"]:
                raise pytest.UsageError(f"tokenbudget: {exc}") from None
            self.unreadable = str(exc).split("; ")[0]
            self.notes.append(f"no comparison: {self.unreadable}")
            return None
        self._baseline_id = None if baseline is None else baseline.identity
        return baseline

    def baseline_changed(self, path: Path) -> bool:
        """Whether another program replaced or rewrote the baseline since it was read."""
        from ..atomicfile import file_identity

        return self._baseline_id is not None and file_identity(path) != self._baseline_id
