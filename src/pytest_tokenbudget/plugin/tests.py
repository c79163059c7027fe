"""Per-test pytest hooks, registered by role so every test pays for the fewest hooks.

A serial run or an xdist worker gets ``TestBounds``: each test's start (``logstart``), the only
per-test hook of a run that records nothing. From the first test's tracker on (or from the
start, when limits, spend protection or confirmation need them), ``PerTestHooks`` add a
``makereport`` wrapper, which ships each test's usage on its teardown report. An xdist
controller gets only ``logreport`` (which sums what the workers shipped). Serial and xdist runs
add up the very same payloads.

A test rerun through the normal protocol (pytest-rerunfailures calls ``logstart`` and logs the
teardown report of every attempt) is the same item object running again: each attempt after
the first ships its payload (even an empty one) marked ``rerun``, and the run keeps the last
attempt as the test's figure. A repeated test id of another item (``--keep-duplicates``) is
not a rerun: it adds up, as before.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Generator, Mapping, Protocol

import pytest

from ..attribution import ATTRIBUTION
from .fixtures import WideFixtures

if TYPE_CHECKING:  # loaded by the tests that record, fail or have limits: not by idle ones
    from ..config import Settings
    from ..gate.budget import BudgetExceeded, Limits
    from ..tracker import TokenTracker
    from ..usage import Usage

#: The teardown report's attribute that carries a test's usage (built-in types only).
REPORT_ATTR = "tokenbudget"
#: The plugin name of ``PerTestHooks`` (or, on an xdist controller, ``ControllerHooks``).
TESTS_PLUGIN = "tokenbudget-tests"
#: The plugin name of ``TestBounds`` (each test's start and end, wider fixtures' buckets).
BOUNDS_PLUGIN = "tokenbudget-test-bounds"
#: A test's status once it failed: later phases do not change it.
FAILED = ("failed", "error")


def earlier_status(item: pytest.Item) -> str:
    """The status of ``item`` from the setup and call reports pytest's terminal reporter kept
    (``TerminalReporter.stats``): for the one test during whose teardown watching began. Without
    the terminal reporter (``-p no:terminal``): passed."""
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    found = [
        report
        for reports in getattr(reporter, "stats", {}).values()
        for report in reports
        if isinstance(report, pytest.TestReport)
        and report.nodeid == item.nodeid
        and report.when in ("setup", "call")
    ]
    status = "passed"
    for report in sorted(found, key=lambda r: r.when != "setup"):
        status = next_status(status, report)
    return status


def next_status(status: str, report: pytest.TestReport) -> str:
    """A test's status after ``report`` of one of its phases: a failure stays."""
    if (report.when == "call" or report.outcome != "passed") and status not in FAILED:
        return test_status(report)
    return status


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

    @property
    def refusals(self) -> dict[str, BudgetExceeded]:
        """The first request spend protection refused in each running test, by node id."""

    def collect(self, nodeid: str, payload: dict[str, Any]) -> None:
        """A test finished in this process with ``payload``."""

    def confirmed(self, nodeid: str, payload: dict[str, Any]) -> None:
        """A confirmation attempt of a test finished in this process with ``payload``."""


class TestBounds(WideFixtures):
    """Serial run or xdist worker: each test's start for attribution (its end is the next
    start, or the run's: ``ATTRIBUTION.close``), and the buckets of wider fixtures: the only
    per-test hooks a suite that never records pays for (a report wrapper would cost it about
    fifteen times more). ``watch`` adds :class:`PerTestHooks` for good:
    when the first test's tracker is made (``ATTRIBUTION.activate``), or before any test when
    limits, spend protection or confirmation need every report."""

    def __init__(self, hooks: PerTestHooks, pluginmanager: pytest.PytestPluginManager) -> None:
        self.hooks = hooks
        self.pluginmanager = pluginmanager
        self.watching = False
        self._lock = threading.Lock()
        #: The hook is attribution's own ``start``, with no call in between: it is all that
        #: each test of a run that records nothing costs (a test's end: ``ATTRIBUTION.close``).
        self.pytest_runtest_logstart: Callable[[str], None] = ATTRIBUTION.start

    def watch(self, during_test: bool) -> None:
        """Watch every test's reports from now on (once; from any thread). ``during_test``:
        the running test's earlier phases were not seen (see ``PerTestHooks.status``)."""
        with self._lock:
            if self.watching:
                return
            self.watching = True
        ATTRIBUTION.activate = None
        if during_test:
            self.hooks.status = None
        self.pluginmanager.register(self.hooks, TESTS_PLUGIN)


def per_test_hooks(
    owner: Owner, pluginmanager: pytest.PytestPluginManager, watch: bool
) -> TestBounds:
    """Register a serial run's or xdist worker's per-test hooks: :class:`TestBounds`, handing
    over to :class:`PerTestHooks` at once (``watch``) or when the first test's tracker is made."""
    bounds = TestBounds(PerTestHooks(owner), pluginmanager)
    pluginmanager.register(bounds, BOUNDS_PLUGIN)
    if watch:
        bounds.watch(during_test=False)
    else:
        ATTRIBUTION.activate = lambda: bounds.watch(during_test=True)
    return bounds


class PerTestHooks:
    """Serial run or xdist worker: attribute usage to the running test, check its budget and
    ship its usage on the teardown report."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        #: The running test's status so far; None: watching began during it, after phases
        #: whose reports were not seen (``earlier_status`` finds them).
        self.status: str | None = "passed"
        self.budget_reported = False
        #: The item whose teardown was reported last (the same one again: a rerun).
        self.finished: pytest.Item | None = None
        #: Running a confirmation attempt (``--tokenbudget-confirm``): its payload goes to
        #: the owner's ``confirmed``, never on a report.
        self.confirming = False
        #: The payload shipped last (None: the test recorded nothing).
        self.shipped: dict[str, Any] | None = None

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        """A test starts (``TestBounds``, always registered beside, starts its attribution)."""
        self.status = "passed"
        self.budget_reported = False
        self.shipped = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        when = report.when
        status = self.status
        if status is None:
            status = earlier_status(item) if when == "teardown" else "passed"
        self.status = next_status(status, report)
        owner = self.owner
        if when == "setup" and owner.bad_markers and item.nodeid in owner.bad_markers:
            report.outcome, report.longrepr = "failed", owner.bad_markers[item.nodeid]
            self.status = "error"
        if when != "teardown":
            tracker = ATTRIBUTION.current
            raised = call.excinfo is not None and refusal_raised(call.excinfo.value) is not None
            if (when == "call" and tracker is not None) or raised:
                limits = owner.limits.get(item.nodeid) if owner.limits else None
                refusal = owner.refusals.get(item.nodeid)
                self.check_budget(item, report, call, limits, tracker, refusal)
            return report
        if ATTRIBUTION.current is not None:  # before its end, which sends later records away
            from ..capture import end_streams  # loaded already when capture is on

            end_streams(ATTRIBUTION.current)  # its streams left open count from what arrived
        tracker = ATTRIBUTION.finish()
        rerun = item is self.finished and not self.confirming
        self.finished = item
        if tracker is None:
            if rerun:  # the earlier attempts' usage is not this test's figure
                from ..run import UNTRACKED

                self.ship(report, {"cells": [], "rerun": UNTRACKED})
                record_properties(item, report, None)
            return report
        self.finish_tracked(item, report, call, tracker, rerun)
        return report

    def finish_tracked(
        self,
        item: pytest.Item,
        report: pytest.TestReport,
        call: pytest.CallInfo[None],
        tracker: TokenTracker,
        rerun: bool,
    ) -> None:
        """Ship the usage of a test that made a tracker (a refusal, too, made it)."""
        from ..tracker import tracker_payload

        owner = self.owner
        limits = owner.limits.get(item.nodeid) if owner.limits else None
        record_properties(item, report, tracker.usage)
        refusal = owner.refusals.pop(item.nodeid, None)
        payload = tracker_payload(tracker)
        if rerun:
            payload["rerun"] = True
        if limits or refusal:
            import msgspec  # only for tests with limits or refusals: start-up stays cheap

            from ..gate.budget import Limits, budget_record

            self.check_budget(item, report, call, limits, tracker, refusal)
            record = budget_record(
                item.nodeid,
                tracker.usage,
                tracker.cells(),
                limits or Limits(),
                owner.settings["warn_at"],
                refusal,
            )
            payload["budget"] = msgspec.to_builtins(record)
        payload["status"] = self.status
        self.ship(report, payload)

    def ship(self, report: pytest.TestReport, payload: dict[str, Any]) -> None:
        self.shipped = payload
        if self.confirming:
            self.owner.confirmed(report.nodeid, payload)
            return
        setattr(report, REPORT_ATTR, payload)
        self.owner.collect(report.nodeid, payload)

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
            self.status = "failed" if report.when == "call" else "error"


def budget_markers(
    items: list[pytest.Item], every: bool
) -> list[tuple[pytest.Item, pytest.Mark | None]]:
    """Each test with a ``token_budget`` marker and its closest one, like
    ``item.get_closest_marker`` but with each parent's read once for all its tests; ``every``:
    the tests without one too (a default limit applies to them). One loop, no call per test:
    collection pays it for every test of every run."""
    found: list[tuple[pytest.Item, pytest.Mark | None]] = []
    inherited: dict[object, pytest.Mark | None] = {}
    for item in items:
        marker = None
        for own in item.own_markers:
            if own.name == "token_budget":
                marker = own
                break
        else:
            parent = item.parent
            if parent is not None:
                if parent not in inherited:
                    inherited[parent] = parent.get_closest_marker("token_budget")
                marker = inherited[parent]
        if marker is not None or every:
            found.append((item, marker))
    return found


def record_properties(item: pytest.Item, report: pytest.TestReport, usage: Usage | None) -> None:
    """The test's figures as its JUnit properties, through pytest's own ``user_properties``
    (what ``record_property`` fills: ``--junitxml`` writes those of the teardown report, and
    xdist ships them with it); an earlier attempt's are replaced."""
    from ..render.junit import PREFIX, properties  # only for tests that made a tracker
    from ..usage import used

    new = properties(usage) if usage is not None and used(usage) else []
    for holder in (item.user_properties, report.user_properties):
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


class ControllerHooks:
    """xdist controller: sum what the workers shipped on their teardown reports."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, REPORT_ATTR, None)
        if payload is not None and report.when == "teardown":
            self.owner.collect(report.nodeid, payload)
