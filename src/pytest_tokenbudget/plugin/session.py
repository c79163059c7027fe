"""Per-run pytest glue: limits at collection, the controller's report, files, summary, exit status.

The baseline, regression and report modules are imported when a run ends (or when a baseline
file exists), not at plugin import: pytest start-up stays cheap for every suite.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator

import pytest

from ..attribution import ATTRIBUTION
from .hooks import HookWiring
from .outputs import Outputs, ran_tests, runs_tests
from .tests import TESTS_PLUGIN, ControllerHooks, TestBounds, budget_markers, per_test_hooks

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

    from ..config import Settings
    from ..files.baseline import Baseline
    from ..gate.budget import BudgetExceeded, Limits
    from ..protection import SpendGuard
    from ..records import Violation
    from ..report import Report
    from ..run import RunUsage
    from .watch import Watching

#: ``config.workeroutput`` key of a worker's buckets (usage outside any test's figure), by name.
WORKER_OUTPUT_KEY = "tokenbudget_buckets"
#: ``config.workeroutput`` key of a worker's confirmation attempts: node id -> payloads.
CONFIRMED_KEY = "tokenbudget_confirmed"
#: The refusals of a run without spend protection: always empty.
NO_REFUSALS: dict[str, BudgetExceeded] = {}


class TokenBudgetSession(HookWiring):
    """The run's state and its run-level hooks (registered as ``tokenbudget-session``).

    The run's accounting (``run``), its budget (``run_limits``) and spend protection
    (``guard``) are made when first needed: a run in which no test records anything, with no
    limits, never loads them."""

    def __init__(self, config: pytest.Config, settings: Settings, origin: str) -> None:
        super().__init__(config, settings["prices"], origin)
        self.config = config
        self.settings = settings
        self._run: RunUsage | None = None
        self._run_limits: Limits | None = None
        self._guard: SpendGuard | None = None
        #: The first request spend protection refused in each running test, by node id (the
        #: guard's, once made: an attribute, read by every test's call report).
        self.refusals: dict[str, BudgetExceeded] = NO_REFUSALS
        self.is_worker = hasattr(config, "workerinput")
        self.is_controller = False
        self.report: Report | None = None
        #: Per-test limits by node id, from markers and the default (collection time).
        self.limits: dict[str, Limits] = {}
        self.bad_markers: dict[str, str] = {}
        self.violations: list[Violation] = []
        self.run_messages: list[str] = []
        #: Notes on crashed xdist workers (plugin/xdist.py), added when the run is reported.
        self.crash_notes: list[str] = []
        if self.has_run_budget:
            self.guard.install()  # a run budget: the running total counts from the start
        self.baseline_path: Path = config.rootpath / settings["baseline"]
        self.baseline: Baseline | None = None
        self.baseline_written: int | None = None
        #: Files that could not be written at the end, and other notes on the outputs.
        self.outputs = Outputs(config, settings)
        #: A worker's confirmation attempts, shipped when it finishes: node id -> payloads.
        self.confirmations: dict[str, list[dict[str, Any]]] = {}
        #: Serial run or xdist worker: the per-test hooks until tests' reports are watched.
        self.bounds: TestBounds | None = None

    @property
    def run(self) -> RunUsage:
        if self._run is None:
            from ..run import RunUsage

            self._run = RunUsage()
        return self._run

    @property
    def has_run_budget(self) -> bool:
        """Does the whole run have a limit (without loading the budget module)?"""
        return self.settings["max_tokens"] is not None or self.settings["max_cost_usd"] is not None

    @property
    def run_limits(self) -> Limits:
        if self._run_limits is None:
            from ..gate.budget import run_limits

            self._run_limits = run_limits(self.settings)
        return self._run_limits

    @property
    def guard(self) -> SpendGuard:
        if self._guard is None:
            from ..protection import SpendGuard

            self._guard = SpendGuard(self.settings["enforce"], self.run_limits, self.limits)
            self.refusals = self._guard.refusals
        return self._guard

    def recorded(self) -> bool:
        """Did this process's run count anything yet (without making the run's accounting)?"""
        return self._run is not None and bool(self._run)

    def collect(self, nodeid: str, payload: dict[str, Any]) -> None:
        """A test finished in this process; a worker leaves the adding up to the controller."""
        if not self.is_worker:
            run = self._run
            (self.run if run is None else run).add_test(nodeid, payload)

    def confirmed(self, nodeid: str, payload: dict[str, Any]) -> None:
        """A confirmation attempt finished in this process (``--tokenbudget-confirm``)."""
        if self.is_worker:
            self.confirmations.setdefault(nodeid, []).append(payload)
        else:
            self.run.add_confirmation(nodeid, payload)

    # -- budgets ---------------------------------------------------------------------------
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Read each test's limits once; a test with a malformed marker errors in setup (a
        UsageError raised here would crash xdist workers, and runs must agree)."""
        default = self.settings["test_max_tokens"]
        for item, marker in budget_markers(items, every=default is not None):
            args, kwargs = (marker.args, marker.kwargs) if marker else ((), {})
            from ..gate.budget import marker_limits  # tests with limits only

            try:
                self.limits[item.nodeid] = marker_limits(args, kwargs, default)
            except ValueError as exc:
                self.bad_markers[item.nodeid] = f"tokenbudget: bad token_budget marker: {exc}"
        if self.limits or self._guard is not None:
            self.guard.install()
        if (self.limits or self.bad_markers) and self.bounds is not None:
            self.bounds.watch(during_test=False)  # every test with limits has reports to check

    # -- run-level hooks -------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not self.is_worker and runs_tests(self.config):
            # a bad output path or a corrupt baseline stops the run before any test (exit 4)
            self.outputs.check()
            self.baseline = self.outputs.load_baseline(self.baseline_path)
        pm = self.config.pluginmanager
        self.is_controller = pm.has_plugin("dsession")
        if self.is_controller:
            pm.register(ControllerHooks(self), TESTS_PLUGIN)
            return
        confirm = self.settings["confirm"]
        self.bounds = per_test_hooks(self.watcher, pm, bool(confirm) or self._guard is not None)
        if confirm:
            from .confirm import Confirmation
            from .watch import PerTestHooks

            hooks = self.bounds.hooks
            assert isinstance(hooks, PerTestHooks)  # watching from the start
            pm.register(Confirmation(self, hooks), "tokenbudget-confirm")

    def watcher(self) -> Watching:
        """The hooks of a run that watches its tests' reports (their module loaded now)."""
        from .watch import watching

        checks = self.limits or self.bad_markers or self._guard or self.settings["confirm"]
        return watching(self, self.config, checks=bool(checks))

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        ATTRIBUTION.close()  # what the last test left (a run that records nothing: nothing)
        buckets: dict[str, dict[str, Any]] = {}
        if ATTRIBUTION.buckets:  # none made: a run that recorded nothing loads no tracker
            from ..tracker import tracker_payload

            buckets = {name: tracker_payload(t) for name, t in ATTRIBUTION.buckets.items()}
        if self.is_worker:
            self.config.workeroutput[WORKER_OUTPUT_KEY] = buckets  # type: ignore[attr-defined]
            self.config.workeroutput[CONFIRMED_KEY] = self.confirmations  # type: ignore[attr-defined]
        else:
            if any(any(payload.values()) for payload in buckets.values()):
                self.run.add_buckets(buckets)  # empty buckets bring nothing
            self.finish_run(session)
        return (yield)

    def finish_run(self, session: pytest.Session) -> None:
        """Controller or serial run: build the report, compare, write files, set exit status."""
        if not self.recorded() and not self.settings_given():
            return
        if not ran_tests(session):  # --collect-only, --fixtures, all deselected: write nothing
            return
        if session.exitstatus == pytest.ExitCode.INTERRUPTED and not self.run:
            return  # stopped before any usage (collection errors, Ctrl-C): nothing to say
        self.check_run()
        from ..environment import sdk_versions

        report = self.run.to_report(pricing=self.pricer.identity(), sdks=sdk_versions())
        if self.baseline is not None:
            self.compare(report)
            if self.outputs.baseline_changed(self.baseline_path):
                self.outputs.notes.append(
                    f"{self.baseline_path} changed during the run (another program wrote it): "
                    "this run was compared with the baseline as it was when the run started"
                )
        report.violations = self.violations
        report.passed = not self.violations
        if self.settings["runs_per_month"] is not None:
            from ..projection import project

            project(report, self.settings["runs_per_month"])
        self.report = report
        self.write_files(report)
        failing = self.run_messages and not self.settings["warn_only"]
        if (failing or self.outputs.failed) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # warn-only too: an output was lost

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
            pricer=self.pricer,
            confirm=self.settings["confirm"],
        )
        report.baseline = comparison.record()
        report.baseline.path = self.baseline_shown()
        if self.baseline.recorded is not None:
            report.baseline.recorded = self.baseline.recorded
        # Updating the baseline accepts this run's figures: the regressions are shown (in the
        # comparison) but are not violations of this run, so its report says passed.
        if not self.settings["update_baseline"]:
            regressions = comparison.violations()
            self.violations += regressions
            self.run_messages += [v.message for v in regressions]

    def baseline_shown(self) -> str:
        """The baseline's path as the user gave it: relative to the rootdir where it is inside
        (``budgets/tokens.json``; a runner's absolute path means nothing in a comment)."""
        try:
            return self.baseline_path.relative_to(self.config.rootpath).as_posix()
        except ValueError:
            return str(self.baseline_path)

    def write_files(self, report: Report) -> None:
        """Every output, each on its own: one that cannot be written costs only itself (and
        loads its writer only when asked for)."""
        self.outputs.write_reports(report)
        if self.settings["update_baseline"]:

            def update(path: Path) -> None:
                from ..files.baseline import baseline_from_report, update_file
                from ..report import Recorded

                new = baseline_from_report(report)
                commit = os.environ.get("GITHUB_SHA") or None
                new.recorded = Recorded(commit, date.today().isoformat(), runs=1)
                done = update_file(path, new, replace_corrupt=True, known=self.baseline)
                self.baseline_written = done.tests
                if done.corrupt:
                    self.outputs.notes.append(
                        f"replaced the unreadable baseline with this run's {done.tests:,} tests"
                    )

            self.outputs.write("baseline", update)

    def check_run(self) -> None:
        """Collect per-test violations and check the run's own budget."""
        from ..gate.budget import check, message, uncounted_note, unpriced_note, violation

        self.violations += self.run.violations()
        for crash in self.crash_notes:
            self.run.notes[crash] = 1
        totals = self.run.totals
        exceeded = check(totals, self.run_limits)
        if exceeded:
            cells = self.run.cells()
            for verdict in exceeded:  # one violation, one line, per limit
                text = message([verdict], totals, cells, "run budget exceeded")
                self.run_messages.append(text)
                self.violations.append(violation("run_budget", None, verdict, text))
        for note in (
            unpriced_note(totals, self.run_limits),
            uncounted_note(totals, self.run_limits),
        ):
            if note:
                self.run.notes[f"run {note}"] = 1
        from ..inert import inert

        by_model = self.run.by_model()
        unpriced = sorted(m for m, u in by_model.items() if u.unpriced_calls)
        if unpriced:
            note = (
                f"unpriced model{'s' if len(unpriced) > 1 else ''} (cost unknown, not $0): "
                f"{', '.join(map(inert, unpriced))}; "
                'set prices in [tool.tokenbudget.prices."MODEL"]'
            )
            self.run.notes[note] = 1
        if not by_model:  # no call: nothing priced, so no note on prices (and no table loaded)
            return
        from ..pricing import cache_savings, staleness_note

        stale = staleness_note(self.pricer.get().version, date.today())
        if stale:
            self.run.notes[stale] = 1
        savings = cache_savings(self.pricer.get(), by_model)
        note = savings.note() if savings is not None else None
        if note:
            self.run.notes[note] = 1

    def settings_given(self) -> bool:
        return any(self.settings.given(key) for key in self.settings.values)

    def pytest_terminal_summary(self, terminalreporter: TerminalReporter) -> None:
        report = self.report
        if report is None or terminalreporter.verbosity < -1:
            return
        from ..inert import inert
        from ..render.text import budget_lines, summary_lines
        from ..render.verdict import gate_verdict

        def write(line: str, **markup: bool) -> None:
            # model names, operations and node ids come from outside: never a workflow command
            terminalreporter.write_line(inert(line), **markup)

        terminalreporter.write_sep("=", "tokenbudget")
        if not self.run:
            write("no LLM token usage recorded")
        else:
            breakdowns = self.run.breakdowns()  # what the records add up to, already added
            for line in summary_lines(report, top=self.settings["top"], breakdowns=breakdowns):
                write(line)
        for line in budget_lines(
            report, self.run.totals, self.run_limits, self.settings["warn_only"]
        ):
            write(line)
        if report.baseline is not None:
            from ..render.compare_text import summary_lines as comparison_lines
            from ..render.compare_text import verdict

            accepted = ""  # a regression shown here fails the run unless one of these says not
            if report.baseline.regressed and self.settings["update_baseline"]:
                accepted = " — accepted: baseline updated"
            elif report.baseline.regressed and self.settings["warn_only"]:
                accepted = " — not failing: warn-only"
            write(
                f"baseline {self.baseline_path.name}: {verdict(report.baseline)} "
                f"(rule: {report.baseline.rule}){accepted}"
            )
            for line in comparison_lines(report.baseline):
                write(line)
        elif self.run and self.outputs.unreadable is None:
            write(
                f"baseline: none at {self.baseline_path} (nothing to compare; create it with "
                "--tokenbudget-update-baseline)"
            )
        for note in self.outputs.notes:
            write(f"note: {note}")
        if self.baseline_written is not None:
            write(f"baseline updated: {self.baseline_path} ({self.baseline_written} tests)")
        for key, path in self.outputs.written:
            if key not in ("history", "baseline"):
                write(f"{key} report written to {path}")
        for failure in self.outputs.failed:
            write(f"tokenbudget: {failure} (the run fails: an output was lost)", red=True)
        gate = gate_verdict(
            report,
            warn_only=self.settings["warn_only"],
            baseline_updated=self.baseline_written is not None,
        )
        write(gate.text, **{gate.colour: True, "bold": True})
        # pytest's final line names what failed the gate ("5 passed, 1 token regression"):
        # words it does not know are never green. TerminalReporter.stats is its public record
        # of outcomes, and plugins that read it (hypothesis) expect reports in it.
        failed = gate.colour == "red" or bool(self.outputs.failed)
        outcomes = dict(gate.outcomes)
        lost = len(self.outputs.failed)
        if lost:  # the run fails for it: the final line says why, never in green
            outcomes["tokenbudget output lost" if lost == 1 else "tokenbudget outputs lost"] = lost
        for word, count in outcomes.items():
            gate_report = pytest.TestReport(
                "<tokenbudget>",
                ("<tokenbudget>", None, word),
                {},
                "failed" if failed else "passed",
                gate.text,
                "call",
            )
            terminalreporter.stats.setdefault(word, []).extend([gate_report] * count)
