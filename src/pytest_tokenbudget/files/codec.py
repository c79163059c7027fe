"""Report and baseline files on disk: decode with clear errors, encode, write atomically.

The format (PRODUCT.md "Files"): JSON, UTF-8, sorted keys, 2-space indent, trailing newline.
Decoding goes through msgspec into :mod:`~pytest_tokenbudget.records` types in one validated
pass; only a file that fails it is parsed a second time (stdlib ``json``) to name the exact test,
model and field, so errors are as precise as a slow validator's at no cost to good files.
"""

import contextlib
import json
import mmap
import os
import re
import typing
from typing import Any, Dict, Mapping, Optional, Union

import msgspec
from msgspec import UNSET, UnsetType

from ..records import BudgetRecord, Figures, OperationRecord, TestRecord
from ..report import REPORT_SCHEMA, BaselineDoc, Report

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


class _CheckedTests(msgspec.Struct, gc=False):
    tests: Dict[str, _CheckedTest]


_checker = msgspec.json.Decoder(_CheckedTests)


def check_tests(data: Union[bytes, mmap.mmap], path: str, fix: str) -> Mapping[str, Figures]:
    """Every figure of every test of a decoded document checked, breakdowns included.

    One pass in C (the documents leave ``by_operation`` raw until it is read).
    """
    try:
        tests: Mapping[str, Figures] = _checker.decode(data).tests
    except msgspec.DecodeError:
        problem = explain(json.loads(bytes(data)), _CheckedTests)
        raise BaselineError(f"{path}: {problem}; {fix}") from None
    return tests


_decoder = msgspec.json.Decoder(Document)
_encoder = msgspec.json.Encoder(order="sorted")


def encode(obj: Any) -> bytes:
    """``obj`` (builtins or records) in the file format."""
    return msgspec.json.format(_encoder.encode(obj), indent=2) + b"\n"


def decode(data: Union[bytes, mmap.mmap], expected: Any, path: str, fix: str) -> Any:
    """``data`` as ``expected`` (a document type, or Document for either); BaselineError else."""
    try:
        doc = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        data = bytes(data)  # a mapped file
        try:  # the slow parser only for a file that failed: to say exactly what is wrong
            value = json.loads(data)
        except ValueError:
            raise BaselineError(f"{path}: {_syntax(data, exc)}; {fix}") from None
        problem = _schema_problem(value, expected) or explain(value)
        raise BaselineError(f"{path}: {problem}; {fix}") from None
    if not isinstance(doc, _members(expected)):
        raise BaselineError(f"{path}: {_schema_problem({'schema': _schema(doc)}, expected)}; {fix}")
    return doc


def _schema(doc: Any) -> str:
    tag: str = type(doc).__struct_config__.tag
    return tag


def _syntax(data: bytes, exc: msgspec.DecodeError) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not UTF-8 text ({bad.reason})"
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        return f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
    return f"not valid JSON ({exc})"  # pragma: no cover - the two parsers disagree


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
        value = json.loads(bytes(value))
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


def read(path: Union[str, "os.PathLike[str]"]) -> "bytes | mmap.mmap":
    """The file's bytes; mapped rather than copied where that is safe (a 157 MB report: -70 ms).

    Only on POSIX: Windows cannot replace a file that is mapped, and a baseline read by a run
    is replaced by the same run. Records keep views of the map (their raw ``by_operation``),
    which keeps it open for as long as they live.
    """
    with open(path, "rb") as fh:
        if os.name == "posix":
            with contextlib.suppress(ValueError, OSError):  # empty file, pipe, special file
                return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return fh.read()


def check_operations(tests: Mapping[str, TestRecord]) -> None:
    """Decode every test's ``by_operation``; ValueError naming the first bad test and field."""
    for nodeid, rec in tests.items():
        try:
            rec.by_operation  # noqa: B018 - decoding is the check
        except ValueError:
            where = f"tests[{nodeid!r}].by_operation"
            raise ValueError(explain(rec.operations, Dict[str, OperationRecord], where)) from None
