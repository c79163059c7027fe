"""pytest-tokenbudget: token usage tracking, budgets and a CI regression gate for LLM tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .gate.budget import BudgetExceeded
    from .tracker import TokenTracker
    from .usage import Usage

#: The module of each name, loaded when the name is first asked for: importing the plugin (as
#: every pytest run does) loads none of them.
_MODULES = {"BudgetExceeded": "gate.budget", "TokenTracker": "tracker", "Usage": "usage"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["BudgetExceeded", "TokenTracker", "Usage", "__version__"]
