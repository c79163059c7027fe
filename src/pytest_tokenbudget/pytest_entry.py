"""The ``pytest11`` entry point ``tokenbudget``: the plugin's hooks under a module of their own.

A suite that also names ``pytest_tokenbudget.plugin`` (``-p`` or ``pytest_plugins``) then
registers a second module instead of crashing pytest with "Plugin already registered", and the
hooks make that second registration a no-op: one set of options, one session, one count.
"""

from __future__ import annotations

from .plugin import (
    pytest_addhooks,
    pytest_addoption,
    pytest_configure,
    pytest_load_initial_conftests,
    token_tracker,
)

__all__ = [
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_configure",
    "pytest_load_initial_conftests",
    "token_tracker",
]


def __dir__() -> list[str]:
    """The hooks and the fixture alone: pytest looks for fixtures at each name a registered
    plugin module lists (about 200 Python instructions a name, every run)."""
    return list(__all__)
