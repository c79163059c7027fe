"""Report and baseline files on disk: decode with clear errors, encode, write atomically.

The format (PRODUCT.md "Files"): JSON, UTF-8, sorted keys, 2-space indent, trailing newline.
Decoding goes through msgspec into :mod:`~pytest_tokenbudget.records` types in one validated
pass; only a file that fails it is parsed a second time (stdlib ``json``) to name the exact test,
model and field, so errors are as precise as a slow validator's at no cost to good files.
"""

import json
import os
import re
import typing
from typing import Any, Dict, Mapping, Optional, Union

import msgspec
from msgspec import UNSET, UnsetType

from ..atomicfile import read_bytes
from ..environment import Environment
from ..records import BudgetRecord, Figures, OperationRecord, Samples, TestRecord
from ..report import BASELINE_SCHEMA, REPORT_SCHEMA, BaselineDoc, Recorded, Report
from .strict import (
    duplicate_problem,
    encoding_problem,
    nesting_problem,
    strict_loads,
    surrogate_problem,
)

FIX_BASELINE = "delete it or regenerate it with `pytest --tokenbudget-update-baseline`"
FIX_REPORT = "regenerate it with `pytest --tokenbudget-json=PATH`"


class BaselineError(ValueError):
    """A report or baseline file that cannot be used; the message says which and how to fix it."""


Document = Union[BaselineDoc, Report]


class _CheckedTest(Figures, frozen=True, gc=False):
    """A test record with its breakdowns decoded too (for a full check in one pass)."""

    by_model: Dict[str, Figures] = msgspec.field(default_factory=dict)
    by_operation: Dict[str, OperationRecord] = msgspec.field(default_factory=dict)
    budget: Union[BudgetRecord, UnsetType, None] = UNSET
    status: Union[str, UnsetType, None] = UNSET
    samples: Union[Samples, UnsetType] = UNSET


class _CheckedTests(msgspec.Struct, gc=False):
    tests: Dict[str, _CheckedTest]


_checker = msgspec.json.Decoder(_CheckedTests)


class CheckedBaseline(msgspec.Struct, gc=False, tag_field="schema", tag=BASELINE_SCHEMA):
    """A baseline file decoded and checked in full, breakdowns included, in one pass: what a
    baseline update re-reads under its lock and writes back (every object then key-sorted,
    whatever order the file had)."""

    tests: Dict[str, _CheckedTest]
    totals: Union[Figures, UnsetType] = UNSET
    recorded: Union[Recorded, UnsetType] = UNSET
    environment: Union[Environment, UnsetType] = UNSET


_full_baseline = msgspec.json.Decoder(CheckedBaseline)


def checked_record(rec: TestRecord) -> _CheckedTest:
    """``rec`` without its report-only fields and with its breakdowns decoded, so that it is
    written key-sorted whatever order its file had (ValueError for a bad breakdown)."""
    values = {name: getattr(rec, name) for name in Figures.__struct_fields__}
    return _CheckedTest(
        **values, by_model=rec.by_model, by_operation=rec.by_operation, samples=rec.samples
    )


def decode_checked_baseline(data: bytes, path: str) -> CheckedBaseline:
    """``data`` as a fully checked baseline; BaselineError naming file, place and fix."""
    try:
        doc: CheckedBaseline = _full_baseline.decode(data)
    except (msgspec.DecodeError, RecursionError):
        decode(data, BaselineDoc, path, FIX_BASELINE)  # raises the exact error
        check_tests(data, path, FIX_BASELINE)
        raise  # pragma: no cover - the two decoders disagree
    problem = encoding_problem(data) or surrogate_problem(data) or duplicate_problem(data)
    if problem:
        raise BaselineError(f"{path}: {problem}; {FIX_BASELINE}")
    return doc


def check_tests(data: bytes, path: str, fix: str) -> Mapping[str, Figures]:
    """Every figure of every test of a decoded document checked, breakdowns included.

    One pass in C (the documents leave ``by_operation`` raw until it is read).
    """
    try:
        tests: Mapping[str, Figures] = _checker.decode(data).tests
    except RecursionError:
        raise BaselineError(f"{path}: {nesting_problem(data)}; {fix}") from None
    except msgspec.DecodeError:
        problem = explain(_parse(data, path, fix), _CheckedTests)
        raise BaselineError(f"{path}: {problem}; {fix}") from None
    return tests


_decoder = msgspec.json.Decoder(Document)
_encoder = msgspec.json.Encoder(order="sorted")


def encode(obj: Any) -> bytes:
    """``obj`` (builtins or records) in the file format.

    The encoder sorts every object's keys, but its sort is quadratic on nearly sorted input
    (a baseline with two new tests at the end of 100,000: 45 s), so the one big object, the
    tests, is sorted first (Timsort: linear on such input, and the encoder's sort then
    finds nothing to move).
    """
    tests = obj.get("tests") if isinstance(obj, dict) else getattr(obj, "tests", None)
    if isinstance(tests, dict) and len(tests) > 1:
        ordered = dict(sorted(tests.items()))
        if isinstance(obj, dict):
            obj = {**obj, "tests": ordered}
        else:
            obj.tests = ordered
    return msgspec.json.format(_encoder.encode(obj), indent=2) + b"\n"


def decode(data: bytes, expected: Any, path: str, fix: str) -> Any:
    """``data`` as ``expected`` (a document type, or Document for either); BaselineError else.

    Also refused, naming the place: a BOM or UTF-16, lone surrogates, duplicate keys (see
    :mod:`.strict`), NaN and Infinity, nesting deeper than any file of ours.
    """
    problem = encoding_problem(data) or surrogate_problem(data)
    if problem:
        raise BaselineError(f"{path}: {problem}; {fix}")
    try:
        doc = _decoder.decode(data)
    except RecursionError:
        raise BaselineError(f"{path}: {nesting_problem(data)}; {fix}") from None
    except msgspec.DecodeError:
        # the slow parser only for a file that failed: to say exactly what is wrong
        value = _parse(data, path, fix)
        problem = _schema_problem(value, expected) or explain(value)
        raise BaselineError(f"{path}: {problem}; {fix}") from None
    if not isinstance(doc, _members(expected)):
        raise BaselineError(f"{path}: {_schema_problem({'schema': _schema(doc)}, expected)}; {fix}")
    problem = duplicate_problem(data)
    if problem:
        raise BaselineError(f"{path}: {problem}; {fix}")
    return doc


def _parse(data: bytes, path: str, fix: str) -> Any:
    """The file parsed by the strict slow parser; BaselineError naming what is wrong."""
    try:
        return strict_loads(data)
    except ValueError as exc:
        raise BaselineError(f"{path}: {exc}; {fix}") from None


def _schema(doc: Any) -> str:
    tag: str = type(doc).__struct_config__.tag
    return tag


def _schema_problem(value: Any, expected: Any) -> Optional[str]:
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    schemas = [t.__struct_config__.tag for t in _members(expected)]
    schema = value.get("schema")
    if schema in schemas:
        return None
    kind = " or ".join(s.split("/")[1].split("@")[0] for s in schemas)
    wanted = " or ".join(repr(s) for s in schemas)
    return (
        f"schema is {schema!r}, expected {wanted} (not a pytest-tokenbudget {kind} file, "
        "or from an incompatible version)"
    )


def explain(value: Any, expected: Any = None, where: str = "") -> str:
    """Where and why ``value`` (parsed JSON, or JSON bytes) is not ``expected``, with real keys.

    msgspec shows a map's keys as ``[...]``; each is found again by checking the map's values
    against the map's value type, so the message reads ``tests['t::a'].by_model['gpt'].calls``.
    """
    if isinstance(value, (bytes, msgspec.Raw)):
        try:
            value = strict_loads(bytes(value))
        except ValueError as exc:
            return f"{where}: {exc}" if where else str(exc)
    if expected is None:
        expected = Report if value.get("schema") == REPORT_SCHEMA else BaselineDoc
    error = _error(value, expected)
    if error is None:  # pragma: no cover - only called for values that failed to decode
        return f"{where or 'file'}: invalid"
    message, _, at = error.rpartition(" - at `")
    if not message:
        return f"{where}: {error}" if where else error
    node, kind = value, expected
    for field, index in re.findall(r"\.([^.\[]+)|\[([^\]]*)\]", at.rstrip("`")):
        if field:
            where += f".{field}" if where else field
            node = node.get(field) if isinstance(node, dict) else None
            kind = _field_type(kind, field)
        else:
            kind = _item_type(kind)
            key: Any = (
                int(index)
                if index != "..."
                else next((k for k, v in node.items() if _error(v, kind)), None)
            )
            where += f"[{key!r}]"
            node = node[key] if isinstance(node, list) else node.get(key)
    got = "" if ", got " in message else f", got {json.dumps(node)}"
    return f"{where}: {message}{got}"


def _members(kind: Any) -> Any:
    """The types of a Union (Optional[X], Union[X, UnsetType]); else just ``kind``."""
    return typing.get_args(kind) if typing.get_origin(kind) is Union else (kind,)


def _field_type(kind: Any, name: str) -> Any:
    for member in _members(kind):
        if isinstance(member, type) and issubclass(member, msgspec.Struct):
            for info in msgspec.structs.fields(member):
                if info.encode_name == name:
                    return info.type
    return Any


def _item_type(kind: Any) -> Any:
    """X of Dict[str, X] or List[X] (or of an Optional one)."""
    for member in _members(kind):
        args = typing.get_args(member)
        if typing.get_origin(member) in (dict, list) and args:
            return args[-1]
    return Any


def _error(value: Any, expected: Any) -> Optional[str]:
    try:
        msgspec.json.decode(msgspec.json.encode(value), type=expected)
    except msgspec.DecodeError as exc:
        return str(exc)
    return None


def read(path: Union[str, "os.PathLike[str]"]) -> bytes:
    """The file's bytes, read whole: never mapped (a file rewritten in place under a map kills
    the process with SIGBUS), never from a FIFO or device (``NotRegularFile``, an OSError)."""
    return read_bytes(path)


def check_operations(tests: Mapping[str, TestRecord]) -> None:
    """Decode every test's ``by_operation``; ValueError naming the first bad test and field."""
    for nodeid, rec in tests.items():
        try:
            rec.by_operation  # noqa: B018 - decoding is the check
        except ValueError:
            where = f"tests[{nodeid!r}].by_operation"
            raise ValueError(explain(rec.operations, Dict[str, OperationRecord], where)) from None
