"""pytest-tokenbudget: token usage tracking, budgets and a CI regression gate for LLM tests."""

from __future__ import annotations

from .gate.budget import BudgetExceeded
from .tracker import TokenTracker
from .usage import Usage

__version__ = "0.1.0"

__all__ = ["BudgetExceeded", "TokenTracker", "Usage", "__version__"]
