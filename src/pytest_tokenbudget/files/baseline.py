"""Report and baseline files: read, validate, write atomically, build, update and merge (pure).

A gate that silently reads a damaged file as "no usage" would pass every regression, so a file
that cannot be trusted raises :class:`BaselineError` (the plugin turns it into a usage error)
naming the file, the bad field and the fix. Only a *missing* baseline is ordinary: it is None.
Sums go through :class:`~pytest_tokenbudget.usage.Usage` (integer picodollars), so a merge of
CI shards gives exactly the unsplit run's totals.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import msgspec
from msgspec import UNSET

from ..records import (
    Figures,
    OperationRecord,
    TestRecord,
    check_operations,
    figures,
    make_operation,
    make_record,
    total_cost_pico,
)
from ..usage import Usage
from .codec import (
    BASELINE_SCHEMA,
    FIX_BASELINE,
    FIX_REPORT,
    REPORT_SCHEMA,
    BaselineDoc,
    BaselineError,
    Document,
    ReportDoc,
    check_tests,
    decode,
    encode,
    read,
    write_atomic,
)

__all__ = [
    "BASELINE_SCHEMA",
    "REPORT_SCHEMA",
    "Baseline",
    "BaselineError",
    "OperationRecord",
    "Report",
    "TestRecord",
    "make_record",
]

DEFAULT_BASELINE = "tokenbudget-baseline.json"
SESSION_BUCKET = "<session>"
#: Statuses whose usage is representative of the test; a failed run may have stopped early.
BASELINE_STATUSES = frozenset({"passed", "session"})
STATS = ("max", "median")

_FIELD_GETTERS = [attrgetter(name) for name in Usage.__dataclass_fields__]
COUNT_GETTERS = _FIELD_GETTERS[:-1]  # all but cost_pico


def sum_figures(records: Iterable[Figures]) -> Usage:
    """Exact sum of file records (their recorded costs), without a Usage per record."""
    items = records if isinstance(records, list) else list(records)
    sums = [sum(map(get, items)) for get in COUNT_GETTERS]
    sums.append(total_cost_pico(items))
    return Usage(*sums)


@dataclass
class Baseline:
    """The usage stored for the main branch, test by test."""

    tests: dict[str, TestRecord]
    path: str | None = None

    @property
    def totals(self) -> Usage:
        return sum_figures(self.tests.values())

    def to_doc(self) -> BaselineDoc:
        tests = {nodeid: rec.for_baseline() for nodeid, rec in self.tests.items()}
        return BaselineDoc(tests, figures(self.totals))

    def to_dict(self) -> dict[str, Any]:
        return _builtins(self.to_doc())


@dataclass
class Report:
    """A run's machine report (``--tokenbudget-json``), validated."""

    tests: dict[str, TestRecord]
    totals: Usage
    created: str | None = None
    baseline: Mapping[str, Any] | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)
    pricing: dict[str, Any] = field(default_factory=dict)
    passed: bool = True
    notes: list[str] = field(default_factory=list)
    path: str | None = None

    def to_doc(self) -> ReportDoc:
        return ReportDoc(
            tests=self.tests,
            totals=figures(self.totals),
            created=self.created,
            baseline=dict(self.baseline) if self.baseline is not None else None,
            violations=list(self.violations),
            pricing=dict(self.pricing),
            passed=self.passed,
            notes=list(self.notes),
        )

    def to_dict(self) -> dict[str, Any]:
        return _builtins(self.to_doc())


def _builtins(doc: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(msgspec.json.encode(doc))
    return data


# -- reading ------------------------------------------------------------------------------------
def _report(doc: ReportDoc, path: str) -> Report:
    return Report(
        tests=doc.tests,
        totals=doc.totals.usage,
        created=doc.created,
        baseline=doc.baseline,
        violations=doc.violations,
        pricing=doc.pricing,
        passed=doc.passed,
        notes=doc.notes,
        path=path,
    )


def _baseline(doc: BaselineDoc, path: str) -> Baseline:
    totals = doc.totals
    if totals is not UNSET:
        expected = sum_figures(doc.tests.values())
        if totals.total_tokens != expected.total_tokens or totals.calls != expected.calls:
            raise BaselineError(
                f"{path}: totals ({totals.input_tokens + totals.output_tokens:,} tokens, "
                f"{totals.calls:,} calls) do not match the sum of its tests "
                f"({expected.total_tokens:,} tokens, {expected.calls:,} calls): the file was "
                f"edited or damaged; {FIX_BASELINE}"
            )
    return Baseline(doc.tests, path)


def check_breakdowns(tests: Mapping[str, TestRecord], path: str, fix: str) -> None:
    """Decode each test's ``by_operation``; BaselineError naming the file, test and field."""
    try:
        check_operations(tests)
    except ValueError as exc:
        raise BaselineError(f"{path}: {exc}; {fix}") from None


def report_from_dict(data: Any, path: str = "<report>") -> Report:
    """Validate a report document (as written by the plugin)."""
    encoded = msgspec.json.encode(data)
    doc = decode(encoded, ReportDoc, path, FIX_REPORT)
    check_tests(encoded, path, FIX_REPORT)
    return _report(doc, path)


def baseline_from_dict(data: Any, path: str = "<baseline>") -> Baseline:
    """Validate a baseline document; its totals must agree with its tests."""
    encoded = msgspec.json.encode(data)
    doc = decode(encoded, BaselineDoc, path, FIX_BASELINE)
    check_tests(encoded, path, FIX_BASELINE)
    return _baseline(doc, path)


def _load(path: str | os.PathLike[str], expected: Any, check: bool) -> Any:
    """The document at ``path`` (None when missing); BaselineError when it cannot be used."""
    name = os.fspath(path)
    report = expected is ReportDoc
    fix = FIX_REPORT if report else FIX_BASELINE
    try:
        data = read(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        what = "report" if report else "baseline"
        raise BaselineError(f"{name}: cannot read {what} ({exc.strerror or exc})") from None
    doc = decode(data, expected, name, fix)
    if check:
        check_tests(data, name, fix)
    return doc


def load_report(path: str | os.PathLike[str], *, check: bool = True) -> Report:
    """Read a report; a missing, corrupt or invalid file raises BaselineError.

    ``check=False`` leaves each test's ``by_operation`` to be checked when it is read (the
    comparison reads it only for the tests it explains): 30% faster on big files.
    """
    name = os.fspath(path)
    doc = _load(path, ReportDoc, check)
    if doc is None:
        raise BaselineError(f"{name}: report file not found; {FIX_REPORT}")
    return _report(doc, name)


def load_baseline(path: str | os.PathLike[str], *, check: bool = True) -> Baseline | None:
    """Read a baseline; None when the file does not exist (a note, not an error)."""
    doc = _load(path, BaselineDoc, check)
    return None if doc is None else _baseline(doc, os.fspath(path))


def load_baseline_or_report(path: str | os.PathLike[str], *, check: bool = True) -> Baseline | None:
    """A baseline file, or a report used as one (compare a pull request's run with main's)."""
    doc = _load(path, Document, check)
    if isinstance(doc, ReportDoc):
        return baseline_from_report(_report(doc, os.fspath(path)), include_failed=True)
    return None if doc is None else _baseline(doc, os.fspath(path))


# -- writing ------------------------------------------------------------------------------------
def dumps(data: Any) -> str:
    """The file format: sorted keys, 2-space indent, trailing newline (readable in a PR diff)."""
    return encode(data).decode("utf-8")


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` (builtins, a document or records) in the file format, atomically."""
    write_atomic(path, encode(data))


write_text_atomic = write_atomic


# -- building and updating ----------------------------------------------------------------------
def baseline_from_report(report: Report, *, include_failed: bool = False) -> Baseline:
    """The tests of one run as a baseline.

    Failed, errored and skipped tests are left out by default: they may have stopped early, and
    a baseline that low would flag their next full run as a regression. ``update_baseline``
    then keeps their previous figures. The records keep their report-only fields (status,
    budget) until the baseline is written.
    """
    if include_failed:
        return Baseline(dict(report.tests), report.path)
    tests = {
        nodeid: rec
        for nodeid, rec in report.tests.items()
        if rec.status in (None, UNSET) or rec.status in BASELINE_STATUSES
    }
    return Baseline(tests, report.path)


def _stat_usage(usages: Sequence[Usage], pick: Callable[[list[int]], int]) -> Usage:
    return Usage(*[pick([get(u) for u in usages]) for get in _FIELD_GETTERS])


def _stat_breakdown(
    tables: Sequence[Mapping[str, Figures]], pick: Callable[[list[int]], int]
) -> dict[str, Usage]:
    keys = sorted({k for t in tables for k in t})
    empty = Figures()
    return {k: _stat_usage([t.get(k, empty).usage for t in tables], pick) for k in keys}


def _pick(stat: str) -> Callable[[list[int]], int]:
    if stat == "max":
        return max
    if stat == "median":
        # The upper median of an even count: a whole number, and the cautious side for a gate.
        return statistics.median_high
    raise ValueError(f"stat must be one of {', '.join(STATS)}, got {stat!r}")


def baseline_from_reports(reports: Sequence[Report], stat: str = "max") -> Baseline:
    """One baseline from several runs of the same suite (live runs are noisy).

    Per test and per figure (each token count, calls, cost, also in every breakdown), the max or
    the upper median over the runs in which the test ran; a model or operation absent from one
    run counts as zero there. ``total_tokens`` stays input + output.
    """
    pick = _pick(stat)
    if not reports:
        raise ValueError("baseline_from_reports needs at least one report")
    runs = [baseline_from_report(r) for r in reports]
    if len(runs) == 1:
        return runs[0]
    nodeids = sorted({n for run in runs for n in run.tests})
    tests: dict[str, TestRecord] = {}
    empty_op = OperationRecord()
    for nodeid in nodeids:
        recs = [run.tests[nodeid] for run in runs if nodeid in run.tests]
        if len(recs) == 1:
            tests[nodeid] = recs[0]
            continue
        rec_ops = [r.by_operation for r in recs]
        by_operation = {}
        for op in sorted({o for ops in rec_ops for o in ops}):
            op_recs = [ops.get(op, empty_op) for ops in rec_ops]
            by_operation[op] = make_operation(
                _stat_usage([o.usage for o in op_recs], pick),
                _stat_breakdown([o.by_model for o in op_recs], pick),
            )
        tests[nodeid] = make_record(
            _stat_usage([r.usage for r in recs], pick),
            _stat_breakdown([r.by_model for r in recs], pick),
            by_operation,
        )
    return Baseline(tests)


def update_baseline(old: Baseline | None, new: Baseline) -> Baseline:
    """Tests in ``new`` replace their old entries; tests that did not run are kept.

    A partial run (``-k``, one CI shard) therefore updates only what it ran.
    """
    tests = dict(old.tests) if old is not None else {}
    tests.update(new.tests)
    return Baseline(tests, old.path if old is not None else None)


# -- merging CI shards --------------------------------------------------------------------------
def merge_reports(reports: Sequence[Report], *, allow_overlap: bool = False) -> Report:
    """One report from the reports of CI shards; totals are recomputed from the tests.

    A test id in two shards means the split was wrong (or a report was passed twice) and its
    usage would count twice: refused unless ``allow_overlap``, which sums it. The ``<session>``
    buckets (usage outside tests, one per shard process) are always summed.
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
    for _, shard_tests in shards:  # the usual case first, at C speed: only <session> repeats
        tests.update(shard_tests)
    sessions = [t[SESSION_BUCKET] for _, t in shards if SESSION_BUCKET in t]
    if sum(len(t) for _, t in shards) - len(tests) == max(len(sessions) - 1, 0):
        if len(sessions) > 1:
            tests[SESSION_BUCKET] = functools.reduce(add, sessions)
        return tests
    tests = {}
    owner: dict[str, str] = {}
    overlaps: dict[str, list[str]] = {}
    for name, shard_tests in shards:
        for nodeid, rec in shard_tests.items():
            if nodeid not in tests:
                tests[nodeid] = rec
                owner[nodeid] = name
            elif nodeid != SESSION_BUCKET and not allow_overlap:
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
        totals=totals,
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
    worst = a.status if a.status not in (None, UNSET, "passed", "session") else b.status
    return make_record(
        a.usage + b.usage,
        _add(a.by_model, b.by_model),
        by_operation,
        status=worst,
        budget=a.budget or b.budget,
    )
