"""Report and baseline files: read, validate, write atomically, build, update and merge (pure).

A gate that silently reads a damaged file as "no usage" would pass every regression, so a file
that cannot be trusted raises :class:`BaselineError` (the plugin turns it into a usage error)
naming the file, the bad field and the fix. Only a *missing* baseline is ordinary: it is None.
Sums go through :class:`~pytest_tokenbudget.usage.Usage` (integer picodollars), so a merge of
CI shards gives exactly the unsplit run's totals.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import attrgetter, itemgetter
from typing import Any, Callable, Iterable, Mapping, Sequence

from .usage import Usage, usd_to_pico

REPORT_SCHEMA = "pytest-tokenbudget/report@1"
BASELINE_SCHEMA = "pytest-tokenbudget/baseline@1"
DEFAULT_BASELINE = "tokenbudget-baseline.json"
SESSION_BUCKET = "<session>"
#: Statuses whose usage is representative of the test; a failed run may have stopped early.
BASELINE_STATUSES = frozenset({"passed", "session"})
STATS = ("max", "median")

FIX_BASELINE = "delete it or regenerate it with `pytest --tokenbudget-update-baseline`"
FIX_REPORT = "regenerate it with `pytest --tokenbudget-json=PATH`"


class BaselineError(ValueError):
    """A report or baseline file that cannot be used; the message says which and how to fix it."""


class _Invalid(ValueError):
    """A bad field; carries the field path so the caller can add the file name and fix."""


@dataclass(frozen=True)
class OperationRecord:
    """Usage of one operation of one test, split by model."""

    usage: Usage
    by_model: Mapping[str, Usage] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = self.usage.to_dict()
        out["by_model"] = {m: self.by_model[m].to_dict() for m in sorted(self.by_model)}
        return out


@dataclass(frozen=True)
class TestRecord:
    """Usage of one test with the breakdowns that explain a regression."""

    __test__ = False  # not a pytest test class

    usage: Usage
    by_model: Mapping[str, Usage] = field(default_factory=dict)
    by_operation: Mapping[str, OperationRecord] = field(default_factory=dict)
    status: str | None = None
    budget: Mapping[str, Any] | None = None

    def cells(self) -> dict[tuple[str, str], Usage]:
        """(operation, model) -> usage; falls back to coarser data when breakdowns are absent."""
        out: dict[tuple[str, str], Usage] = {}
        if self.by_operation:
            for op, rec in self.by_operation.items():
                if rec.by_model:
                    for model, u in rec.by_model.items():
                        out[(op, model)] = u
                else:
                    out[(op, "(unknown)")] = rec.usage
        elif self.by_model:
            for model, u in self.by_model.items():
                out[("(none)", model)] = u
        elif self.usage:
            out[("(none)", "(unknown)")] = self.usage
        return out

    def to_dict(self, *, report: bool = False) -> dict[str, Any]:
        out = self.usage.to_dict()
        out["by_model"] = {m: self.by_model[m].to_dict() for m in sorted(self.by_model)}
        out["by_operation"] = {o: self.by_operation[o].to_dict() for o in sorted(self.by_operation)}
        if report:
            out["budget"] = dict(self.budget) if self.budget is not None else None
            out["status"] = self.status
        return out


_FIELD_GETTERS = [attrgetter(name) for name in Usage.__dataclass_fields__]


def sum_usage(usages: Iterable[Usage]) -> Usage:
    """Exact sum, field by field (several times faster than chained ``+`` on 100,000 tests)."""
    items = usages if isinstance(usages, list) else list(usages)
    return Usage(*[sum(map(get, items)) for get in _FIELD_GETTERS])


@dataclass
class Baseline:
    """The usage stored for the main branch, test by test."""

    tests: dict[str, TestRecord]
    path: str | None = None

    @property
    def totals(self) -> Usage:
        return sum_usage(t.usage for t in self.tests.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": BASELINE_SCHEMA,
            "tests": {n: self.tests[n].to_dict() for n in sorted(self.tests)},
            "totals": self.totals.to_dict(),
        }


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "created": self.created,
            "totals": self.totals.to_dict(),
            "tests": {n: self.tests[n].to_dict(report=True) for n in sorted(self.tests)},
            "baseline": dict(self.baseline) if self.baseline is not None else None,
            "violations": list(self.violations),
            "pricing": dict(self.pricing),
            "passed": self.passed,
            "notes": list(self.notes),
        }


# -- parsing ------------------------------------------------------------------------------------
_INT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "calls",
    "unpriced_calls",
    "refused_calls",
)


def _cost_pico(cost: object) -> int:
    if type(cost) is float and 0 <= cost < 1e3:
        scaled = cost * 1e12
        pico = round(scaled)
        if abs(scaled - pico) < 1e-3:  # clearly a whole picodollar: skip the Decimal round trip
            return pico
    return usd_to_pico(cost)


_get_ints = itemgetter(*_INT_FIELDS)
_INT_ONLY = {int}
#: Usage is immutable, so equal records share one object (a test, its only model and its only
#: operation usually hold the same figures): fewer objects, faster loads of big reports.
_cache: dict[tuple[Any, ...], Usage] = {}


def _usage(data: Any, where: str) -> Usage:
    """Fast path for well-formed records (100,000-test reports); Usage.from_dict explains errors."""
    if type(data) is dict:
        try:
            values = _get_ints(data)
            total = data["total_tokens"]
            cost = data["cost_usd"]
        except KeyError:
            pass
        else:
            ok = set(map(type, values)) <= _INT_ONLY and min(values) >= 0
            if ok and total == values[0] + values[1]:
                key = (*values, cost)
                found = _cache.get(key)
                if found is not None:
                    return found
                usage: Usage | None = None
                if cost is None:
                    if values[6] or not values[5]:
                        usage = Usage(*values)
                elif type(cost) in (float, int):
                    with contextlib.suppress(ValueError):
                        usage = Usage(*values, _cost_pico(cost))  # type: ignore[call-arg]
                if usage is not None:
                    if len(_cache) > 100_000:
                        _cache.clear()
                    _cache[key] = usage
                    return usage
    try:
        return Usage.from_dict(data)
    except ValueError as exc:
        raise _Invalid(f"{where}: {exc}") from None


def _breakdown(data: Any, where: str) -> dict[str, Usage]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _Invalid(f"{where} must be an object, got {type(data).__name__}")
    return {key: _usage(value, f"{where}[{key!r}]") for key, value in data.items()}


def _test_record(data: Any, where: str, *, report: bool) -> TestRecord:
    if not isinstance(data, dict):
        raise _Invalid(f"{where} must be an object, got {type(data).__name__}")
    usage = _usage(data, where)
    by_model = _breakdown(data.get("by_model"), f"{where}.by_model")
    ops_data = data.get("by_operation")
    by_operation: dict[str, OperationRecord] = {}
    if ops_data is not None:
        if not isinstance(ops_data, dict):
            raise _Invalid(f"{where}.by_operation must be an object, got {type(ops_data).__name__}")
        for op, op_data in ops_data.items():
            op_where = f"{where}.by_operation[{op!r}]"
            models = _breakdown(op_data.get("by_model"), f"{op_where}.by_model")
            by_operation[op] = OperationRecord(_usage(op_data, op_where), models)
    status = data.get("status")
    if status is not None and not isinstance(status, str):
        raise _Invalid(f"{where}.status must be a string, got {status!r}")
    budget = data.get("budget")
    if budget is not None and not isinstance(budget, dict):
        raise _Invalid(f"{where}.budget must be an object or null, got {type(budget).__name__}")
    return TestRecord(usage, by_model, by_operation, status if report else None, budget)


def _tests(data: Mapping[str, Any], *, report: bool) -> dict[str, TestRecord]:
    tests = data.get("tests")
    if not isinstance(tests, dict):
        raise _Invalid(f"tests must be an object, got {type(tests).__name__}")
    return {
        nodeid: _test_record(value, f"tests[{nodeid!r}]", report=report)
        for nodeid, value in tests.items()
    }


def _read_json(path: str | os.PathLike[str], fix: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{os.fspath(path)}: not UTF-8 text ({exc.reason}); {fix}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{os.fspath(path)}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); {fix}"
        ) from None


def _check_schema(data: Any, path: str, expected: str, fix: str) -> None:
    if not isinstance(data, dict):
        raise BaselineError(f"{path}: expected a JSON object, got {type(data).__name__}; {fix}")
    schema = data.get("schema")
    if schema != expected:
        raise BaselineError(
            f"{path}: schema is {schema!r}, expected {expected!r} (not a pytest-tokenbudget "
            f"{expected.split('/')[1].split('@')[0]} file, or from an incompatible version); {fix}"
        )


def report_from_dict(data: Any, path: str = "<report>") -> Report:
    """Validate a report document (as written by the plugin)."""
    _check_schema(data, path, REPORT_SCHEMA, FIX_REPORT)
    try:
        tests = _tests(data, report=True)
        totals = _usage(data.get("totals", {}), "totals")
        for name, kind in (("violations", list), ("notes", list), ("pricing", dict)):
            value = data.get(name)
            if value is not None and not isinstance(value, kind):
                raise _Invalid(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
        passed = data.get("passed", True)
        if not isinstance(passed, bool):
            raise _Invalid(f"passed must be true or false, got {passed!r}")
        base = data.get("baseline")
        if base is not None and not isinstance(base, dict):
            raise _Invalid(f"baseline must be an object or null, got {type(base).__name__}")
    except _Invalid as exc:
        raise BaselineError(f"{path}: {exc}; {FIX_REPORT}") from None
    return Report(
        tests=tests,
        totals=totals,
        created=data.get("created"),
        baseline=base,
        violations=list(data.get("violations") or []),
        pricing=dict(data.get("pricing") or {}),
        passed=passed,
        notes=list(data.get("notes") or []),
        path=path,
    )


def baseline_from_dict(data: Any, path: str = "<baseline>") -> Baseline:
    """Validate a baseline document; its totals must agree with its tests."""
    _check_schema(data, path, BASELINE_SCHEMA, FIX_BASELINE)
    try:
        tests = _tests(data, report=False)
        if "totals" in data:
            totals = _usage(data["totals"], "totals")
            expected = sum_usage(t.usage for t in tests.values())
            if totals.total_tokens != expected.total_tokens or totals.calls != expected.calls:
                raise _Invalid(
                    f"totals ({totals.total_tokens:,} tokens, {totals.calls:,} calls) do not "
                    f"match the sum of its tests ({expected.total_tokens:,} tokens, "
                    f"{expected.calls:,} calls): the file was edited or damaged"
                )
    except _Invalid as exc:
        raise BaselineError(f"{path}: {exc}; {FIX_BASELINE}") from None
    return Baseline(tests, path)


def load_report(path: str | os.PathLike[str]) -> Report:
    """Read a report; a missing, corrupt or invalid file raises BaselineError."""
    name = os.fspath(path)
    try:
        data = _read_json(path, FIX_REPORT)
    except FileNotFoundError:
        raise BaselineError(f"{name}: report file not found; {FIX_REPORT}") from None
    except OSError as exc:
        raise BaselineError(f"{name}: cannot read report ({exc.strerror or exc})") from None
    return report_from_dict(data, name)


def _read_baseline_data(path: str | os.PathLike[str]) -> Any:
    """The parsed JSON of a baseline file; None when it does not exist."""
    try:
        return _read_json(path, FIX_BASELINE)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BaselineError(
            f"{os.fspath(path)}: cannot read baseline ({exc.strerror or exc})"
        ) from None


def load_baseline(path: str | os.PathLike[str]) -> Baseline | None:
    """Read a baseline; None when the file does not exist (a note, not an error)."""
    data = _read_baseline_data(path)
    return None if data is None else baseline_from_dict(data, os.fspath(path))


def load_baseline_or_report(path: str | os.PathLike[str]) -> Baseline | None:
    """A baseline file, or a report used as one (compare a pull request's run with main's)."""
    name = os.fspath(path)
    data = _read_baseline_data(path)
    if data is None:
        return None
    if isinstance(data, dict) and data.get("schema") == REPORT_SCHEMA:
        return baseline_from_report(report_from_dict(data, name), include_failed=True)
    return baseline_from_dict(data, name)


# -- writing ------------------------------------------------------------------------------------
def dumps(data: Any) -> str:
    """The file format: sorted keys, 2-space indent, trailing newline (readable in a PR diff).

    Same text as ``json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)``; the
    standard library falls back to its pure-Python encoder whenever ``indent`` is set, which
    takes tens of seconds on a 100,000-test report, so this writer is specialised.
    """
    parts: list[str] = []
    _emit(data, parts, "\n")
    parts.append("\n")
    return "".join(parts)


_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def _emit(obj: Any, parts: list[str], newline: str) -> None:
    kind = type(obj)
    if kind is str:
        parts.append(_encode_str(obj))
    elif kind is dict:
        if not obj:
            parts.append("{}")
            return
        inner = newline + "  "
        sep = "{" + inner
        for key in sorted(obj):
            if type(key) is not str:
                raise TypeError(f"keys must be str, got {type(key).__name__}")
            parts.append(sep)
            parts.append(_encode_str(key))
            parts.append(": ")
            _emit(obj[key], parts, inner)
            sep = "," + inner
        parts.append(newline + "}")
    elif kind is list or kind is tuple:
        if not obj:
            parts.append("[]")
            return
        inner = newline + "  "
        sep = "[" + inner
        for item in obj:
            parts.append(sep)
            _emit(item, parts, inner)
            sep = "," + inner
        parts.append(newline + "]")
    elif obj is None:
        parts.append("null")
    elif obj is True:
        parts.append("true")
    elif obj is False:
        parts.append("false")
    elif kind is int:
        parts.append(int.__repr__(obj))
    elif kind is float:
        parts.append(json.dumps(obj) if obj != obj or obj in (_INF, -_INF) else float.__repr__(obj))
    else:
        parts.append(json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False))


_INF = float("inf")


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` in the file format (see :func:`dumps`), atomically."""
    write_text_atomic(path, dumps(data))


def write_text_atomic(path: str | os.PathLike[str], content: str) -> None:
    """Write ``content`` so that readers only ever see the old file or the complete new one.

    A temp file in the same folder (same file system, so ``os.replace`` is atomic), flushed to
    disk before the rename: a run killed mid-write leaves the previous file intact.
    """
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    text = content.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:  # keep the permissions of the file we replace; mkstemp makes it 0600
            os.chmod(tmp, os.stat(target).st_mode & 0o777)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        try:
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


# -- building and updating ----------------------------------------------------------------------
def baseline_from_report(report: Report, *, include_failed: bool = False) -> Baseline:
    """The tests of one run as a baseline.

    Failed, errored and skipped tests are left out by default: they may have stopped early, and
    a baseline that low would flag their next full run as a regression. ``update_baseline``
    then keeps their previous figures.
    """
    tests = {
        nodeid: TestRecord(rec.usage, rec.by_model, rec.by_operation)
        for nodeid, rec in report.tests.items()
        if include_failed or rec.status is None or rec.status in BASELINE_STATUSES
    }
    return Baseline(tests)


def _stat_usage(usages: Sequence[Usage], pick: Callable[[list[int]], int]) -> Usage:
    values = {name: pick([getattr(u, name) for u in usages]) for name in Usage.__dataclass_fields__}
    return Usage(**values)


def _stat_breakdown(
    tables: Sequence[Mapping[str, Usage]], pick: Callable[[list[int]], int]
) -> dict[str, Usage]:
    keys = sorted({k for t in tables for k in t})
    empty = Usage()
    return {k: _stat_usage([t.get(k, empty) for t in tables], pick) for k in keys}


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
    for nodeid in nodeids:
        recs = [run.tests[nodeid] for run in runs if nodeid in run.tests]
        if len(recs) == 1:
            tests[nodeid] = recs[0]
            continue
        ops = sorted({o for r in recs for o in r.by_operation})
        empty_op = OperationRecord(Usage())
        by_operation = {}
        for op in ops:
            op_recs = [r.by_operation.get(op, empty_op) for r in recs]
            by_operation[op] = OperationRecord(
                _stat_usage([o.usage for o in op_recs], pick),
                _stat_breakdown([o.by_model for o in op_recs], pick),
            )
        tests[nodeid] = TestRecord(
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
    """
    if not reports:
        raise ValueError("merge_reports needs at least one report")
    tests: dict[str, TestRecord] = {}
    owner: dict[str, str] = {}
    overlaps: dict[str, list[str]] = {}
    for index, report in enumerate(reports):
        name = report.path or f"report #{index + 1}"
        for nodeid, rec in report.tests.items():
            if nodeid not in tests:
                tests[nodeid] = rec
                owner[nodeid] = name
                continue
            if nodeid != SESSION_BUCKET and not allow_overlap:
                overlaps.setdefault(nodeid, [owner[nodeid]]).append(name)
                continue
            tests[nodeid] = _add_records(tests[nodeid], rec)
    if overlaps:
        first = sorted(overlaps)[:3]
        shown = "; ".join(f"{n} in {' and '.join(overlaps[n])}" for n in first)
        more = f" (and {len(overlaps) - 3:,} more)" if len(overlaps) > 3 else ""
        raise BaselineError(
            f"{len(overlaps):,} test id(s) appear in more than one report: {shown}{more}. "
            "Shards must not share tests (their usage would count twice); check the split, "
            "or pass --allow-overlap to add them up"
        )
    totals = sum_usage(t.usage for t in tests.values())
    violations = [v for r in reports for v in r.violations]
    notes: list[str] = []
    for r in reports:
        notes.extend(n for n in r.notes if n not in notes)
    pricings = {json.dumps(r.pricing, sort_keys=True) for r in reports}
    if len(pricings) > 1:
        notes.append(
            "merged reports were priced with different price tables: " + ", ".join(sorted(pricings))
        )
    notes.append(
        f"merged from {len(reports)} reports; run `tokenbudget compare` for the baseline comparison"
    )
    return Report(
        tests=tests,
        totals=totals,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        baseline=None,
        violations=violations,
        pricing=dict(reports[0].pricing),
        passed=all(r.passed for r in reports),
        notes=notes,
    )


def _add_records(a: TestRecord, b: TestRecord) -> TestRecord:
    by_model = dict(a.by_model)
    for k, u in b.by_model.items():
        by_model[k] = by_model[k] + u if k in by_model else u
    by_operation = dict(a.by_operation)
    for op, rec in b.by_operation.items():
        if op in by_operation:
            models = dict(by_operation[op].by_model)
            for k, u in rec.by_model.items():
                models[k] = models[k] + u if k in models else u
            by_operation[op] = OperationRecord(by_operation[op].usage + rec.usage, models)
        else:
            by_operation[op] = rec
    worst = a.status if a.status not in (None, "passed", "session") else b.status
    return TestRecord(a.usage + b.usage, by_model, by_operation, worst, a.budget or b.budget)
