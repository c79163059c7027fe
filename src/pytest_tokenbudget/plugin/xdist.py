"""xdist-only hooks, registered only when pytest-xdist is present (its hook specs exist).

The controller gives each worker a folder for the shared running totals of spend protection
(:class:`~pytest_tokenbudget.protection.SharedTotals`), and adds up each worker's usage
outside any test when the worker finishes.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import pytest

from ..protection import SharedTotals
from .session import WORKER_OUTPUT_KEY, TokenBudgetSession

SHARED_KEY = "tokenbudget_shared"


class XdistHooks:
    def __init__(self, owner: TokenBudgetSession, config: pytest.Config) -> None:
        self.owner = owner
        self.folder: str | None = None
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and workerinput.get(SHARED_KEY):
            owner.guard.shared = SharedTotals(workerinput[SHARED_KEY], workerinput["workerid"])

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
