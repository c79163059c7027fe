"""One report from the reports of CI shards (pure; ``shards.merge_files`` does it file to file).

Totals are recomputed from the tests, so a merge of shards gives exactly the unsplit run's
totals (integer picodollars).
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from msgspec import UNSET

from ..buckets import BUCKET_STATUS, is_bucket
from ..records import Figures, TestRecord, figures, make_operation, make_record
from ..report import Report, sum_figures
from ..usage import Usage
from .codec import BaselineError


def merge_reports(reports: Sequence[Report], *, allow_overlap: bool = False) -> Report:
    """One report from the reports of CI shards; totals are recomputed from the tests.

    A test id in two shards means the split was wrong (or a report was passed twice) and its
    usage would count twice: refused unless ``allow_overlap``, which sums it. Buckets
    (``<session>``, ``<fixture NAME>``, ``<reruns>``: one per shard process) are always summed.
    (:func:`pytest_tokenbudget.shards.merge_files` does the same file to file, faster.)
    """
    if not reports:
        raise ValueError("merge_reports needs at least one report")
    names = [r.path or f"report #{i + 1}" for i, r in enumerate(reports)]
    combined = combine(zip(names, (r.tests for r in reports)), allow_overlap, add_records)
    return merged_report(reports, combined, sum_figures(combined.values()))


T = TypeVar("T")


def combine(
    shards: Iterable[tuple[str, Mapping[str, T]]],
    allow_overlap: bool,
    add: Callable[[T, T], T],
) -> dict[str, T]:
    """The tests of all shards; a test in several is refused, or summed with ``add``."""
    shards = list(shards)
    tests: dict[str, T] = {}
    repeated: set[str] = set()
    for _, shard_tests in shards:  # the usual case first, at C speed: only buckets repeat
        repeated |= tests.keys() & shard_tests.keys()
        tests.update(shard_tests)
    if all(map(is_bucket, repeated)):
        for nodeid in repeated:
            tests[nodeid] = functools.reduce(add, [t[nodeid] for _, t in shards if nodeid in t])
        return tests
    tests = {}
    owner: dict[str, str] = {}
    overlaps: dict[str, list[str]] = {}
    for name, shard_tests in shards:
        for nodeid, rec in shard_tests.items():
            if nodeid not in tests:
                tests[nodeid] = rec
                owner[nodeid] = name
            elif not is_bucket(nodeid) and not allow_overlap:
                overlaps.setdefault(nodeid, [owner[nodeid]]).append(name)
            else:
                tests[nodeid] = add(tests[nodeid], rec)
    if overlaps:
        first = sorted(overlaps)[:3]
        shown = "; ".join(f"{n} in {' and '.join(overlaps[n])}" for n in first)
        more = f" (and {len(overlaps) - 3:,} more)" if len(overlaps) > 3 else ""
        raise BaselineError(
            f"{len(overlaps):,} test id(s) appear in more than one report: {shown}{more}. "
            "Shards must not share tests (their usage would count twice); check the split, "
            "or pass --allow-overlap to add them up"
        )
    return tests


def merged_report(shards: Sequence[Any], tests: dict[str, Any], totals: Usage) -> Report:
    """The merged report of ``shards`` (reports, or documents with the same fields)."""
    violations = [v for r in shards for v in r.violations]
    notes: list[str] = []
    for r in shards:
        notes.extend(n for n in r.notes if n not in notes)
    pricings = {json.dumps(r.pricing, sort_keys=True) for r in shards}
    if len(pricings) > 1:
        notes.append(
            "merged reports were priced with different price tables: " + ", ".join(sorted(pricings))
        )
    notes.append(
        f"merged from {len(shards)} reports; run `tokenbudget compare` for the baseline comparison"
    )
    return Report(
        tests=tests,
        totals=figures(totals),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        baseline=None,
        violations=violations,
        pricing=dict(shards[0].pricing),
        passed=all(r.passed for r in shards),
        notes=notes,
    )


def _add(a: Mapping[str, Figures], b: Mapping[str, Figures]) -> dict[str, Usage]:
    out = {k: u.usage for k, u in a.items()}
    for k, u in b.items():
        out[k] = out[k] + u.usage if k in out else u.usage
    return out


def add_records(a: TestRecord, b: TestRecord) -> TestRecord:
    by_operation = a.by_operation
    for op, rec in b.by_operation.items():
        mine = by_operation.get(op)
        by_operation[op] = (
            make_operation(mine.usage + rec.usage, _add(mine.by_model, rec.by_model))
            if mine is not None
            else rec
        )
    worst = (
        a.status if a.status not in (None, UNSET, "passed", "session", BUCKET_STATUS) else b.status
    )
    return make_record(
        a.usage + b.usage,
        _add(a.by_model, b.by_model),
        by_operation,
        status=worst,
        budget=a.budget or b.budget,
    )
