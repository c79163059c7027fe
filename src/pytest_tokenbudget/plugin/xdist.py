"""xdist-only hooks, registered only when pytest-xdist is present (its hook specs exist).

The controller gives each worker a folder for the shared running totals of spend protection
(:class:`~pytest_tokenbudget.protection.SharedTotals`), and adds up each worker's buckets (its
usage outside any test's figure) when the worker finishes. A worker that crashes never ships
the usage of the test it was running (nor its buckets): under an enforced run budget the controller
compares the running total it last published with what its test reports carried, and counts
the difference in a bucket of its own, named in a note.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

import pytest

from .hooks import PluginObject
from .session import CONFIRMED_KEY, WORKER_OUTPUT_KEY, TokenBudgetSession
from .tests import REPORT_ATTR

if TYPE_CHECKING:  # loaded when a run has a budget or a worker crashed: not by idle runs
    from ..usage import Usage

SHARED_KEY = "tokenbudget_shared"
#: The bucket of a crashed worker's usage that no test report carried (in the run's totals).
CRASHED_BUCKET = "<worker {} crashed>"


class XdistHooks(PluginObject):
    def __init__(self, owner: TokenBudgetSession, config: pytest.Config) -> None:
        self.owner = owner
        self.folder: str | None = None
        self.shipped = ShippedUsage()
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and workerinput.get(SHARED_KEY):
            from ..protection import SharedTotals

            owner.guard.shared = SharedTotals(workerinput[SHARED_KEY], workerinput["workerid"])

    def pytest_configure_node(self, node: Any) -> None:
        """Controller: give each worker the folder of shared totals (run budgets only)."""
        if not self.owner.has_run_budget:
            return
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="tokenbudget-")
            self.owner.config.add_cleanup(lambda: shutil.rmtree(str(self.folder), True))
            self.owner.config.pluginmanager.register(self.shipped, "tokenbudget-shipped")
        node.workerinput[SHARED_KEY] = self.folder

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker finished: add its buckets (the usage outside any test's figure)."""
        output = getattr(node, "workeroutput", {})
        buckets = output.get(WORKER_OUTPUT_KEY)
        if buckets:  # a worker that recorded nothing made none
            self.owner.run.add_buckets(buckets)
        for nodeid, payloads in output.get(CONFIRMED_KEY, {}).items():
            for payload in payloads:
                self.owner.run.add_confirmation(nodeid, payload)
        if error:
            self.crashed(node.workerinput["workerid"])

    def crashed(self, worker: str) -> None:
        """Count what the crashed ``worker`` published that none of its test reports carried."""
        from ..protection import beyond, read_total
        from ..usage import EMPTY, NO_MODEL, NO_OPERATION, usage_counts

        if self.folder is None:
            return self.unknown(worker, "workers share running totals only under a run budget")
        shipped = self.shipped.by_worker.get(worker, EMPTY)
        try:
            published = read_total(os.path.join(self.folder, f"{worker}.json"))
        except FileNotFoundError:
            if not os.path.isdir(self.folder):
                self.unknown(worker, "the folder of shared running totals is gone")
            elif shipped or not self.owner.settings["enforce"]:  # else it counted nothing
                self.unknown(
                    worker,
                    "it published no running total: workers publish theirs "
                    "only while spend protection is on",
                )
            return
        except (OSError, ValueError, RecursionError) as exc:
            return self.unknown(worker, f"{type(exc).__name__}: {exc}")
        lost = beyond(published, shipped)
        if lost:
            from ..render.text import describe

            bucket = CRASHED_BUCKET.format(worker)
            cells = [[NO_MODEL, NO_OPERATION, usage_counts(lost)]]
            self.owner.run.add_test(bucket, {"cells": cells, "status": "crashed"})
            self.owner.crash_notes.append(
                f"worker {worker} crashed: its last published running total holds "
                f"{describe(lost)} that no test report carried; counted in {bucket}"
            )

    def unknown(self, worker: str, why: str) -> None:
        self.owner.crash_notes.append(
            f"worker {worker} crashed: what it spent since its last test report is not known "
            f"and not in these totals ({why})"
        )


class ShippedUsage:
    """Controller, run budgets only: the usage each worker's test reports carried."""

    def __init__(self) -> None:
        self.by_worker: dict[str, Usage] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, REPORT_ATTR, None)
        if payload is not None and report.when == "teardown":
            from ..tracker import cells_from_payload
            from ..usage import EMPTY, add_into

            usage = sum(cells_from_payload(payload).values(), EMPTY)
            add_into(self.by_worker, report.node.workerinput["workerid"], usage)
