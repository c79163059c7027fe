"""xdist-only hooks, registered only when pytest-xdist is present (its hook specs exist)."""

from __future__ import annotations

from typing import Any

from .session import WORKER_OUTPUT_KEY, TokenBudgetSession


class XdistHooks:
    def __init__(self, owner: TokenBudgetSession) -> None:
        self.owner = owner

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker finished: add the usage it recorded outside any test."""
        payload = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if payload is not None:
            self.owner.run.add_session(payload)
