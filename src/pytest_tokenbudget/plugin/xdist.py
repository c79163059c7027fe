"""xdist-only hooks, registered only when pytest-xdist is present (its hook specs exist).

Spend protection's run budget is shared by the workers while they run: each worker publishes
its running total to a file in a folder the controller made, and adds up the others' files
before each request. A worker reads totals that are at most one response old, so at most one
request in flight per worker can pass the limit.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ..usage import USAGE_FIELDS, Usage
from .session import WORKER_OUTPUT_KEY, TokenBudgetSession

SHARED_KEY = "tokenbudget_shared"


class SharedTotals:
    """The running totals of all workers, one small file per worker."""

    def __init__(self, folder: str, worker_id: str) -> None:
        self.folder = Path(folder)
        self.own = f"{worker_id}.json"
        self._path = self.folder / self.own
        self._tmp = self.folder / f".{self.own}.tmp"

    def publish(self, usage: Usage) -> None:
        self._tmp.write_text(json.dumps([getattr(usage, f) for f in USAGE_FIELDS]))
        os.replace(self._tmp, self._path)

    def total(self, own: Usage) -> Usage:
        total = own
        for entry in os.scandir(self.folder):
            if entry.name == self.own or not entry.name.endswith(".json"):
                continue
            try:
                total += Usage(*json.loads(Path(entry.path).read_text()))
            except (OSError, ValueError, TypeError):  # a worker that never published
                continue
        return total


class XdistHooks:
    def __init__(self, owner: TokenBudgetSession, config: pytest.Config) -> None:
        self.owner = owner
        self.folder: str | None = None
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and workerinput.get(SHARED_KEY):
            owner.shared = SharedTotals(workerinput[SHARED_KEY], workerinput["workerid"])

    def pytest_configure_node(self, node: Any) -> None:
        """Controller: give each worker the folder of shared totals (run budgets only)."""
        if not self.owner.run_limits:
            return
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="tokenbudget-")
            self.owner.config.add_cleanup(lambda: shutil.rmtree(str(self.folder), True))
        node.workerinput[SHARED_KEY] = self.folder

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker finished: add the usage it recorded outside any test."""
        payload = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if payload is not None:
            self.owner.run.add_session(payload)
