"""Running sums of a tracker's cells, added to in place (pure).

A test recording many calls into one cell would build a new :class:`~.usage.Usage` per call
if its cell held one; a cell holds instead a list of the ten figures (in ``USAGE_FIELDS``
order) that each call adds to, and becomes a Usage only when read.
"""

from __future__ import annotations

from itertools import compress
from operator import add, itemgetter
from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Tuple, Union

from .usage import EMPTY, USAGE_FIELDS, Cell, Extracted, Usage, usage_counts


class Tracked(Protocol):
    """What a tracker's payload reads of it (``tracker.TokenTracker``)."""

    notes: dict[str, int]
    uncounted_reasons: dict[str, int]

    def payload_cells(self) -> list[list[Any]]: ...
    def served_models(self) -> dict[str, list[str]]: ...


#: A cell's figures: a Usage (one call so far), or the running sums of several.
Held = Union[Usage, List[int]]
#: A tracker's cells, keyed by a Cell or a plain (model, operation) pair (equal, same hash).
Table = Dict[Tuple[str, str], Held]
#: Calls priced before, by (model, their five token counts): ``LazyPricer.calls``.
Known = Dict[Tuple[Optional[str], int, int, int, int, int], Usage]

#: A payload's ``rerun`` mark of an attempt that recorded nothing (only its earlier attempts did).
UNTRACKED = "untracked"
#: How many priced calls a pricer keeps to give again (``LazyPricer.calls``).
MAX_CALLS = 4096

_new = object.__new__
_set = object.__setattr__
#: ``Cell(model, operation)`` at C speed (the NamedTuple's own ``__new__`` is Python code).
_tuple_new = tuple.__new__


def one_call(
    known: Known,
    rates: tuple[int, int, int, int],
    call: tuple[str | None, int, int, int, int, int],
) -> Usage:
    """One call (model, counts already checked) priced at flat ``rates`` (``LazyPricer.flat``),
    kept in ``known`` for the same figures again: ``record()``'s hot path (``Rates.cost_pico``
    of a model with every rate, written out)."""
    _, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens = call
    usage = Usage(  # built once for these figures: ``known`` gives it again
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
        reasoning_tokens=reasoning_tokens,
        calls=1,
        cost_pico=(input_tokens - cache_read_tokens - cache_write_tokens) * rates[0]
        + output_tokens * rates[1]
        + cache_read_tokens * rates[2]
        + cache_write_tokens * rates[3],
    )
    if len(known) < MAX_CALLS:
        known[call] = usage
    return usage


def sums_of(usage: Usage) -> list[int]:
    """The ten figures of ``usage``, as a list to add to."""
    return list(map(usage.__dict__.__getitem__, USAGE_FIELDS))


def add_held(table: Table, key: tuple[str, str], usage: Usage) -> None:
    """Add ``usage`` into the cell ``key`` of ``table``."""
    held = table.get(key)
    if held is None:
        table[key] = usage
        return
    sums = held if type(held) is list else sums_of(held)  # type: ignore[arg-type]
    sums[:] = map(add, sums, map(usage.__dict__.__getitem__, USAGE_FIELDS))
    table[key] = sums


#: Each figure's getter from a Usage's instance dict (``total`` sums a figure at a time).
_GETTERS = tuple(map(itemgetter, USAGE_FIELDS))


def total(held: Iterable[Held]) -> Usage:
    """The sum of cells' figures (one cell: its own Usage; none: ``EMPTY``), added at C speed:
    each figure of every Usage in one ``sum`` (a quarter of the cost of a list per cell), then
    the running sums."""
    cells = list(held)
    if len(cells) == 1:
        return as_usage(cells[0])
    if not cells:
        return EMPTY
    dicts = [cell.__dict__ for cell in cells if type(cell) is not list]
    sums = [sum(map(get, dicts)) for get in _GETTERS]
    for cell in cells:
        if type(cell) is list:
            sums[:] = map(add, sums, cell)
    return as_usage(sums)


def as_usage(held: Held) -> Usage:
    if type(held) is not list:
        assert isinstance(held, Usage)
        return held
    usage: Usage = _new(Usage)
    _set(usage, "__dict__", dict(zip(USAGE_FIELDS, held)))
    return usage


def read_cells(table: Table) -> dict[Cell, Usage]:
    """``table`` as Usage by Cell, in its order."""
    return {
        key if type(key) is Cell else _tuple_new(Cell, key): as_usage(held)
        for key, held in table.items()
    }


def aliased(found: Extracted, aliases: Mapping[str, str]) -> Extracted:
    """``found`` with each model named by ``aliases`` renamed (``[tool.tokenbudget.aliases]``)."""
    if not any(part.model in aliases for part in found.parts):
        return found
    parts = tuple(
        p._replace(model=aliases[p.model]) if p.model is not None and p.model in aliases else p
        for p in found.parts
    )
    return Extracted(parts, found.response_id, found.fingerprint)


def tracker_payload(tracker: Tracked) -> dict[str, Any]:
    """Built-in types only, for the test report (crosses execnet under xdist): its cells, and
    its notes, uncounted calls and served models when it has any."""
    payload: dict[str, Any] = {"cells": tracker.payload_cells()}
    if tracker.notes:  # most trackers have none: their payloads leave them out
        payload["notes"] = dict(tracker.notes)
    if tracker.uncounted_reasons:
        payload["uncounted"] = dict(tracker.uncounted_reasons)
    served = tracker.served_models()
    if served:
        payload["served"] = served
    return payload


def payload_cells(table: Table) -> list[list[Any]]:
    """``table``'s cells as a payload's: [model, operation, the figures that are not zero (as
    ``usage_counts``)], sorted."""
    out = []
    for (model, operation), held in sorted(table.items()) if len(table) > 1 else table.items():
        if type(held) is list:
            counts = dict(compress(zip(USAGE_FIELDS, held), held))
        else:
            counts = usage_counts(held)  # type: ignore[arg-type]
        out.append([model, operation, counts])
    return out


def add_served(served: dict[str, set[str]], found: Extracted) -> None:
    """Keep the served model ids of a counted call in ``served`` (a tracker's, under its
    lock; a refused request served nothing)."""
    for part in found.parts:
        if part.model is not None and part.usage.calls:
            seen = served.get(part.model)
            if seen is None:
                seen = served[part.model] = set()
            if found.fingerprint is not None:
                seen.add(found.fingerprint)


def cells_from_payload(payload: Mapping[str, Any]) -> dict[Cell, Usage]:
    cells = payload["cells"]
    if not cells:  # a test that recorded nothing: no comprehension to run
        return {}
    return {_tuple_new(Cell, (m, o)): from_counts(counts) for m, o, counts in cells}


_ZEROS = dict.fromkeys(USAGE_FIELDS, 0)


def from_counts(counts: Mapping[str, int]) -> Usage:
    """The Usage of ``usage_counts``' output (a payload's, made by this plugin)."""
    usage: Usage = _new(Usage)
    _set(usage, "__dict__", {**_ZEROS, **counts})
    return usage
