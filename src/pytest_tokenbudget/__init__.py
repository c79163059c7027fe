"""pytest-tokenbudget: token usage tracking, budgets and a CI regression gate for LLM tests."""

from __future__ import annotations

from .gate.budget import BudgetExceeded
from .tracker import TokenTracker
from .usage import Usage
from .version import __version__

__all__ = ["BudgetExceeded", "TokenTracker", "Usage", "__version__"]
