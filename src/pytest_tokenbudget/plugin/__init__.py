"""pytest11 entry point ``tokenbudget`` (``-p pytest_tokenbudget.plugin`` too): the hooks and
the fixture, each loading what it does (``setup.py``) when called.

Importing this module must stay cheap: pytest imports an installed plugin's first modules
through its assertion rewriter, which reads their cached code far more slowly than Python's own
import, until ``pytest_addhooks`` unmarks the package; tiktoken, the price table and the HTTP
clients load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from typing import Callable

    from ..tracker import TokenTracker


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    _unmark_rewrite(pluginmanager)
    from . import hookspecs

    if not hasattr(pluginmanager.hook, hookspecs.pytest_tokenbudget_price.__name__):
        pluginmanager.add_hookspecs(hookspecs)


def _unmark_rewrite(pluginmanager: pytest.PytestPluginManager) -> None:
    """pytest rewrites the asserts of every module of an installed plugin's package, importing
    each through its own hook: that doubled the cost of loading the run's machinery (about 40M
    instructions a run), and this package has no asserts that report to a user. The modules
    imported from now on load as plain Python; without the hook's private set, nothing changes."""
    hook = getattr(pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if isinstance(marked, set):
        marked.discard(__name__.partition(".")[0])


def pytest_addoption(parser: pytest.Parser) -> None:
    from .setup import add_options

    add_options(parser)


def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """A typo'd ``--tokenbudget-*`` option stops the run naming the option it was meant as."""
    from ..config import unknown_options

    unknown = unknown_options(args)
    if unknown:
        raise pytest.UsageError(f"tokenbudget: {unknown[0]}")


def pytest_configure(config: pytest.Config) -> None:
    from .setup import configure

    configure(config)


#: ``ATTRIBUTION.tracker``, bound by the fixture's first call: an import statement in the
#: fixture cost each test about 5,000 instructions, one at module level every run's start.
_tracker: Callable[[], TokenTracker] | None = None


@pytest.fixture
def token_tracker() -> TokenTracker:
    """Token usage of the running test: ``record(...)``, ``operation(name)``, ``usage``,
    ``by_model``, ``by_operation``, ``count(text)``. LLM SDK calls are recorded automatically.
    """
    global _tracker
    if _tracker is None:
        from ..attribution import ATTRIBUTION

        _tracker = ATTRIBUTION.tracker
    return _tracker()
