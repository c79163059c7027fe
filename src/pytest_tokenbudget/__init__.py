"""pytest-tokenbudget: token usage tracking, budgets and a CI regression gate for LLM tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_names

if TYPE_CHECKING:
    from .gate.budget import BudgetExceeded
    from .tracker import TokenTracker
    from .usage import Usage
    from .version import __version__

#: The module of each name, loaded when the name is first asked for: importing the plugin (as
#: every pytest run does) loads none of them.
_MODULES = {
    "BudgetExceeded": "gate.budget",
    "TokenTracker": "tracker",
    "Usage": "usage",
    "__version__": "version",
}


__getattr__ = lazy_names(__name__, _MODULES)

__all__ = ["BudgetExceeded", "TokenTracker", "Usage", "__version__"]
