"""One provider reply on its way to one test's tracker, whatever HTTP client carried it.

The client's patch recognises the request through ``providers`` and opens a sink before it is
sent (spend protection runs then); it then hands the sink the reply: a body already read, or
the raw bytes of a stream as the caller pulls them. How the reply is read is the endpoint's
business; the sink decompresses, buffers, notes what it could not count and records at most
once.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from .. import attribution as _attribution
from .. import tracker as _tracker
from ..providers import Endpoint, StreamReader
from ..usage import Extracted, Part

NOTE_UNREAD = "response closed before its body was read: not counted"
NOTE_MALFORMED = "unreadable provider response body: not counted"
NOTE_ENCODING = "compressed stream (unsupported content-encoding): not counted"


class Sink:
    """Records at most once. Each HTTP client subclasses it to say how its request's body is
    re-read (``request_body``)."""

    __slots__ = (
        "_decoder",
        "_done",
        "_json",
        "_reader",
        "_ticket",
        "endpoint",
        "operation",
        "path",
        "request",
        "tracker",
    )

    def __init__(self, endpoint: Endpoint, method: str, path: str, request: Any) -> None:
        """Open a sink for a request about to be sent: whose call is it? Spend protection runs
        here and may refuse the request (raises BudgetExceeded) or admit it with a reservation,
        which the sink releases whatever becomes of the request (:meth:`release`)."""
        __tracebackhide__ = True
        attribution = _attribution.ATTRIBUTION
        tracker = attribution.tracker()
        self.tracker = tracker
        self.operation = tracker.current_operation()
        self.endpoint = endpoint
        self.path = path
        self.request = request
        self._done = False
        self._reader: StreamReader | None = None
        self._json: list[bytes] | None = None
        self._decoder: Any = None
        hook = attribution.before_request
        self._ticket: _tracker.Admission | None = None
        if hook is not None and method == "POST":  # intended to reach the caller
            self._ticket = hook(tracker, endpoint, path, self.request_body)

    def release(self) -> None:
        """The request ended without a reply to count: spend protection's reservation goes."""
        ticket, self._ticket = self._ticket, None
        if ticket is not None:
            ticket.release()

    def request_body(self) -> bytes | None:
        """The request's body, None when it cannot be re-read (a streamed upload)."""
        raise NotImplementedError

    def start_stream(self, headers: Any) -> bool:
        """Prepare to read a streamed reply with these headers; False when it cannot be read."""
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate"):
            self._decoder = zlib.decompressobj(47 if encoding == "gzip" else 15)
        elif encoding != "identity":
            self.tracker.note(NOTE_ENCODING)
            return False
        if self.endpoint.streams in headers.get("content-type", ""):
            self._reader = self.endpoint.stream()
        else:
            self._json = []
        return True

    def feed(self, chunk: bytes) -> None:
        if self._done:
            return
        try:
            if self._decoder is not None:
                chunk = self._decoder.decompress(chunk)
            if self._reader is not None:
                self._reader.feed(chunk)
            elif self._json is not None:
                self._json.append(chunk)
        except Exception:
            self._done = True
            self.tracker.note(NOTE_MALFORMED)
            self.release()  # finish() will see it done: the reservation goes now

    def finish(self) -> None:
        """The stream ended or was closed: record what it billed (once)."""
        if self._done:
            return
        self._done = True
        try:
            self._finish()
        finally:
            self.release()

    def _finish(self) -> None:
        try:
            if self._reader is not None:
                found = self._reader.result()
                if found is None and self.endpoint.missing_usage is not None:
                    self.tracker.note(self.endpoint.missing_usage(self.request_body()))
            elif self._json:
                found = self.endpoint.read(json.loads(b"".join(self._json)))
            else:
                self.tracker.note(NOTE_UNREAD)
                return
        except Exception:
            self.tracker.note(NOTE_MALFORMED)
            return
        self.record(found)

    def body(self, content: bytes) -> None:
        """Record a fully read body."""
        self._done = True
        try:
            found = self.endpoint.read(json.loads(content))
        except Exception:
            self.tracker.note(NOTE_MALFORMED)
            return self.release()
        self.record(found)

    def record(self, found: Extracted | None) -> None:
        """Count what the reply billed, releasing the request's reservation in the same step."""
        if found is None:
            return self.release()
        if any(part.model is None for part in found.parts):  # e.g. /responses/compact
            found = self._with_request_model(found)
        ticket, self._ticket = self._ticket, None
        if ticket is None:
            self.tracker.add_extracted(found, operation=self.operation)
        else:
            counted = found
            ticket.settle(lambda: self.tracker.add_extracted(counted, operation=self.operation))

    def _with_request_model(self, found: Extracted) -> Extracted:
        """Name the model the request asked for where the reply does not say."""
        body = self.request_body()
        model = None if body is None else self.endpoint.request_model(self.path, body)
        if model is None:
            return found
        parts = tuple(Part(p.usage, p.model or model, p.cache_write_1h_tokens) for p in found.parts)
        return Extracted(parts, found.response_id)
