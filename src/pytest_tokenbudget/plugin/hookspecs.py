"""The plugin's hooks, added with ``pytest_addhooks``: implement them in a conftest.py or a
plugin. A hook nobody implements costs nothing (see ``hooks.py``)."""

from __future__ import annotations

from typing import Any

import pytest


def __dir__() -> list[str]:
    """The hooks alone: pluggy asks of each name a hookspec module lists whether it is one
    (``inspect.getattr_static``, about 500 Python instructions a name, every run)."""
    return [name for name in globals() if name.startswith("pytest_tokenbudget_")]


@pytest.hookspec(firstresult=True)
def pytest_tokenbudget_parse_response(request: Any, response: Any) -> dict[str, Any] | None:
    """Read what a reply billed: ``request`` and ``response`` are the httpx/httpx2 request and
    its read (non-streamed, 2xx) response. Return a dict of usage fields (``input_tokens``, all
    input with cache reads and writes, ``output_tokens``, ``cache_read_tokens``,
    ``cache_write_tokens``, ``reasoning_tokens``; optionally ``total_tokens``, ``cost_usd``
    (what it was billed), ``response_id``) plus ``model``; or None if it is not an LLM call.

    Asked for replies to requests no built-in provider recognised: the built-in providers
    answer first (the same hook, ``tryfirst``), and the first answer that is not None wins.
    """


@pytest.hookspec(firstresult=True)
def pytest_tokenbudget_price(model: str | None, usage: Any) -> float | None:
    """The cost in USD of ``usage`` (``input_tokens``, ``output_tokens``, ``cache_read_tokens``,
    ``cache_write_tokens``, ``reasoning_tokens``, ``calls``) on ``model``; None to leave it to
    the price table. Asked before the table, for every call and at comparison time."""


@pytest.hookspec
def pytest_tokenbudget_usage_recorded(nodeid: str, usage: Any) -> None:
    """Observe every record: ``nodeid`` is the test's (or a bucket such as ``<session>``) and
    ``usage`` the :class:`pytest_tokenbudget.Usage` it counted (a duplicate counts nothing and
    is not reported)."""
