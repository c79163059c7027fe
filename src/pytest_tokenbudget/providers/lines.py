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


class LastLine:
    """Base of a stream reader that keeps the last line matching ``PATTERN``.

    A subclass sets ``PATTERN`` (a compiled bytes pattern matching a whole line, ``^...$`` with
    ``re.MULTILINE``) and ``read`` (what the decoded line billed; None when it is not final).
    It sets ``_buf = _last = b""`` in its own ``__init__``: one reader is made per streamed call.
    """

    __slots__ = ("_buf", "_last")
    PATTERN: re.Pattern[bytes]
    _buf: bytes
    _last: bytes

    def feed(self, chunk: bytes) -> None:
        buf = self._buf + chunk if self._buf else chunk
        cut = buf.rfind(b"\n") + 1
        self._buf = buf[cut:]
        if cut:
            last = None
            for last in self.PATTERN.finditer(buf, 0, cut):  # noqa: B007 - the last one is kept
                pass
            if last is not None:
                self._last = last.group(0)

    def result(self, ended: bool = True) -> Extracted | None:
        if self._buf:  # a last line without its newline
            self.feed(b"\n")
        if not self._last:
            return None
        line = _DATA.sub(b"", self._last.strip(), count=1)
        return self.read(json.loads(line))

    def read(self, event: Any) -> Extracted | None:
        raise NotImplementedError
