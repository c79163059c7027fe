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

from ..atomicfile import file_identity, write_atomic
from ..environment import Environment
from ..filelock import locked
from ..records import (
    Figures,
    OperationRecord,
    TestRecord,
    figures,
    make_operation,
    make_record,
    make_samples,
    sample_values,
)
from ..report import BaselineDoc, Recorded, Report, sum_figures, tests_only
from ..usage import USAGE_FIELDS, Usage
from .codec import (
    FIX_BASELINE,
    FIX_REPORT,
    BaselineError,
    CheckedBaseline,
    Document,
    check_operations,
    check_tests,
    checked_record,
    decode,
    decode_checked_baseline,
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
    #: When it was recorded (the file's ``recorded``), where known.
    recorded: Recorded | None = None
    #: The file's identity when it was read (``atomicfile.file_identity``).
    identity: tuple[int, ...] | None = None
    #: Each record decoded in full, breakdowns too (``load_baseline(keep_checked=True)``): what
    #: :func:`update_file` writes back without reading the file again if it is unchanged.
    checked: Mapping[str, Any] | None = None
    #: The environment of the run it was recorded from (the file's ``environment``), where known.
    environment: Environment | None = None

    @property
    def totals(self) -> Usage:
        return sum_figures(self.tests.values())

    def to_doc(self) -> BaselineDoc:
        tests = {nodeid: rec.for_baseline() for nodeid, rec in self.tests.items()}
        recorded = UNSET if self.recorded is None else self.recorded
        environment = UNSET if self.environment is None else self.environment
        return BaselineDoc(tests, figures(self.totals), recorded, environment)


# -- reading ------------------------------------------------------------------------------------
def _baseline(doc: BaselineDoc, path: str) -> Baseline:
    _check_totals(doc, path)
    recorded = None if doc.recorded is UNSET else doc.recorded
    environment = None if doc.environment is UNSET else doc.environment
    return Baseline(doc.tests, path, recorded, environment=environment)


def _check_totals(doc: BaselineDoc | CheckedBaseline, path: str) -> None:
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


@dataclass
class _Loaded:
    doc: Any
    identity: tuple[int, ...] | None
    checked: Mapping[str, Any] | None


def _load(path: str | os.PathLike[str], expected: Any, check: bool) -> _Loaded | None:
    """The document at ``path`` (None when missing); BaselineError when it cannot be used."""
    name = os.fspath(path)
    report = expected is Report
    fix = FIX_REPORT if report else FIX_BASELINE
    identity = file_identity(path)  # before reading: a change after it is seen as a change
    try:
        data = read(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        what = "report" if report else "baseline"
        raise BaselineError(f"{name}: cannot read {what} ({exc.strerror or exc})") from None
    doc = decode(data, expected, name, fix)
    checked = check_tests(data, name, fix) if check else None
    return _Loaded(doc, identity, checked)


def load_report(path: str | os.PathLike[str], *, check: bool = True) -> Report:
    """Read a report; a missing, corrupt or invalid file raises BaselineError.

    ``check=False`` leaves each test's ``by_operation`` to be checked when it is read (the
    comparison reads it only for the tests it explains): 30% faster on big files.
    """
    name = os.fspath(path)
    loaded = _load(path, Report, check)
    if loaded is None:
        raise BaselineError(f"{name}: report file not found; {FIX_REPORT}")
    report: Report = loaded.doc
    report.path = name
    return report


def load_baseline(
    path: str | os.PathLike[str], *, check: bool = True, keep_checked: bool = False
) -> Baseline | None:
    """Read a baseline; None when the file does not exist (a note, not an error).

    ``keep_checked``: keep each record decoded in full too (for a run that updates the file).
    """
    loaded = _load(path, BaselineDoc, check)
    if loaded is None:
        return None
    baseline = _baseline(loaded.doc, os.fspath(path))
    baseline.identity = loaded.identity
    baseline.checked = loaded.checked if keep_checked else None
    return baseline


def load_baseline_or_report(path: str | os.PathLike[str], *, check: bool = True) -> Baseline | None:
    """A baseline file, or a report used as one (compare a pull request's run with main's)."""
    loaded = _load(path, Document, check)
    if loaded is None:
        return None
    if isinstance(loaded.doc, Report):
        loaded.doc.path = os.fspath(path)
        return baseline_from_report(loaded.doc, include_failed=True)
    return _baseline(loaded.doc, os.fspath(path))


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
        return Baseline(dict(tests), report.path, environment=_environment(report))
    tests = {
        nodeid: rec
        for nodeid, rec in tests.items()
        if rec.status in (None, UNSET) or rec.status in BASELINE_STATUSES
    }
    return Baseline(tests, report.path, environment=_environment(report))


def _environment(report: Report) -> Environment | None:
    env = report.environment
    return env if isinstance(env, Environment) else None


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
        record = make_record(
            _stat_usage([r.usage for r in recs], pick),
            _stat_breakdown([r.by_model for r in recs], pick),
            by_operation,
        )
        samples = make_samples(joined_samples(recs))
        tests[nodeid] = msgspec.structs.replace(record, samples=samples)
    return Baseline(tests, environment=_environment(reports[-1]))


def joined_samples(recs: Sequence[Figures]) -> dict[str, list[int]]:
    """The samples of ``recs`` (records with or without ``samples``), one after the other."""
    out: dict[str, list[int]] = {"input_tokens": [], "output_tokens": [], "calls": []}
    for rec in recs:
        for name, values in sample_values(rec).items():
            out[name] += values
    return out


def update_baseline(old: Baseline | None, new: Baseline) -> Baseline:
    """Tests in ``new`` replace their old entries; tests that did not run are kept. Buckets
    that baselines of earlier versions stored (``<session>``) go.

    A partial run (``-k``, one CI shard) therefore updates only what it ran. When it was
    recorded is ``new``'s (unknown unless the caller says).
    """
    tests = dict(tests_only(old.tests)) if old is not None else {}
    tests.update(new.tests)
    path = old.path if old is not None else None
    return Baseline(tests, path, new.recorded, environment=new.environment)


@dataclass
class Updated:
    """What :func:`update_file` did."""

    tests: int
    replaced: int
    added: int
    kept: int
    totals: Usage
    created: bool
    #: Why the file it replaced could not be read (it was replaced whole), else None.
    corrupt: str | None = None


def update_file(
    path: str | os.PathLike[str],
    new: Baseline,
    *,
    replace_corrupt: bool,
    known: Baseline | None = None,
    append: bool = False,
) -> Updated:
    """Merge ``new`` into the baseline file at ``path``, safe against concurrent updates.

    Under the file's lock: read it again (another shard may have written it since this run
    started), let ``new`` replace its tests and keep the others, replace it atomically. Every
    record is re-encoded from its decoded form, so each object ends key-sorted whatever order
    the file had. ``known``: the file as this process read it, checked in full
    (``keep_checked``); used instead of reading it again while the file is unchanged.
    ``replace_corrupt``: a file that cannot be read is replaced by ``new`` (the fix the error
    message gives), and the reason is returned; else BaselineError. ``append``: ``new``'s
    samples are added to the tests the file has (the newest 20 kept; their figures stay), and
    its other tests are left out.
    """
    name = os.fspath(path)
    corrupt = None
    with locked(path):
        try:
            same = _unchanged(known, path)
            # buckets that files of earlier versions stored (``<session>``) go
            read = same if same is not None else _read_checked(name).tests
            old: dict[str, Any] = dict(tests_only(read))
        except FileNotFoundError:
            old = {}
            created = True
        except BaselineError as exc:
            if not replace_corrupt:
                raise
            old, created, corrupt = {}, False, str(exc)
        else:
            created = False
        replaced = sum(1 for nodeid in new.tests if nodeid in old)
        tests = old
        if append:
            new = Baseline(appended(old, new.tests), new.path, new.recorded)
        tests.update((nodeid, checked_record(rec)) for nodeid, rec in new.tests.items())
        totals = sum_figures(tests.values())
        recorded = UNSET if new.recorded is None else new.recorded
        environment = UNSET if new.environment is None else new.environment
        doc = CheckedBaseline(tests, figures(totals), recorded, environment)
        write_atomic(path, encode(doc))
    kept = len(tests) - len(new.tests)
    added = 0 if append else len(new.tests) - replaced
    return Updated(len(tests), replaced, added, kept, totals, created, corrupt)


def appended(old: Mapping[str, Any], new: Mapping[str, TestRecord]) -> dict[str, Any]:
    """The records of ``old`` that ``new`` ran, with ``new``'s samples added to theirs."""
    return {
        nodeid: msgspec.structs.replace(
            old[nodeid], samples=make_samples(joined_samples([old[nodeid], rec]))
        )
        for nodeid, rec in new.items()
        if nodeid in old
    }


def _unchanged(known: Baseline | None, path: str | os.PathLike[str]) -> Mapping[str, Any] | None:
    """``known``'s records checked in full, while its file is unchanged since it was read."""
    if known is None or known.checked is None or known.identity is None:
        return None
    return known.checked if file_identity(path) == known.identity else None


def _read_checked(path: str) -> CheckedBaseline:
    try:
        data = read(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read baseline ({exc.strerror or exc})") from None
    doc = decode_checked_baseline(data, path)
    _check_totals(doc, path)
    return doc
