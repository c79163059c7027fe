"""Per-run pytest glue: per-test hooks, the controller's aggregation, summary and exit status.

Per-test hooks are registered by role, so every test pays for the fewest hooks the features
need: a serial run or an xdist worker gets ``logstart`` + a ``makereport`` wrapper (which ships
the test's usage on its teardown report); an xdist controller gets only ``logreport`` (which
sums what the workers shipped). Serial and xdist runs add up the very same payloads.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator

import pytest

from .config import Settings
from .reports.text import summary_lines
from .run import RunUsage
from .tracker import ATTRIBUTION, Pricer, tracker_payload

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

REPORT_ATTR = "tokenbudget"
WORKER_OUTPUT_KEY = "tokenbudget_session"


def test_status(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "skipped" if report.skipped else "passed"


class PerTestHooks:
    """Serial run or xdist worker: attribute usage to the running test and ship it."""

    def __init__(self, owner: TokenBudgetSession) -> None:
        self.owner = owner
        self.status = "passed"

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        ATTRIBUTION.start(nodeid)
        self.status = "passed"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        failed_already = self.status in ("failed", "error")
        if (report.when == "call" or not report.passed) and not failed_already:
            self.status = test_status(report)
        if report.when == "teardown":
            tracker = ATTRIBUTION.finish()
            if tracker is not None:
                payload = tracker_payload(tracker)
                payload["status"] = self.status
                setattr(report, REPORT_ATTR, payload)
                self.owner.collect(report.nodeid, payload)
        return report


class ControllerHooks:
    """xdist controller: sum what the workers shipped on their teardown reports."""

    def __init__(self, owner: TokenBudgetSession) -> None:
        self.owner = owner

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, REPORT_ATTR, None)
        if payload is not None and report.when == "teardown":
            self.owner.run.add_test(report.nodeid, payload)


class TokenBudgetSession:
    """The run's state and its run-level hooks (registered as ``tokenbudget-session``)."""

    def __init__(self, config: pytest.Config, settings: Settings, pricer: Pricer) -> None:
        self.config = config
        self.settings = settings
        self.pricer = pricer
        self.pricing_info: dict[str, str] = {
            "source": str(getattr(pricer, "source", "none")),
            "version": str(getattr(pricer, "version", "")),
        }
        self.run = RunUsage()
        self.is_worker = hasattr(config, "workerinput")
        self.is_controller = False
        self.report: dict[str, Any] | None = None

    def collect(self, nodeid: str, payload: dict[str, Any]) -> None:
        """A test finished in this process; a worker leaves the adding up to the controller."""
        if not self.is_worker:
            self.run.add_test(nodeid, payload)

    # -- run-level hooks -------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        pm = self.config.pluginmanager
        self.is_controller = pm.has_plugin("dsession")
        hooks = ControllerHooks(self) if self.is_controller else PerTestHooks(self)
        pm.register(hooks, "tokenbudget-tests")

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        session_payload = tracker_payload(ATTRIBUTION.session)
        if self.is_worker:
            self.config.workeroutput[WORKER_OUTPUT_KEY] = session_payload  # type: ignore[attr-defined]
        else:
            self.run.add_session(session_payload)
            self.finish_run(session)
        return (yield)

    def finish_run(self, session: pytest.Session) -> None:
        """Controller or serial run: build the report, write files, set the exit status."""
        if not self.run and not self.settings_given():
            return
        self.report = self.run.to_report(pricing=self.pricing_info)
        path = self.settings["json"]
        if path:
            write_json_atomic(self.config.rootpath / path, self.report)

    def settings_given(self) -> bool:
        return any(self.settings.given(key) for key in self.settings.values)

    def pytest_terminal_summary(self, terminalreporter: TerminalReporter) -> None:
        if self.report is None or terminalreporter.verbosity < -1:
            return
        terminalreporter.write_sep("=", "tokenbudget")
        if not self.run:
            terminalreporter.write_line("no LLM token usage recorded")
        else:
            for line in summary_lines(self.report):
                terminalreporter.write_line(line)
        path = self.settings["json"]
        if path:
            terminalreporter.write_line(f"report written to {self.config.rootpath / path}")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
