"""Spend protection: refuse an LLM request once the test or the run reached a budget (no pytest).

Capture calls :meth:`SpendGuard.before_request` before each request it recognises, in the
thread that sends it; raising :class:`~pytest_tokenbudget.gate.budget.BudgetExceeded` there
stops the request. Each test's first refusal is kept until the test ends, when the plugin fails
the test with it even if the test's code caught it. Under xdist the run budget is shared by the
workers while they run: each worker publishes its running total to a file in a folder the
controller made (:class:`SharedTotals`), and adds up the others' files before each request. A
worker reads totals that are at most one response old, so at most one request in flight per
worker can pass the limit.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Mapping

from .gate.budget import BudgetExceeded, Limits, reached
from .tracker import ATTRIBUTION, TokenTracker
from .usage import EMPTY, Usage, usage_counts


class SharedTotals:
    """The running totals of all xdist workers, one small file per worker."""

    def __init__(self, folder: str, worker_id: str) -> None:
        self.folder = Path(folder)
        self.own = f"{worker_id}.json"
        self._path = self.folder / self.own

    def publish(self, usage: Usage) -> None:
        from .atomicfile import write_atomic

        write_atomic(self._path, json.dumps(usage_counts(usage)), durable=False)

    def total(self, own: Usage) -> Usage:
        total = own
        for entry in os.scandir(self.folder):
            if entry.name == self.own or not entry.name.endswith(".json"):
                continue
            try:
                total += Usage(**json.loads(Path(entry.path).read_text()))
            except (OSError, ValueError, TypeError):  # a worker that never published
                continue
        return total


class SpendGuard:
    """This process's running total, and the check made before each request."""

    def __init__(self, enforce: bool, run_limits: Limits, limits: Mapping[str, Limits]) -> None:
        #: ``enforce`` from the option or config; a marker's ``enforce=`` wins for its test.
        self.enforce = enforce
        self.run_limits = run_limits
        #: Per-test limits by node id (filled in at collection).
        self.limits = limits
        #: All usage this process counted so far, and, on an xdist worker, the other workers'.
        self.running = EMPTY
        self._lock = threading.Lock()
        self.shared: SharedTotals | None = None
        #: The first refusal of each test by node id, until the test ends: a test whose code
        #: caught it is failed all the same.
        self.refusals: dict[str, BudgetExceeded] = {}
        if run_limits:  # the running total serves only to check the run budget
            ATTRIBUTION.listen(self.count_running)

    def count_running(self, usage: Usage) -> None:
        with self._lock:
            self.running += usage
            if self.shared is not None and ATTRIBUTION.before_request is not None:
                self.shared.publish(self.running)  # read only by spend protection

    def install(self) -> None:
        """Hook into capture only if a request of this run could be refused: every captured
        call pays for the hook (called again once the markers are read)."""
        default = self.enforce
        could_refuse = (default and self.run_limits) or any(
            (default if lim.enforce is None else lim.enforce) and (lim or self.run_limits)
            for lim in self.limits.values()
        )
        ATTRIBUTION.before_request = self.before_request if could_refuse else None

    def before_request(self, tracker: TokenTracker) -> None:
        """Refuse a request once the test or the run reached a limit."""
        __tracebackhide__ = True
        limits = self.limits.get(tracker.nodeid)
        enforce = self.enforce
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
                refusal = BudgetExceeded(scope, verdict)
                self.refusals.setdefault(tracker.nodeid, refusal)
                raise refusal
