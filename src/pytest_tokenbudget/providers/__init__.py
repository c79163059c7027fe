"""The provider seam: which request is an LLM call, and how to read what its reply billed.

Pure: no HTTP client, no SDK, no pytest. Capture asks ``endpoint(method, path)`` of every
request it sees, so a request that is no LLM call costs one dictionary look-up and one
``str.endswith`` (a GET: one regex search, for OpenAI's background polls). ``extract(obj)``
reads any supported reply by its shape alone (``token_tracker.record(response)``). A provider
is one module here and one ``register`` line below; a new HTTP client is a patch in
``capture``, never a change here.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ..usage import Extracted
from . import anthropic, bedrock, gemini, ollama, openai
from .base import Declared, Endpoint, Provider, Route, Shape, StreamReader

__all__ = [
    "Declared",
    "Endpoint",
    "Provider",
    "Route",
    "Shape",
    "StreamReader",
    "endpoint",
    "extract",
    "register",
]


#: One method's routes: (every suffix, for one cheap test on a miss; the suffix routes, each
#: before any it is more specific than, with the text the path must also contain; the pattern
#: routes).
_Table = tuple[
    tuple[str, ...],
    tuple[tuple[tuple[str, ...], Endpoint, str], ...],
    tuple[tuple[re.Pattern[str], Endpoint], ...],
]


def _table(routes: list[Route]) -> _Table:
    by_suffix: list[tuple[tuple[str, ...], Endpoint, str]] = []
    patterns: list[tuple[re.Pattern[str], Endpoint]] = []
    for route in routes:
        if isinstance(route.path, re.Pattern):
            patterns.append((route.path, route.endpoint))
            continue
        ends = (route.path,) if isinstance(route.path, str) else route.path
        # a longer suffix is tried before one it ends with ("/chat/completions" before
        # "/completions"); else routes are tried in the order they were registered
        at = next(
            (
                i
                for i, (theirs, _, _) in enumerate(by_suffix)
                if any(e != t and e.endswith(t) for e in ends for t in theirs)
            ),
            len(by_suffix),
        )
        by_suffix.insert(at, (ends, route.endpoint, route.within or ""))
    every = tuple(end for ends, _, _ in by_suffix for end in ends)
    return every, tuple(by_suffix), tuple(patterns)


_providers: list[Provider] = []
_tables: dict[str, _Table] = {}
_shapes: list[Shape] = []
_unwraps: list[Callable[[Any], Any]] = []


def register(provider: Provider) -> Callable[[], None]:
    """Add ``provider`` (its routes, its shapes after those already known); returns its undo."""
    _providers.append(provider)
    _rebuild()

    def unregister() -> None:
        if provider in _providers:
            _providers.remove(provider)
            _rebuild()

    return unregister


def _rebuild() -> None:
    global _tables, _shapes, _unwraps
    methods: dict[str, list[Route]] = {}
    for provider in _providers:
        for route in provider.routes:
            methods.setdefault(route.method, []).append(route)
    shapes = [s for p in _providers for s in p.shapes]
    # replaced whole, never changed in place: a request classified meanwhile sees one or the other
    _tables = {method: _table(routes) for method, routes in methods.items()}
    _shapes = [s for s in shapes if not s.shared] + [s for s in shapes if s.shared]
    _unwraps = [p.unwrap for p in _providers if p.unwrap is not None]


def endpoint(method: str, path: str) -> Endpoint | None:
    """The provider endpoint a ``method`` request to ``path`` is, on any base URL; else None."""
    table = _tables.get(method)
    if table is None:
        return None
    suffixes, by_suffix, patterns = table
    if suffixes and path.endswith(suffixes):
        for ends, found, within in by_suffix:
            if path.endswith(ends) and within in path:
                return found
    for pattern, found in patterns:
        if pattern.search(path) is not None:
            return found
    return None


def extract(obj: object) -> Extracted | None:
    """What one reply billed, read by its shape; None when it carries no (final) usage.

    Accepts SDK response objects and dicts of every registered provider's replies (and their
    stream events). A shape only one provider has is tried before one several share. Raises
    ValueError on figures that are not non-negative integers.
    """
    for shape in _shapes:
        if shape.claims(obj):
            return shape.read(obj)
    for unwrap in _unwraps:
        inner = unwrap(obj)
        if inner is not None:
            return extract(inner)
    return None


register(openai.PROVIDER)
register(anthropic.PROVIDER)
register(gemini.PROVIDER)
register(ollama.PROVIDER)
register(bedrock.PROVIDER)
