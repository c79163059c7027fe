"""Server-sent events framing for the stream readers, kept cheap for the events without usage.

Only complete ``data:`` lines are decoded, and only those that carry a usage object: a chunk
without one costs one regex search, whatever its size. Raw bytes arrive in any chunking.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..usage import Extracted

#: An SSE data line that carries a usage object (not ``"usage": null``); others are skipped
#: without decoding, which keeps streaming cheap.
_DATA_WITH_USAGE = re.compile(rb'^data: ?(.*"usage"\s*:\s*\{.*)$', re.MULTILINE)
#: Whether a chunk has such a line at all: ten times cheaper than the line pattern on the
#: chunks that have none (a chat stream with include_usage says ``"usage": null`` in each).
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')


class UsageEvents:
    """Base of a stream reader: ``event`` gets each decoded event object that has a ``usage``
    object, in order; ``result()`` reads what they said once the stream ended (after feeding
    a last line that lacked its newline).

    A reader is made for every streamed call, so a subclass sets ``_buf = b""`` in its own
    ``__init__`` rather than calling ``super().__init__()``, which would cost as much again.
    """

    __slots__ = ("_buf",)
    _buf: bytes

    def feed(self, chunk: bytes) -> None:
        buf = self._buf + chunk if self._buf else chunk
        cut = buf.rfind(b"\n") + 1
        self._buf = buf[cut:]
        if cut and _USAGE_OBJECT.search(buf, 0, cut) is not None:
            for match in _DATA_WITH_USAGE.finditer(buf, 0, cut):
                event = json.loads(match.group(1))
                if isinstance(event, dict):
                    self.event(event)

    def event(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def result(self) -> Extracted | None:
        raise NotImplementedError
