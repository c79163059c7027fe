"""``tokenbudget merge``, file to file: CI shard reports into one report, fast.

Two 100,000-test shards are about 314 MB of JSON. Decoding every record and writing it out
again costs seconds, yet a shard's records, as the plugin writes them, are already in the
merged file's layout (same depth, sorted keys, 2-space indent). So the records are copied as
text, in test id order, and only the few that must change (the buckets, tests summed with
``--allow-overlap``, a record laid out differently) are decoded and re-encoded.

Nothing is trusted unchecked: a second process decodes and checks every shard in full (the
same checks as ``load_report``) and adds up its tests for the totals, on the other core, while
this one writes the temp file. The file replaces OUT only once that check has passed.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from typing import BinaryIO, Dict, List, Sequence

import msgspec
from msgspec import Raw

from ..atomicfile import atomic_writer
from ..records import TestRecord
from ..report import Report, sum_figures
from ..usage import Usage
from .baseline import load_report
from .codec import FIX_REPORT, check_tests, encode, read
from .merge import add_records, combine, merged_report

#: Below this many bytes of input, checking in this process is quicker than starting another.
PARALLEL_FROM = 8_000_000
_RECORD_START, _RECORD_END = b'{\n      "', b"\n    }"
_TESTS = b'\n  "tests": {}'
_encoder = msgspec.json.Encoder(order="sorted")
_record = msgspec.json.Decoder(TestRecord)


class _Shard(Report):
    """A report with each test's record left as its text."""

    tests: Dict[str, Raw]  # type: ignore[assignment]


_shard = msgspec.json.Decoder(_Shard)


def merge_files(
    paths: Sequence[str], output: str, *, allow_overlap: bool = False, parallel: bool | None = None
) -> tuple[Report, int]:
    """Merge the reports at ``paths`` into ``output``: the merged report (its ``tests`` left
    empty) and its number of tests.

    Same rules and same file as ``merge_reports`` + ``write_json_atomic`` (tested byte for byte).
    ``parallel``: check the shards in a second process (default: when they are big).
    """
    if not paths:
        raise ValueError("merge_files needs at least one report")
    if parallel is None:
        parallel = sum(_size(p) for p in paths) >= PARALLEL_FROM
    checker = _Checker(paths) if parallel else None
    try:
        shards = [_read_shard(path) for path in paths]
        texts = combine(zip(paths, (s.tests for s in shards)), allow_overlap, _add_texts)
        totals = _check(paths) if checker is None else []
        with atomic_writer(output) as fh:
            head = merged_report(shards, {}, Usage())
            fh.write(_head(head))
            _write_pieces(fh, _body(texts))
            if checker is not None:
                os.fsync(fh.fileno())  # the bulk goes to disk while the check runs
                totals = checker.result()
            merged = merged_report(shards, {}, sum(totals, Usage()))
            merged.created = head.created
            fh.write(_tail(merged, bool(texts)))
    finally:
        if checker is not None:
            checker.close()
    return merged, len(texts)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _read_shard(path: str) -> _Shard:
    try:
        return _shard.decode(read(path))
    except (OSError, msgspec.DecodeError):
        load_report(path)  # raises the error it gives, naming the file, test and field
        raise


def _add_texts(a: Raw, b: Raw) -> Raw:
    return Raw(_encoder.encode(add_records(_record.decode(a), _record.decode(b))))


def _relaid(raw: Raw) -> bytes:
    """A record laid out otherwise (or summed), re-encoded at its depth in the merged file."""
    return encode(_record.decode(raw))[:-1].replace(b"\n", b"\n    ")


def _head(report: Report) -> bytes:
    text = encode(report)
    return text[: text.index(_TESTS)] + _TESTS[:-1]


def _body(texts: Dict[str, Raw]) -> List[Raw | bytes]:
    """The pieces of the tests' text, in test id order (views of the shards, not copies).

    A record that starts and ends as the plugin lays it out at that depth is copied as is.
    """
    parts: List[Raw | bytes] = []
    key = _encoder.encode
    for nodeid in sorted(texts):
        raw = texts[nodeid]
        view = memoryview(raw)
        if view[:9].tobytes() != _RECORD_START or view[-6:].tobytes() != _RECORD_END:
            raw = b"{}" if view.tobytes() == b"{}" else _relaid(raw)  # type: ignore[assignment]
        parts += (b"\n    ", key(nodeid), b": ", raw, b",")
    if parts:
        parts.pop()  # no comma after the last record
    return parts


def _write_pieces(fh: BinaryIO, parts: List[Raw | bytes]) -> None:
    """``b"".join(parts)`` written without building it: the kernel gathers the pieces."""
    if not hasattr(os, "writev"):  # Windows
        fh.write(b"".join(parts))
        return
    fh.flush()
    fd, step = fh.fileno(), 1024  # IOV_MAX on Linux and macOS
    for start in range(0, len(parts), step):
        chunk = parts[start : start + step]
        done = os.writev(fd, chunk)
        if done < sum(map(len, chunk)):  # a short write: finish the rest
            rest = memoryview(b"".join(chunk))[done:]
            while rest:
                rest = rest[os.write(fd, rest) :]


def _tail(report: Report, any_tests: bool) -> bytes:
    text = encode(report)
    return (b"\n  }" if any_tests else b"}") + text[text.index(_TESTS) + len(_TESTS) :]


# -- the check ----------------------------------------------------------------------------------
def _check(paths: Sequence[str]) -> List[Usage]:
    """Each shard checked in full, as ``load_report`` does; the sum of its tests."""
    return [sum_figures(check_tests(read(path), path, FIX_REPORT).values()) for path in paths]


def _check_into(paths: Sequence[str], conn: Connection) -> None:
    try:
        conn.send(("ok", _check(paths)))
    except BaseException as exc:
        conn.send(("error", exc))
    finally:
        conn.close()


class _Checker:
    """:func:`_check` in a second process (fork where that is safe, else spawn)."""

    def __init__(self, paths: Sequence[str]) -> None:
        single = threading.active_count() == 1
        method = "fork" if single and "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        self._paths = list(paths)
        self._conn, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(  # type: ignore[attr-defined]
            target=_check_into, args=(self._paths, child), daemon=True
        )
        self._process.start()
        child.close()
        self._answered = False

    def result(self) -> List[Usage]:
        """The sums of the shards' tests; raises what the check raised."""
        try:
            status, value = self._conn.recv()
        except EOFError:  # the process died (killed, out of memory): check here instead
            return _check(self._paths)
        self._answered = True
        if status == "error":
            raise value
        totals: List[Usage] = value
        return totals

    def close(self) -> None:
        """Wait for the process; stop it at once when the merge failed before its answer."""
        self._conn.close()
        if not self._answered:
            self._process.kill()
        self._process.join()
