"""Baseline and report files: load with clear errors, write, build and update baselines (pure).

A gate that silently reads a damaged file as "no usage" would pass every regression, so a file
that cannot be trusted raises :class:`BaselineError` (the plugin turns it into a usage error)
naming the file, the bad field and the fix. Only a *missing* baseline is ordinary: it is None.
Sums go through :class:`~pytest_tokenbudget.usage.Usage` (integer picodollars).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import msgspec
from msgspec import UNSET

from ..atomicfile import write_atomic
from ..records import Figures, OperationRecord, TestRecord, figures, make_operation, make_record
from ..report import BaselineDoc, Report, sum_figures, tests_only
from ..usage import USAGE_FIELDS, Usage
from .codec import (
    FIX_BASELINE,
    FIX_REPORT,
    BaselineError,
    Document,
    check_operations,
    check_tests,
    decode,
    encode,
    read,
)

#: Statuses whose usage is representative of the test; a failed run may have stopped early.
BASELINE_STATUSES = frozenset({"passed"})
STATS = ("max", "median")


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


# -- reading ------------------------------------------------------------------------------------
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
    report: Report = decode(encoded, Report, path, FIX_REPORT)
    check_tests(encoded, path, FIX_REPORT)
    report.path = path
    return report


def _load(path: str | os.PathLike[str], expected: Any, check: bool) -> Any:
    """The document at ``path`` (None when missing); BaselineError when it cannot be used."""
    name = os.fspath(path)
    report = expected is Report
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
    report: Report | None = _load(path, Report, check)
    if report is None:
        raise BaselineError(f"{name}: report file not found; {FIX_REPORT}")
    report.path = name
    return report


def load_baseline(path: str | os.PathLike[str], *, check: bool = True) -> Baseline | None:
    """Read a baseline; None when the file does not exist (a note, not an error)."""
    doc = _load(path, BaselineDoc, check)
    return None if doc is None else _baseline(doc, os.fspath(path))


def load_baseline_or_report(path: str | os.PathLike[str], *, check: bool = True) -> Baseline | None:
    """A baseline file, or a report used as one (compare a pull request's run with main's)."""
    doc = _load(path, Document, check)
    if isinstance(doc, Report):
        doc.path = os.fspath(path)
        return baseline_from_report(doc, include_failed=True)
    return None if doc is None else _baseline(doc, os.fspath(path))


# -- writing ------------------------------------------------------------------------------------
def dumps(data: Any) -> str:
    """The file format: sorted keys, 2-space indent, trailing newline (readable in a PR diff)."""
    return encode(data).decode("utf-8")


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` (builtins, a document or records) in the file format, atomically."""
    write_atomic(path, encode(data))


# -- building and updating ----------------------------------------------------------------------
def baseline_from_report(report: Report, *, include_failed: bool = False) -> Baseline:
    """The tests of one run as a baseline; never its buckets (``<session>``, ...), which are
    never compared.

    Failed, errored and skipped tests are left out by default: they may have stopped early, and
    a baseline that low would flag their next full run as a regression. ``update_baseline``
    then keeps their previous figures. The records keep their report-only fields (status,
    budget) until the baseline is written.
    """
    tests = tests_only(report.tests)
    if include_failed:
        return Baseline(dict(tests), report.path)
    tests = {
        nodeid: rec
        for nodeid, rec in tests.items()
        if rec.status in (None, UNSET) or rec.status in BASELINE_STATUSES
    }
    return Baseline(tests, report.path)


def _stat_usage(usages: Sequence[Usage], pick: Callable[[list[int]], int]) -> Usage:
    return Usage(**{name: pick([getattr(u, name) for u in usages]) for name in USAGE_FIELDS})


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
    """Tests in ``new`` replace their old entries; tests that did not run are kept. Buckets
    that baselines of earlier versions stored (``<session>``) go.

    A partial run (``-k``, one CI shard) therefore updates only what it ran.
    """
    tests = dict(tests_only(old.tests)) if old is not None else {}
    tests.update(new.tests)
    return Baseline(tests, old.path if old is not None else None)
