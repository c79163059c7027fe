"""Per-run pytest glue: per-test hooks, the controller's aggregation, summary and exit status.

The baseline, regression and report modules are imported when a run ends (or when a baseline
file exists), not at plugin import: pytest start-up stays cheap for every suite.

Per-test hooks are registered by role, so every test pays for the fewest hooks the features
need: a serial run or an xdist worker gets ``logstart`` + a ``makereport`` wrapper (which ships
the test's usage on its teardown report); an xdist controller gets only ``logreport`` (which
sums what the workers shipped). Serial and xdist runs add up the very same payloads.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator

import pytest

from ..config import Settings
from ..fmt import usd as fmt_usd
from ..gate.budget import (
    LIMITS,
    BudgetExceeded,
    Limits,
    Verdict,
    check,
    marker_limits,
    message,
    reached,
    unpriced_note,
    violation,
)
from ..pricing import LazyPricer, cache_savings, staleness_note
from ..render.text import summary_lines
from ..run import RunUsage
from ..tracker import ATTRIBUTION, TokenTracker, tracker_payload
from ..usage import Usage

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

    from ..files.baseline import Baseline, Report
    from ..gate.regression import Comparison
    from .xdist import SharedTotals

REPORT_ATTR = "tokenbudget"
WORKER_OUTPUT_KEY = "tokenbudget_session"


def test_status(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "skipped" if report.skipped else "passed"


class PerTestHooks:
    """Serial run or xdist worker: attribute usage to the running test, check its budget and
    ship its usage on the teardown report."""

    def __init__(self, owner: TokenBudgetSession) -> None:
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
                    self.check_budget(report, limits, tracker)
                    payload["budget"] = self.owner.budget_payload(item.nodeid, tracker, limits)
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

    def __init__(self, owner: TokenBudgetSession) -> None:
        self.owner = owner

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, REPORT_ATTR, None)
        if payload is not None and report.when == "teardown":
            self.owner.run.add_test(report.nodeid, payload)


class TokenBudgetSession:
    """The run's state and its run-level hooks (registered as ``tokenbudget-session``)."""

    def __init__(self, config: pytest.Config, settings: Settings, pricer: LazyPricer) -> None:
        self.config = config
        self.settings = settings
        self.pricer = pricer
        self.run = RunUsage()
        self.is_worker = hasattr(config, "workerinput")
        self.is_controller = False
        self.report: dict[str, Any] | None = None
        #: Per-test limits by node id, from markers and the default (collection time).
        self.limits: dict[str, Limits] = {}
        self.bad_markers: dict[str, str] = {}
        self.run_limits = run_limits(settings)
        self.violations: list[dict[str, Any]] = []
        self.run_messages: list[str] = []
        #: All usage this process counted so far (spend protection's running total), and,
        #: on an xdist worker, the other workers' totals (set by the xdist hooks).
        self.running = Usage()
        self._running_lock = threading.Lock()
        self.shared: SharedTotals | None = None
        if self.run_limits:  # the running total serves only to check the run budget
            ATTRIBUTION.listen(self.count_running)
        self.install_protection()
        self.baseline_path = config.rootpath / settings["baseline"]
        self.baseline: Baseline | None = None
        self.comparison: Comparison | None = None
        self.baseline_written: int | None = None
        if not self.is_worker and self.baseline_path.exists():
            # a corrupt baseline stops the run before any test (exit 4)
            from ..files.baseline import BaselineError, load_baseline

            try:
                self.baseline = load_baseline(self.baseline_path)
            except BaselineError as exc:
                raise pytest.UsageError(f"tokenbudget: {exc}") from None

    def collect(self, nodeid: str, payload: dict[str, Any]) -> None:
        """A test finished in this process; a worker leaves the adding up to the controller."""
        if not self.is_worker:
            self.run.add_test(nodeid, payload)

    # -- budgets ---------------------------------------------------------------------------
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Read each test's limits once; a test with a malformed marker errors in setup (a
        UsageError raised here would crash xdist workers, and runs must agree)."""
        default = self.settings["test_max_tokens"]
        for item in items:
            marker = item.get_closest_marker("token_budget")
            if marker is None and default is None:
                continue
            args, kwargs = (marker.args, marker.kwargs) if marker else ((), {})
            try:
                self.limits[item.nodeid] = marker_limits(args, kwargs, default)
            except ValueError as exc:
                self.bad_markers[item.nodeid] = f"tokenbudget: bad token_budget marker: {exc}"
        self.install_protection()

    def budget_payload(self, nodeid: str, tracker: TokenTracker, limits: Limits) -> dict[str, Any]:
        usage, cells = tracker.usage, tracker.cells()
        verdicts = check(usage, limits, self.settings["warn_at"])
        exceeded = [v for v in verdicts if v.exceeded]
        text = message(exceeded, usage, cells) if exceeded else ""
        return {
            **limits.to_dict(),
            "violations": [violation("test_budget", nodeid, v, text) for v in exceeded],
            "near": [v.headline().replace(" > ", " of ") for v in verdicts if not v.exceeded],
            "note": unpriced_note(usage, limits),
        }

    def count_running(self, usage: Usage) -> None:
        with self._running_lock:
            self.running += usage
            if self.shared is not None and ATTRIBUTION.before_request is not None:
                self.shared.publish(self.running)  # read only by spend protection

    def install_protection(self) -> None:
        """Hook spend protection into capture only if it could refuse a request of this run:
        every captured call would pay for the hook (again once the markers are read)."""
        default = self.settings["enforce"]
        could_refuse = (default and self.run_limits) or any(
            (default if lim.enforce is None else lim.enforce) and (lim or self.run_limits)
            for lim in self.limits.values()
        )
        ATTRIBUTION.before_request = self.before_request if could_refuse else None

    def before_request(self, tracker: TokenTracker) -> None:
        """Spend protection: refuse a request once the test or the run reached a limit."""
        __tracebackhide__ = True
        limits = self.limits.get(tracker.nodeid)
        enforce = self.settings["enforce"]
        if limits is not None and limits.enforce is not None:
            enforce = limits.enforce
        if not enforce:
            return
        run_total = self.running if self.shared is None else self.shared.total(self.running)
        for scope, used, lim in (
            ("test", tracker.usage, limits),
            ("run", run_total, self.run_limits),
        ):
            verdict = reached(used, lim) if lim else None
            if verdict is not None:
                tracker.refuse()
                raise BudgetExceeded(scope, verdict)

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
        """Controller or serial run: build the report, compare, write files, set exit status."""
        if not self.run and not self.settings_given():
            return
        self.check_run()
        report = self.run.to_report(pricing=self.pricing_info())
        from ..files.baseline import report_from_dict

        this_run = report_from_dict(report, "<this run>")
        if self.baseline is not None:
            self.compare(this_run)
            assert self.comparison is not None
            report["baseline"] = {"path": str(self.baseline_path), **self.comparison.to_dict()}
        report["violations"] = self.violations
        report["passed"] = not self.violations
        self.report = report
        failing = self.run_messages and not self.settings["warn_only"]
        if failing and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self.write_files(this_run)

    def compare(self, this_run: Report) -> None:
        from ..gate.regression import compare

        assert self.baseline is not None
        self.comparison = compare(
            self.baseline,
            this_run,
            regression=self.settings["regression"],
            min_tokens=self.settings["regression_min_tokens"],
            metric=self.settings["regression_metric"],
            pricer=self.pricer.get(),
        )
        # Updating the baseline accepts this run's figures: the regressions are shown (in the
        # comparison) but are not violations of this run, so its report says passed.
        if not self.settings["update_baseline"]:
            regressions = self.comparison.violations()
            self.violations += regressions
            self.run_messages += [v["message"] for v in regressions]

    def write_files(self, this_run: Report) -> None:
        from ..files.baseline import (
            baseline_from_report,
            update_baseline,
            write_json_atomic,
            write_text_atomic,
        )
        from ..render.html import render_html
        from ..render.markdown import render_markdown

        assert self.report is not None
        root = self.config.rootpath
        if self.settings["json"]:
            write_json_atomic(root / self.settings["json"], self.report)
        if self.settings["markdown"]:
            this_run.baseline = self.report["baseline"]
            this_run.violations, this_run.passed = self.violations, self.report["passed"]
            write_text_atomic(root / self.settings["markdown"], render_markdown(this_run))
        if self.settings["html"]:
            write_text_atomic(root / self.settings["html"], render_html(self.report))
        if self.settings["history"]:
            append_history(root / self.settings["history"], self.report)
        if self.settings["update_baseline"]:
            updated = update_baseline(self.baseline, baseline_from_report(this_run))
            write_json_atomic(self.baseline_path, updated.to_doc())
            self.baseline_written = len(updated.tests)

    def pricing_info(self) -> dict[str, str]:
        table = self.pricer.get()
        return {"source": table.source, "version": table.version}

    def check_run(self) -> None:
        """Collect per-test violations and check the run's own budget."""
        for nodeid in sorted(self.run.tests):
            budget = self.run.tests[nodeid].budget or {}
            self.violations += budget.get("violations", [])
        totals = self.run.totals
        exceeded = check(totals, self.run_limits)
        if exceeded:
            text = message(exceeded, totals, self.run.cells(), "run budget exceeded")
            self.run_messages.append(text)
            self.violations += [violation("run_budget", None, v, text) for v in exceeded]
        note = unpriced_note(totals, self.run_limits)
        if note:
            self.run.notes[f"run {note}"] = 1
        by_model = self.run.by_model()
        unpriced = sorted(m for m, u in by_model.items() if u.unpriced_calls)
        if unpriced:
            note = (
                f"unpriced model{'s' if len(unpriced) > 1 else ''} (cost unknown, not $0): "
                f'{", ".join(unpriced)}; set prices in [tool.tokenbudget.prices."MODEL"]'
            )
            self.run.notes[note] = 1
        stale = staleness_note(self.pricer.get().version, date.today())
        if stale and by_model:
            self.run.notes[stale] = 1
        savings = cache_savings(self.pricer.get(), by_model)
        if savings.saved_pico:
            pct = savings.percent
            self.run.notes[
                f"prompt caching saved {fmt_usd(savings.saved_usd)}"
                + (f" ({pct:.1f}% of the input cost without caching)" if pct is not None else "")
            ] = 1

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
        lines = budget_lines(
            self.report, self.run.totals, self.run_limits, self.settings["warn_only"]
        )
        for line in lines:
            terminalreporter.write_line(line)
        if self.comparison is not None:
            from ..render.compare_text import summary_lines as comparison_lines
            from ..render.compare_text import verdict

            terminalreporter.write_line(
                f"baseline {self.baseline_path.name}: {verdict(self.comparison.to_dict())} "
                f"(rule: {self.comparison.rule()})"
            )
            for line in comparison_lines(self.comparison.to_dict()):
                terminalreporter.write_line(line)
        elif self.run:
            terminalreporter.write_line(
                f"baseline: none at {self.baseline_path} (nothing to compare; create it with "
                "--tokenbudget-update-baseline)"
            )
        if self.baseline_written is not None:
            terminalreporter.write_line(
                f"baseline updated: {self.baseline_path} ({self.baseline_written} tests)"
            )
        for key in ("json", "markdown", "html"):
            if self.settings[key]:
                path = self.config.rootpath / self.settings[key]
                terminalreporter.write_line(f"{key} report written to {path}")


def append_history(path: Path, report: dict[str, Any]) -> None:
    """One JSON line per run (totals, verdict), for trends across runs."""
    line = {
        "created": report["created"],
        "totals": report["totals"],
        "tests": len(report["tests"]),
        "violations": len(report["violations"]),
        "passed": report["passed"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")


def run_limits(settings: Settings) -> Limits:
    values, sources = {}, {}
    for key, name in (("max_tokens", "max_tokens"), ("max_cost_usd", "max_cost_usd")):
        if settings[key] is not None:
            values[name] = settings[key]
            sources[name] = settings.sources[key]
    return Limits(values, sources)


def budget_lines(
    report: dict[str, Any], totals: Usage, limits: Limits, warn_only: bool
) -> list[str]:
    """Run budget use, violations and tests near their budget, for the summary."""
    lines = []
    for name, limit in limits.values.items():
        verdict = Verdict(name, limit, getattr(totals, LIMITS[name][0]), "", exceeded=False)
        share = verdict.actual / limit
        lines.append(
            f"run budget {name}: {verdict.figure(verdict.actual)} of "
            f"{verdict.figure(limit)} ({share:.0%})"
        )
    violations = [v for v in report["violations"] if v["kind"] != "regression"]
    if violations:
        heading = "budget violations (warn-only: not failing)" if warn_only else "budget violations"
        lines.append(f"{heading}:")
        lines += [f"  {v['nodeid'] or 'run'}: {v['message']}" for v in violations]
    near = [
        (nodeid, entry["budget"]["near"])
        for nodeid, entry in report["tests"].items()
        if entry.get("budget") and entry["budget"].get("near")
    ]
    if near:
        lines.append("near budget:")
        lines += [f"  {nodeid}: {'; '.join(items)}" for nodeid, items in near]
    notes = [
        f"  {nodeid}: {entry['budget']['note']}"
        for nodeid, entry in report["tests"].items()
        if entry.get("budget") and entry["budget"].get("note")
    ]
    if notes:
        lines.append("cost limits not fully checkable:")
        lines += notes
    return lines
