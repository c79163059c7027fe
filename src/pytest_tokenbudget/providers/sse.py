"""Server-sent events framing for the stream readers, as the WHATWG spec parses it, in time
linear in the stream and cheap for the events without usage.

Lines end with CR, LF or CRLF (a CR ending one chunk and the LF starting the next are one line
end); an event is its ``data:`` lines joined by LF, dispatched at a blank line; comments and
other fields are ignored. Raw bytes arrive in any chunking: each byte is scanned a fixed number
of times, so one 40 MB event costs what forty 1 MB ones do. Only the events that name a usage
object are split into lines and decoded: a chunk without one costs one regex search.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..usage import Extracted

#: Complete lines that may hold a usage object: ``"usage"`` not followed by ``: null`` (a chat
#: stream with include_usage says ``"usage": null`` in each chunk). Loose on purpose: a usage
#: object split over ``data:`` lines still matches, and an event that only seemed to have one
#: is read and dropped.
_MAYBE_USAGE = re.compile(rb'"usage"(?!\s*:\s*null)')
#: ``ord("\r")``: bytes find an int ten times faster than ``b"\r"``.
_CR = 13
#: An event's data (its ``data:`` lines joined) that carries a usage object.
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')


def _maybe_usage(lines: bytes, start: int, end: int) -> bool:
    """Whether ``lines[start:end]`` may hold a usage object; a plain search finds the name
    far faster than the pattern can."""
    at = lines.find(b'"usage"', start, end)
    return at >= 0 and _MAYBE_USAGE.search(lines, at, end) is not None


class UsageEvents:
    """Base of a stream reader: ``event`` gets each decoded event object that has a ``usage``
    object, in order; ``found()`` says what they billed.

    Buffers hold line-normalised bytes (every line end made LF): ``_line`` the pieces of the
    line still incomplete, ``_event`` the complete lines of the event not yet dispatched
    (``_maybe`` when they may hold a usage object); ``_cr``: the last chunk ended with CR.
    A chunk of whole LF-framed events with none of these held is read at once.
    """

    __slots__ = ("_cr", "_event", "_held", "_line", "_maybe")

    def __init__(self) -> None:
        self._held = False  # any of the below
        self._line: list[bytes] = []
        self._event: list[bytes] = []
        self._maybe = False
        self._cr = False

    def feed(self, chunk: bytes) -> None:
        if not self._held and chunk.endswith(b"\n\n") and _CR not in chunk:
            found = _MAYBE_USAGE.search(chunk)  # whole events: the common case
            if found is not None:
                self._dispatch(chunk, found)
            return
        if self._cr:  # CR then LF is one line end, whichever chunk each arrived in
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if _CR in chunk:
            self._cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = chunk.rfind(b"\n") + 1
        if not cut:  # no line ends here: kept, never re-scanned
            if chunk:
                self._line.append(chunk)
        else:
            self._line.append(chunk[:cut])
            lines = b"".join(self._line)
            self._line = [chunk[cut:]] if cut < len(chunk) else []
            self._lines(lines)
        self._held = self._cr or bool(self._line or self._event)

    def _lines(self, lines: bytes) -> None:
        """Complete lines: dispatch the events they complete, keep the one they begin."""
        end = lines.rfind(b"\n\n") + 2  # after the last blank line; 1 if it is the first
        size = len(lines)
        if end == 1 and lines[0] != 10:  # no blank line: the event goes on
            self._event.append(lines)
            self._maybe = self._maybe or _maybe_usage(lines, 0, size)
            return
        if self._maybe or _maybe_usage(lines, 0, end):
            self._event.append(lines[:end])
            events = b"".join(self._event)
            self._dispatch(events, _MAYBE_USAGE.search(events))
        self._event = [lines[end:]] if end < size else []
        self._maybe = end < size and _maybe_usage(lines, end, size)

    def _dispatch(self, events: bytes, found: re.Match[bytes] | None) -> None:
        """Whole events (ending with a blank line): read the ones that may hold usage, from
        the first (``found``)."""
        while found is not None:
            at = found.start()
            start = events.rfind(b"\n\n", 0, at) + 2  # after the blank line before
            end = events.index(b"\n\n", at) + 2
            self._read(events, start if start > 1 else 0, end)
            found = _MAYBE_USAGE.search(events, end)

    def _read(self, events: bytes, at: int, end: int) -> None:
        """The events in ``events[at:end]``: decode those whose data has a usage object."""
        data: list[bytes] = []
        while at < end:
            stop = events.index(b"\n", at)
            if stop == at:  # a blank line: the event so far is complete
                if data:
                    payload = data[0] if len(data) == 1 else b"\n".join(data)
                    data = []
                    usage = payload.find(b'"usage"')
                    if usage >= 0 and _USAGE_OBJECT.search(payload, usage) is not None:
                        event = json.loads(payload)
                        if isinstance(event, dict):
                            self.event(event)
            elif events.startswith(b"data", at):
                value = at + 4
                if value == stop:  # "data" alone: an empty value
                    data.append(b"")
                elif events[value] == 58:  # "data:" and at most one space
                    value += 2 if events.startswith(b" ", value + 1) else 1
                    data.append(events[value:stop])
            at = stop + 1

    def result(self, ended: bool = True) -> Extracted | None:
        """What the stream billed. ``ended``: it reached its end, where an event that lacks
        its final blank line still counts; else it was closed early and an event cut off is
        dropped, as the spec drops it."""
        if ended and (self._line or self._event):
            self.feed(b"\n\n")
        return self.found()

    def event(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def found(self) -> Extracted | None:
        raise NotImplementedError
