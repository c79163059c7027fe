"""The operation label in force (``token_tracker.operation(name)``): a context variable, so each
thread and asyncio task has its own; ``threads.py`` hands it to the threads a test starts."""

from __future__ import annotations

from contextvars import ContextVar

OPERATION: ContextVar[str | None] = ContextVar("tokenbudget_operation", default=None)
