"""What msgspec lets through or cannot say: hostile JSON named by place, with the fix.

msgspec decodes a good file in one C pass, but it reads duplicate keys as the last one, lone
UTF-16 surrogates (``"\\ud800"``) as strings that cannot be written back, and stops at deep
nesting with a bare RecursionError; the stdlib parser that explains a bad file reads ``NaN``,
``Infinity``, a BOM and UTF-16 without a word. Each check here costs a scan of the bytes at
most, and most run only on a file that already failed.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper than any file of ours (a report is at most 6 levels deep); a deeper file is hostile.
MAX_DEPTH = 100
#: Files up to this size (about 1,300 tests) are checked for duplicate keys (a parse in Python).
FULL_CHECK_BYTES = 2_000_000

SAVE_AS_UTF8 = "save it as UTF-8 without a byte order mark"


def line_col(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    return f"line {line}, column {column}"


def encoding_problem(data: bytes) -> str | None:
    """A byte order mark or UTF-16/32 text, which the files never are."""
    for bom, name in (
        (b"\x00\x00\xfe\xff", "is UTF-32 text"),
        (b"\xff\xfe\x00\x00", "is UTF-32 text"),
        (b"\xef\xbb\xbf", "starts with a byte order mark"),
        (b"\xfe\xff", "is UTF-16 text"),
        (b"\xff\xfe", "is UTF-16 text"),
    ):
        if data.startswith(bom):
            return f"the file {name}; {SAVE_AS_UTF8}"
    if len(data) >= 2 and (data[0] == 0 or data[1] == 0):
        return f"the file is UTF-16 or UTF-32 text (NUL bytes); {SAVE_AS_UTF8}"
    return None


_HIGH, _LOW = rb"\\u[dD][89abAB][0-9a-fA-F]{2}", rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_SURROGATE = re.compile(_HIGH + b"(" + _LOW + b")?|" + _LOW)


def surrogate_problem(data: bytes) -> str | None:
    """A ``\\uD800``-``\\uDFFF`` escape that is not half of a pair: no text can hold it."""
    first = data.find(b"\\")  # the usual case: no escape at all (one memchr)
    if first < 0:
        return None
    for match in _SURROGATE.finditer(data, first):
        start = match.start()
        backslashes = len(data[:start]) - len(data[:start].rstrip(b"\\"))
        if backslashes % 2:  # an escaped backslash followed by the letters "ud800"
            continue
        text = match.group(0)
        if len(text) == 6:  # a high surrogate without its low half, or a lone low one
            return (
                f"{line_col(data, start)}: {text.decode()} is half of a UTF-16 surrogate pair "
                "(no text can hold it); remove it or write the whole character"
            )
    return None


_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', re.DOTALL)


def nesting_problem(data: bytes) -> str:
    """Where the file nests deeper than :data:`MAX_DEPTH` (after a RecursionError)."""
    depth = 0
    for match in _BRACKETS.finditer(data):
        char = match.group(0)[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                where = line_col(data, match.start())
                return f"{where}: nested more than {MAX_DEPTH} levels deep (a file of ours is 6)"
        elif char in (b"]", b"}"):
            depth -= 1
    return f"nested too deeply to read (more than {MAX_DEPTH} levels)"


class _Problem(ValueError):
    pass


class _Dup(dict):  # type: ignore[type-arg]
    """An object holding a duplicate key (or holding one that does): where, for the message."""

    where = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    inner = ""
    for key, value in pairs:
        if key in out:
            dup = _Dup(out)
            dup.where = _step(key)
            return dup
        if isinstance(value, _Dup) and not inner:
            inner = _step(key) + value.where
        out[key] = value
    if inner:
        dup = _Dup(out)
        dup.where = inner
        return dup
    return out


def _step(key: str) -> str:
    return f".{key}" if key.isidentifier() else f"[{key!r}]"


def _constant(name: str) -> Any:
    raise _Problem(f"{name} is not a JSON number (write a number, or null for an unknown cost)")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Problem(f"{text} is out of range for a number")
    return value


def strict_loads(data: bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity, numbers out of range and duplicate keys, and
    names where (ValueError); RecursionError becomes the nesting message."""
    problem = encoding_problem(data)
    if problem:
        raise ValueError(problem)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as bad:
        raise ValueError(f"not UTF-8 text (byte {bad.start}: {bad.reason})") from None
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float
        )
    except RecursionError:
        raise ValueError(nesting_problem(data)) from None
    except _Problem as exc:
        token = str(exc).split(" ", 1)[0].encode()
        at = data.find(token)
        raise ValueError(f"{line_col(data, at) + ': ' if at >= 0 else ''}{exc}") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    if isinstance(value, _Dup):
        raise ValueError(
            f"{value.where.lstrip('.')} appears twice in one object (which one counts is "
            "unknowable); keep one"
        )
    return value


def duplicate_problem(data: bytes) -> str | None:
    """A key twice in one object (msgspec keeps the last without a word), in a file of up to
    :data:`FULL_CHECK_BYTES` (bigger ones are written by programs, and checking them would
    cost more than reading them)."""
    if len(data) > FULL_CHECK_BYTES:
        return None
    try:
        strict_loads(data)
    except ValueError as exc:
        return str(exc)
    return None
