"""AWS event stream framing (``application/vnd.amazon.eventstream``), as Bedrock streams.

A message is: total length and headers length (4 bytes each, big-endian), a CRC of those,
the headers, the payload, a CRC of the whole. Each header is a name (1-byte length), a type
byte and a value whose size the type gives. Only what a usage reader needs is decoded: the
``:event-type`` header and the payload bytes. CRCs are not checked (the SDK checks them).
"""

from __future__ import annotations

from typing import Callable

#: Fixed value sizes of the header types (0 and 1 are true and false, with no value; 6 and 7,
#: bytes and string, carry a 2-byte length).
_SIZES = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_PRELUDE = 12


def headers(data: bytes, start: int, end: int) -> dict[str, object]:
    """The headers between ``start`` and ``end``: strings and bytes decoded, others skipped."""
    out: dict[str, object] = {}
    at = start
    while at < end:
        size = data[at]
        name = data[at + 1 : at + 1 + size].decode("utf-8")
        at += 1 + size
        kind = data[at]
        at += 1
        if kind in (6, 7):
            length = int.from_bytes(data[at : at + 2], "big")
            value = data[at + 2 : at + 2 + length]
            out[name] = value.decode("utf-8") if kind == 7 else value
            at += 2 + length
        elif kind in _SIZES:
            at += _SIZES[kind]
        else:
            raise ValueError(f"an event stream header has unknown type {kind}")
    return out


class Messages:
    """Splits raw bytes, in any chunking, into messages: ``on_message(event_type, payload)``
    for each complete one (``event_type`` is ``:event-type``, or ``:exception-type`` for an
    exception the stream carries).

    The bytes of a message not complete yet are kept as pieces (``_held``, ``_size`` bytes) and
    joined once ``_need`` bytes are there: a large message in small chunks is copied once.
    """

    __slots__ = ("_held", "_need", "_on_message", "_size")

    def __init__(self, on_message: Callable[[str, bytes], None]) -> None:
        self._held: list[bytes] = []
        self._size = 0
        self._need = _PRELUDE
        self._on_message = on_message

    def feed(self, chunk: bytes) -> None:
        if self._held:
            self._held.append(chunk)
            self._size += len(chunk)
            if self._size < self._need:
                return
            buf = b"".join(self._held)
        else:
            buf = chunk
        at = 0
        need = _PRELUDE
        while len(buf) - at >= _PRELUDE:
            total = int.from_bytes(buf[at : at + 4], "big")
            head = int.from_bytes(buf[at + 4 : at + 8], "big")
            if total < _PRELUDE + head + 4:
                raise ValueError(f"event stream message of {total} bytes is too short")
            if len(buf) - at < total:
                need = total
                break
            found = headers(buf, at + _PRELUDE, at + _PRELUDE + head)
            kind = found.get(":event-type") or found.get(":exception-type") or ""
            self._on_message(str(kind), buf[at + _PRELUDE + head : at + total - 4])
            at += total
        rest = buf[at:] if at else buf
        self._held = [rest] if rest else []
        self._size = len(rest)
        self._need = need

    @property
    def pending(self) -> int:
        """Bytes of a message not complete yet."""
        return self._size
