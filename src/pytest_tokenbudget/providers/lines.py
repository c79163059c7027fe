"""Line-delimited streams whose last usage line is the final one: Gemini's SSE chunks (each
carries the usage so far) and Ollama's NDJSON (counts on the ``done`` line).

Only the last complete line that matches the reader's pattern is kept, as bytes; it is decoded
once, when the stream ended. A stream costs one regex search a chunk, whatever its size.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..usage import Extracted

#: An SSE field name before a JSON event (``data: {...}``); NDJSON lines have none.
_DATA = re.compile(rb"^data:[ \t]*")
#: ``ord("\r")``: bytes find an int faster than ``b"\r"``.
_CR = 13


class LastLine:
    """Base of a stream reader that keeps the last line matching ``PATTERN``.

    A subclass sets ``PATTERN`` (a compiled bytes pattern matching a whole line, ``^...$`` with
    ``re.MULTILINE``) and ``read`` (what the decoded line billed; None when it is not final).
    Lines end with LF, CR or CRLF, as the SDKs split them. ``_line`` holds the pieces of the
    line not complete yet, joined once it is: a 40 MB line in 16 KiB chunks is copied once, not
    once a chunk. One reader is made per streamed call.
    """

    __slots__ = ("_last", "_line")
    PATTERN: re.Pattern[bytes]

    def __init__(self) -> None:
        self._line: list[bytes] = []
        self._last = b""

    def feed(self, chunk: bytes) -> None:
        cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) + 1
        if not cut:
            if chunk:
                self._line.append(chunk)
            return
        if self._line:
            self._line.append(chunk[:cut])
            lines = b"".join(self._line)
        else:
            lines = chunk[:cut] if cut < len(chunk) else chunk
        self._line = [chunk[cut:]] if cut < len(chunk) else []
        if _CR in lines:
            lines = lines.replace(b"\r", b"\n")
        last = None
        for last in self.PATTERN.finditer(lines):  # noqa: B007 - the last one is kept
            pass
        if last is not None:
            self._last = last.group(0)

    def result(self, ended: bool = True) -> Extracted | None:
        if self._line:  # a last line without its line end
            self.feed(b"\n")
        if not self._last:
            return None
        line = _DATA.sub(b"", self._last.strip(), count=1)
        return self.read(json.loads(line))

    def read(self, event: Any) -> Extracted | None:
        raise NotImplementedError
