"""The hooks of a run that watches its tests' reports (loaded when the first test's tracker is
made, or at the start when limits, spend protection or confirmation need every report): each
test's usage shipped on its teardown report, its budget checked, its JUnit properties set.

A test rerun through the normal protocol (pytest-rerunfailures calls ``logstart`` and logs the
teardown report of every attempt) is the same test running again: each attempt after the first
ships its payload (even an empty one) marked ``rerun``, and the run keeps the last attempt as
the test's figure. A repeated test id of another item (``--keep-duplicates``) is not a rerun:
it adds up, as before (such a run tells them apart by their items: ``PerTestHooks``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Generator

import pytest

from ..attribution import ATTRIBUTION
from ..sums import UNTRACKED, tracker_payload
from ..usage import used
from .hooks import PluginObject
from .tests import REPORT_ATTR

if TYPE_CHECKING:
    from ..gate.budget import BudgetExceeded, Limits
    from ..tracker import TokenTracker
    from ..usage import Usage
    from .tests import Owner

#: A test's status once it failed: later phases do not change it.
FAILED = ("failed", "error")
#: Capture's streams: loaded when a stream is first captured (only then can a test leave one
#: open).
SINK_MODULE = "pytest_tokenbudget.capture.sink"


def earlier_reports(config: pytest.Config, nodeid: str) -> list[pytest.TestReport]:
    """The setup and call reports of test ``nodeid`` that pytest's terminal reporter kept
    (``TerminalReporter.stats``), setup first: for the one test during whose call or teardown
    watching began. Without the terminal reporter (``-p no:terminal``): none."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    found = [
        report
        for reports in getattr(reporter, "stats", {}).values()
        for report in reports
        if isinstance(report, pytest.TestReport)
        and report.nodeid == nodeid
        and report.when in ("setup", "call")
    ]
    return sorted(found, key=lambda r: r.when != "setup")


def fold_status(reports: list[pytest.TestReport]) -> str:
    """A test's status from the reports of its phases, in order: a failure stays."""
    status = "passed"
    for report in reports:
        if report.outcome == "passed" and report.when != "call":
            continue  # a phase that passed says nothing but the call's outcome
        status = test_status(report)
        if status in FAILED:
            break
    return status


def test_status(report: pytest.TestReport) -> str:
    outcome = report.outcome  # what BaseReport's failed and skipped read
    if hasattr(report, "wasxfail"):
        return "xfailed" if outcome == "skipped" else "xpassed"
    if outcome == "failed":
        return "failed" if report.when == "call" else "error"
    return "skipped" if outcome == "skipped" else "passed"


class Watching(PluginObject):
    """Serial run or xdist worker: each test's reports so far, its end (its tracker finished,
    its usage shipped on the teardown report) -- what both shapes of watching share.

    :class:`ReportHooks` is the shape of a plain run: one ``logreport`` hook. A run with
    limits, malformed markers, spend protection, confirmation, a JUnit report or test ids that
    may repeat (``--keep-duplicates``) needs more of each test (its item, its reports before
    anyone reads them): :class:`PerTestHooks`, a ``makereport`` wrapper."""

    def __init__(self, owner: Owner, config: pytest.Config) -> None:
        self.owner = owner
        self.config = config
        #: The running test's reports so far (its status is read from them when it ships);
        #: None: watching began during it, after phases whose reports were not seen
        #: (``earlier_reports`` finds them).
        self.reports: list[pytest.TestReport] | None = []
        #: The status a bad marker or a budget check gave the running test: it outranks what
        #: its reports say (a failed xpass is failed).
        self.forced: str | None = None
        #: The test whose teardown was seen last (the same one again: a rerun); its item, or
        #: its node id where ids do not repeat.
        self.finished: object = None
        #: Running a confirmation attempt (``--tokenbudget-confirm``): its payload goes to
        #: the owner's ``confirmed``, never on a report.
        self.confirming = False
        #: The payload shipped last (None: the test recorded nothing).
        self.shipped: dict[str, Any] | None = None

    def ended(
        self,
        report: pytest.TestReport,
        finished: object,
        item: pytest.Item | None = None,
        call: pytest.CallInfo[None] | None = None,
    ) -> None:
        """The test's teardown ``report``: its tracker's figures are final, its usage ships.
        ``finished`` names the test's attempt (the same again: a rerun)."""
        tracker = ATTRIBUTION.current
        sink = sys.modules.get(SINK_MODULE)
        if tracker is not None and sink is not None:
            # before its end, which sends later records away: open streams count what arrived
            sink.finish_open(tracker)
        tracker = ATTRIBUTION.finish()
        rerun = finished == self.finished and not self.confirming
        self.finished = finished
        if tracker is None:
            if rerun:
                self.untracked_rerun(report, item)
            return
        payload = tracker_payload(tracker)  # its figures are final: its test ended
        if rerun:
            payload["rerun"] = True
        if item is not None and call is not None:
            self.check_tracked(item, report, call, tracker, payload)
        reports = self.reports
        if reports is None:
            reports = [*earlier_reports(self.config, report.nodeid), report]
        payload["status"] = self.forced or fold_status(reports)
        self.ship(tracker.nodeid, report, payload)

    def untracked_rerun(self, report: pytest.TestReport, item: pytest.Item | None) -> None:
        """Another attempt of a test that recorded nothing this time: the earlier attempts'
        usage is not its figure."""
        self.ship(report.nodeid, report, {"cells": [], "rerun": UNTRACKED})

    def check_tracked(
        self,
        item: pytest.Item,
        report: pytest.TestReport,
        call: pytest.CallInfo[None],
        tracker: TokenTracker,
        payload: dict[str, Any],
    ) -> None:
        """What a run with checks adds to the payload of a test that made a tracker."""

    def ship(self, nodeid: str, report: pytest.TestReport, payload: dict[str, Any]) -> None:
        """``payload`` on test ``nodeid``'s teardown ``report``, and to the run."""
        self.shipped = payload
        if self.confirming:
            self.owner.confirmed(nodeid, payload)
            return
        setattr(report, REPORT_ATTR, payload)
        self.owner.collect(nodeid, payload)


class ReportHooks(Watching):
    """A plain run's watching: one plain ``logreport`` hook, first of all (before xdist
    serialises the report, and JUnit or HTML reports read it), about half what a report
    wrapper costs each phase. A test id seen again at once is a rerun: ids do not repeat
    without ``--keep-duplicates``."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        when = report.when
        if when == "setup":  # a test (or another attempt of it) starts: no hook of its own
            self.reports = [report]
            self.shipped = None
            return
        reports = self.reports
        if reports is not None:
            reports.append(report)
        elif when == "call":  # watching began during its call: its setup passed
            self.reports = [report]
        if when == "teardown":
            self.ended(report, report.nodeid)


class PerTestHooks(Watching):
    """A run with checks: a ``makereport`` wrapper sees each report before anyone reads it,
    fails a test over its budget and gives the item (JUnit properties, the refused line)."""

    def __init__(self, owner: Owner, config: pytest.Config, junit: bool = False) -> None:
        super().__init__(owner, config)
        #: ``--junitxml`` writes a report: each test's figures become its properties (no
        #: other reader of ``user_properties`` is promised them, and they cost every test).
        self.junit = junit
        self.budget_reported = False

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        when = report.when
        reports = self.reports
        if when == "setup":  # a test (or another attempt of it) starts: no hook of its own
            self.budget_reported, self.shipped, self.forced = False, None, None
            self.reports = [report]
        elif reports is not None:
            reports.append(report)
        elif when == "call":  # watching began during its call: its setup passed
            self.reports = [report]
        owner = self.owner
        if when == "setup" and owner.bad_markers and report.nodeid in owner.bad_markers:
            report.outcome, report.longrepr = "failed", owner.bad_markers[report.nodeid]
            self.forced = "error"
        if when != "teardown":
            tracker = ATTRIBUTION.current
            raised = call.excinfo is not None and refusal_raised(call.excinfo.value) is not None
            checked = owner.limits or owner.refusals  # else nothing to check
            if raised or (when == "call" and tracker is not None and checked):
                nodeid = report.nodeid
                limits = owner.limits.get(nodeid)
                refusal = owner.refusals.get(nodeid)
                if limits or refusal or raised:
                    self.check_budget(item, report, call, limits, tracker, refusal)
            return report
        self.ended(report, item, item, call)
        return report

    def check_tracked(
        self,
        item: pytest.Item,
        report: pytest.TestReport,
        call: pytest.CallInfo[None],
        tracker: TokenTracker,
        payload: dict[str, Any],
    ) -> None:
        """The test's JUnit properties, its budget checked and its budget record."""
        owner = self.owner
        nodeid = tracker.nodeid  # the report's (a property computing it each time)
        limits = owner.limits.get(nodeid) if owner.limits else None
        refusal = owner.refusals.pop(nodeid, None) if owner.refusals else None
        if self.junit:
            record_properties(item, report, tracker.usage if payload["cells"] else None)
        if limits or refusal:
            import msgspec  # only for tests with limits or refusals: start-up stays cheap

            from ..gate.budget import Limits, budget_record

            self.check_budget(item, report, call, limits, tracker, refusal)
            record = budget_record(
                nodeid,
                tracker.usage,
                tracker.cells(),
                limits or Limits(),
                owner.settings["warn_at"],
                refusal,
            )
            payload["budget"] = msgspec.to_builtins(record)

    def untracked_rerun(self, report: pytest.TestReport, item: pytest.Item | None) -> None:
        super().untracked_rerun(report, item)
        if self.junit and item is not None:
            record_properties(item, report, None)  # an earlier attempt's are replaced

    def check_budget(
        self,
        item: pytest.Item,
        report: pytest.TestReport,
        call: pytest.CallInfo[None],
        limits: Limits | None,
        tracker: TokenTracker | None,
        refusal: BudgetExceeded | None,
    ) -> None:
        """Fail the report of a test over its budget or with a refused request, whatever its
        code caught; an earlier failure stays visible, and a refusal the test let through
        shows as the budget message, not as the SDK frames it went through."""
        raised = refusal_raised(call.excinfo.value) if call.excinfo is not None else None
        if raised is None and (self.budget_reported or self.owner.settings["warn_only"]):
            return
        lines = []
        if tracker is not None and limits:
            from ..gate.budget import check, message

            exceeded = check(tracker.usage, limits)
            if exceeded:
                lines.append(message(exceeded, tracker.usage, tracker.cells()))
        refusal = refusal or raised
        if refusal is not None:
            refused = tracker.usage.refused_calls if tracker is not None else 0
            lines += refusal_lines(refusal, max(refused, 1), item, call.excinfo, raised is None)
        if not lines:
            return
        self.budget_reported = True
        text = "\n".join(lines)
        if raised is not None:
            report.longrepr = text
        elif report.failed:
            report.sections.append(("tokenbudget", text))
        else:
            report.outcome = "failed"
            report.longrepr = text
            self.forced = "failed" if report.when == "call" else "error"


def watching(owner: Owner, config: pytest.Config, checks: bool) -> Watching:
    """The hooks that watch a run's tests: a plain run's :class:`ReportHooks`, or
    :class:`PerTestHooks` when it ``checks`` its tests (limits, malformed markers, spend
    protection, confirmation), writes JUnit properties or may repeat test ids."""
    option = config.option
    junit = bool(getattr(option, "xmlpath", None))
    if checks or junit or getattr(option, "keepduplicates", False):
        return PerTestHooks(owner, config, junit)
    return ReportHooks(owner, config)


def record_properties(item: pytest.Item, report: pytest.TestReport, usage: Usage | None) -> None:
    """The test's figures as its JUnit properties, through pytest's own ``user_properties``
    (what ``record_property`` fills: ``--junitxml`` writes those of the teardown report, and
    xdist ships them with it); an earlier attempt's are replaced. Only with ``--junitxml``:
    its module loads then."""
    from ..render.junit import PREFIX, properties

    new = properties(usage) if usage is not None and used(usage) else []
    for holder in (item.user_properties, report.user_properties):
        if holder or new:  # most tests have none to replace and none to add
            holder[:] = [p for p in holder if not str(p[0]).startswith(PREFIX)] + new


def refusal_raised(exc: BaseException) -> BudgetExceeded | None:
    """The refusal a failed phase raised: itself, or the first of an exception group made of
    refusals only (``asyncio.TaskGroup`` and anyio task groups wrap what their tasks raise)."""
    from ..gate.budget import BudgetExceeded  # only for failed phases

    if isinstance(exc, BudgetExceeded):
        return exc
    group = getattr(exc, "exceptions", None)  # BaseExceptionGroup, or its backport before 3.11
    if not isinstance(group, tuple) or not group:
        return None
    found = [refusal_raised(inner) if isinstance(inner, BaseException) else None for inner in group]
    return found[0] if all(found) else None


def refusal_lines(
    refusal: BudgetExceeded,
    refused: int,
    item: pytest.Item,
    excinfo: pytest.ExceptionInfo[BaseException] | None,
    caught: bool,
) -> list[str]:
    """The refusal, and the line of the test's file that made the (first) refused call."""
    path, line = str(item.path), None
    for exc in (refusal, excinfo.value if excinfo is not None else None):
        tb = exc.__traceback__ if exc is not None else None
        while tb is not None:  # outermost first: keep the innermost frame in the test's file
            if tb.tb_frame.f_code.co_filename == path:
                line = tb.tb_lineno
            tb = tb.tb_next
        if line is not None:  # a task's refusal has no test frame: its group's traceback has
            break
    where = []
    if line is not None:
        where.append(f"{'first ' if refused > 1 else ''}refused at {item.location[0]}:{line}")
    if caught:
        where.append("a refused request fails the test even when its code catches it")
    from ..gate.budget import refusal_message

    text = refusal_message(refusal.scope, refusal.verdict, refused)
    return [text, "; ".join(where)] if where else [text]
