"""Per-test pytest hooks, registered by role so every test pays for the fewest hooks.

A serial run or an xdist worker gets ``logstart`` + a ``makereport`` wrapper (which ships the
test's usage on its teardown report); an xdist controller gets only ``logreport`` (which sums
what the workers shipped). Serial and xdist runs add up the very same payloads.
"""

from __future__ import annotations

from typing import Any, Generator, Mapping, Protocol

import pytest

from ..config import Settings
from ..gate.budget import Limits, budget_record, check, message
from ..run import RunUsage
from ..tracker import ATTRIBUTION, TokenTracker, tracker_payload

#: The teardown report's attribute that carries a test's usage (built-in types only).
REPORT_ATTR = "tokenbudget"


def test_status(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "skipped" if report.skipped else "passed"


class Owner(Protocol):
    """What the per-test hooks need of the run (the session plugin)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def limits(self) -> Mapping[str, Limits]:
        """Per-test limits by node id."""

    @property
    def bad_markers(self) -> Mapping[str, str]:
        """The error of each malformed marker, by node id."""

    def collect(self, nodeid: str, payload: dict[str, Any]) -> None:
        """A test finished in this process with ``payload``."""


class PerTestHooks:
    """Serial run or xdist worker: attribute usage to the running test, check its budget and
    ship its usage on the teardown report."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.status = "passed"
        self.budget_reported = False

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        ATTRIBUTION.start(nodeid)
        self.status = "passed"
        self.budget_reported = False

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        failed_already = self.status in ("failed", "error")
        if (report.when == "call" or not report.passed) and not failed_already:
            self.status = test_status(report)
        if report.when == "setup" and item.nodeid in self.owner.bad_markers:
            report.outcome, report.longrepr = "failed", self.owner.bad_markers[item.nodeid]
            self.status = "error"
        limits = self.owner.limits.get(item.nodeid)
        if report.when == "call" and limits:
            self.check_budget(report, limits, ATTRIBUTION.current)
        if report.when == "teardown":
            tracker = ATTRIBUTION.finish()
            if tracker is not None:
                payload = tracker_payload(tracker)
                if limits:
                    import msgspec  # only for tests with limits: start-up stays cheap

                    self.check_budget(report, limits, tracker)
                    record = budget_record(
                        item.nodeid,
                        tracker.usage,
                        tracker.cells(),
                        limits,
                        self.owner.settings["warn_at"],
                    )
                    payload["budget"] = msgspec.to_builtins(record)
                payload["status"] = self.status
                setattr(report, REPORT_ATTR, payload)
                self.owner.collect(report.nodeid, payload)
        return report

    def check_budget(
        self, report: pytest.TestReport, limits: Limits, tracker: TokenTracker | None
    ) -> None:
        """Fail the report of a test over its budget; an earlier failure stays visible."""
        if tracker is None or self.budget_reported or self.owner.settings["warn_only"]:
            return
        exceeded = check(tracker.usage, limits)
        if not exceeded:
            return
        self.budget_reported = True
        text = message(exceeded, tracker.usage, tracker.cells())
        if report.failed:
            report.sections.append(("tokenbudget", text))
            return
        report.outcome = "failed"
        report.longrepr = text
        self.status = "failed" if report.when == "call" else "error"


class ControllerHooks:
    """xdist controller: sum what the workers shipped on their teardown reports."""

    def __init__(self, run: RunUsage) -> None:
        self.run = run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, REPORT_ATTR, None)
        if payload is not None and report.when == "teardown":
            self.run.add_test(report.nodeid, payload)
