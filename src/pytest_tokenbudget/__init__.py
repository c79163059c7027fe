"""pytest-tokenbudget: token usage tracking, budgets and a CI regression gate for LLM tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .gate.budget import BudgetExceeded
    from .tracker import TokenTracker
    from .usage import Usage
    from .version import __version__

#: The module of each name, loaded when the name is first asked for: importing the plugin (as
#: every pytest run does) loads none of them, nor even ``lazy``: pytest imports an installed
#: plugin's first modules through its assertion rewriter, slowly.
_MODULES = {
    "BudgetExceeded": "gate.budget",
    "TokenTracker": "tracker",
    "Usage": "usage",
    "__version__": "version",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:  # a submodule not imported yet (``from . import x`` asks first)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .lazy import lazy_names

    return lazy_names(__name__, _MODULES)(name)


__all__ = ["BudgetExceeded", "TokenTracker", "Usage", "__version__"]
