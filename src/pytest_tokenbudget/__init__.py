"""pytest-tokenbudget: token usage tracking, budgets and a CI regression gate for LLM tests."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any


def _import_plainly() -> None:
    """pytest imports an installed plugin's package through its assertion rewriter, module by
    module, far more slowly than Python's own import (``plugin.pytest_addhooks`` says why that
    does not matter here). This package is the plugin's first module pytest imports: from here
    on its entry point and hooks load as plain Python (a nested pytester run, which finds this
    package imported already, is unmarked by ``pytest_addhooks``). Without pytest's hook, or
    its private set of marked names, nothing changes."""
    for finder in sys.meta_path:
        marked = getattr(finder, "_must_rewrite", None)
        if isinstance(marked, set):
            marked.discard(__name__)


_import_plainly()

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
