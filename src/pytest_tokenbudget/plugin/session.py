"""Per-run pytest glue: limits at collection, the controller's report, files, summary, exit status.

The baseline, regression and report modules are imported when a run ends (or when a baseline
file exists), not at plugin import: pytest start-up stays cheap for every suite.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Generator

import pytest

from ..attribution import ATTRIBUTION
from ..config import Settings
from ..fmt import usd as fmt_usd
from ..gate.budget import (
    BudgetExceeded,
    Limits,
    check,
    marker_limits,
    message,
    unpriced_note,
    violation,
)
from ..pricing import LazyPricer, cache_savings, staleness_note
from ..protection import SpendGuard
from ..run import RunUsage
from ..tracker import tracker_payload
from .tests import ControllerHooks, PerTestHooks

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

    from ..files.baseline import Baseline
    from ..records import Violation
    from ..report import Report

#: ``config.workeroutput`` key of a worker's buckets (usage outside any test's figure), by name.
WORKER_OUTPUT_KEY = "tokenbudget_buckets"


class TokenBudgetSession:
    """The run's state and its run-level hooks (registered as ``tokenbudget-session``)."""

    def __init__(self, config: pytest.Config, settings: Settings, pricer: LazyPricer) -> None:
        self.config = config
        self.settings = settings
        self.pricer = pricer
        self.run = RunUsage()
        self.is_worker = hasattr(config, "workerinput")
        self.is_controller = False
        self.report: Report | None = None
        #: Per-test limits by node id, from markers and the default (collection time).
        self.limits: dict[str, Limits] = {}
        self.bad_markers: dict[str, str] = {}
        self.run_limits = run_limits(settings)
        self.violations: list[Violation] = []
        self.run_messages: list[str] = []
        #: Notes on crashed xdist workers (plugin/xdist.py), added when the run is reported.
        self.crash_notes: list[str] = []
        self.guard = SpendGuard(settings["enforce"], self.run_limits, self.limits)
        self.guard.install()
        self.baseline_path = config.rootpath / settings["baseline"]
        self.baseline: Baseline | None = None
        self.baseline_written: int | None = None
        if not self.is_worker and self.baseline_path.exists():
            # a corrupt baseline stops the run before any test (exit 4)
            from ..files.baseline import load_baseline
            from ..files.codec import BaselineError

            try:
                self.baseline = load_baseline(self.baseline_path)
            except BaselineError as exc:
                raise pytest.UsageError(f"tokenbudget: {exc}") from None

    @property
    def refusals(self) -> dict[str, BudgetExceeded]:
        return self.guard.refusals

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
        self.guard.install()

    # -- run-level hooks -------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        pm = self.config.pluginmanager
        self.is_controller = pm.has_plugin("dsession")
        if self.is_controller:
            pm.register(ControllerHooks(self.run), "tokenbudget-tests")
        else:
            from .fixtures import WideFixtures

            pm.register(PerTestHooks(self), "tokenbudget-tests")
            pm.register(WideFixtures(), "tokenbudget-fixtures")

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        buckets = {name: tracker_payload(t) for name, t in ATTRIBUTION.buckets.items()}
        if self.is_worker:
            self.config.workeroutput[WORKER_OUTPUT_KEY] = buckets  # type: ignore[attr-defined]
        else:
            self.run.add_buckets(buckets)
            self.finish_run(session)
        return (yield)

    def finish_run(self, session: pytest.Session) -> None:
        """Controller or serial run: build the report, compare, write files, set exit status."""
        if not self.run and not self.settings_given():
            return
        self.check_run()
        table = self.pricer.get()
        report = self.run.to_report(pricing={"source": table.source, "version": table.version})
        if self.baseline is not None:
            self.compare(report)
        report.violations = self.violations
        report.passed = not self.violations
        self.report = report
        failing = self.run_messages and not self.settings["warn_only"]
        if failing and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self.write_files(report)

    def compare(self, report: Report) -> None:
        """Compare the run with the baseline; the comparison goes into the report."""
        from ..gate.regression import compare

        assert self.baseline is not None
        comparison = compare(
            self.baseline,
            report,
            regression=self.settings["regression"],
            min_tokens=self.settings["regression_min_tokens"],
            metric=self.settings["regression_metric"],
            pricer=self.pricer.get(),
        )
        report.baseline = comparison.record()
        report.baseline.path = str(self.baseline_path)
        # Updating the baseline accepts this run's figures: the regressions are shown (in the
        # comparison) but are not violations of this run, so its report says passed.
        if not self.settings["update_baseline"]:
            regressions = comparison.violations()
            self.violations += regressions
            self.run_messages += [v.message for v in regressions]

    def write_files(self, report: Report) -> None:
        from ..atomicfile import write_atomic
        from ..files.baseline import baseline_from_report, update_baseline, write_json_atomic
        from ..files.history import append_history
        from ..render.html import render_html
        from ..render.markdown import render_markdown

        root = self.config.rootpath
        if self.settings["json"]:
            write_json_atomic(root / self.settings["json"], report)
        if self.settings["markdown"]:
            write_atomic(root / self.settings["markdown"], render_markdown(report))
        if self.settings["html"]:
            write_atomic(root / self.settings["html"], render_html(report))
        if self.settings["history"]:
            append_history(root / self.settings["history"], report)
        if self.settings["update_baseline"]:
            updated = update_baseline(self.baseline, baseline_from_report(report))
            write_json_atomic(self.baseline_path, updated.to_doc())
            self.baseline_written = len(updated.tests)

    def check_run(self) -> None:
        """Collect per-test violations and check the run's own budget."""
        self.violations += self.run.violations()
        for crash in self.crash_notes:
            self.run.notes[crash] = 1
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
        report = self.report
        if report is None or terminalreporter.verbosity < -1:
            return
        from ..render.text import budget_lines, summary_lines

        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "tokenbudget")
        if not self.run:
            write("no LLM token usage recorded")
        else:
            for line in summary_lines(report):
                write(line)
        for line in budget_lines(
            report, self.run.totals, self.run_limits, self.settings["warn_only"]
        ):
            write(line)
        if report.baseline is not None:
            from ..render.compare_text import summary_lines as comparison_lines
            from ..render.compare_text import verdict

            write(
                f"baseline {self.baseline_path.name}: {verdict(report.baseline)} "
                f"(rule: {report.baseline.rule})"
            )
            for line in comparison_lines(report.baseline):
                write(line)
        elif self.run:
            write(
                f"baseline: none at {self.baseline_path} (nothing to compare; create it with "
                "--tokenbudget-update-baseline)"
            )
        if self.baseline_written is not None:
            write(f"baseline updated: {self.baseline_path} ({self.baseline_written} tests)")
        for key in ("json", "markdown", "html"):
            if self.settings[key]:
                write(f"{key} report written to {self.config.rootpath / self.settings[key]}")


def run_limits(settings: Settings) -> Limits:
    values, sources = {}, {}
    for key, name in (("max_tokens", "max_tokens"), ("max_cost_usd", "max_cost_usd")):
        if settings[key] is not None:
            values[name] = settings[key]
            sources[name] = settings.sources[key]
    return Limits(values, sources)
