"""One provider reply on its way to one test's tracker, whatever HTTP client carried it.

The client's patch recognises the request through ``providers`` and opens a sink before it is
sent (spend protection runs then); it then hands the sink the reply: a body already read, or
the raw bytes of a stream as the caller pulls them. How the reply is read is the endpoint's
business; the sink decompresses, buffers and records at most once: what the reply billed, or,
when it cannot be read, one uncounted call with the reason (never nothing, never a figure).
A stream is recorded when it ends, is closed or dropped, and at the latest when its test ends
(``finish_open``): counted from what arrived, never lost, never another test's.
"""

from __future__ import annotations

import json
import threading
import zlib
from contextvars import ContextVar
from typing import Any

from .. import attribution as _attribution
from .. import tracker as _tracker
from ..providers import Endpoint, StreamReader
from ..usage import Extracted

#: Set while an httpx request that capture follows is being sent: a client it sends through
#: (an httpx transport over aiohttp) sees the same call, which must not count twice.
OUTER: ContextVar[bool] = ContextVar("tokenbudget_outer_request", default=False)

#: Why a reply was not counted (each an uncounted call; the summary names its tests).
NOTE_UNREAD = "response closed before its body was read"
NOTE_MALFORMED = "unreadable provider response body"
NOTE_ENCODING = "compressed stream with an unsupported content-encoding"
NOTE_HOOK = "pytest_tokenbudget_parse_response could not read a reply"

#: Streams not recorded yet, whichever test (tracker) they belong to.
_open: dict[Sink, None] = {}
_open_lock = threading.Lock()


def finish_open(tracker: _tracker.TokenTracker) -> None:
    """The test that owns ``tracker`` ended: record its streams still open (left unread, or
    dropped but not yet collected) from what arrived. The plugin calls it at each test's end
    once this module is loaded (a stream was captured)."""
    if not _open:  # none open (every test's end, mostly): no lock to take
        return
    with _open_lock:
        mine = [sink for sink in _open if sink.tracker is tracker]
    for sink in mine:
        sink.finish()


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
            self.uncounted(NOTE_ENCODING)
            return False
        if self.endpoint.streams in headers.get("content-type", ""):
            self._reader = self.endpoint.stream()
        else:
            self._json = []
        with _open_lock:
            _open[self] = None
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
        except Exception as exc:
            self.uncounted(unreadable(exc))  # finish() will see it done: the reservation goes now

    def finish(self, ended: bool = False) -> None:
        """The stream reached its end (``ended``), or was closed or dropped before: record
        what it billed (once)."""
        with _open_lock:  # its test's end and its own thread may finish it at once
            _open.pop(self, None)
            if self._done:
                return
            self._done = True
        try:
            self._finish(ended)
        finally:
            self.release()

    def _finish(self, ended: bool) -> None:
        found: Extracted | None = None
        reason: str | None = None
        try:
            if self._reader is not None:
                found = self._reader.result(ended)
                missing = self.endpoint.missing_usage
                if found is None and missing is not None:
                    reason = missing(self.request_body(), ended)
            elif self._json:
                found = self.endpoint.read(json.loads(b"".join(self._json)))
            else:
                reason = NOTE_UNREAD
        except Exception as exc:
            reason = unreadable(exc)
        if reason is not None:
            return self.uncounted(reason)
        self.record(found)

    def body(self, content: bytes) -> None:
        """Record a fully read body."""
        self._done = True
        try:
            found = self.endpoint.read(json.loads(content))
        except Exception as exc:
            return self.uncounted(unreadable(exc))
        self.record(found)

    def uncounted(self, reason: str) -> None:
        """The reply is an LLM call that cannot be counted: one uncounted call (on the model
        the request asked for), and the request's reservation goes in the same step (the call
        was made: ``max_calls`` counts it)."""
        self._done = True
        body = self.request_body()
        model = None if body is None else self.endpoint.request_model(self.path, body)
        ticket, self._ticket = self._ticket, None
        tracker, operation = self.tracker, self.operation
        if ticket is None:
            tracker.uncounted(reason, model=model, operation=operation)
        else:
            ticket.settle(lambda: tracker.uncounted(reason, model=model, operation=operation))

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
        parts = tuple(p if p.model else p._replace(model=model) for p in found.parts)
        return Extracted(parts, found.response_id)


def unreadable(exc: Exception) -> str:
    """Why a reply could not be read: a figure no real reply carries is named (the providers'
    ValueError says which and what); any other failure (not JSON, bad compression) is not."""
    if type(exc) is ValueError:  # not its subclasses: a JSON or Unicode decoding error
        return f"{NOTE_MALFORMED}: {exc}"
    return NOTE_MALFORMED


def by_hook(request: Any, response: Any) -> None:
    """A read reply to a request no provider recognised: counted if the user's parser (the
    ``pytest_tokenbudget_parse_response`` hook) reads it. Never raises into the caller."""
    hook = _attribution.ATTRIBUTION.parse_response
    if hook is None or not 200 <= response.status_code < 300:
        return
    try:
        found = hook(request, response)
    except Exception as exc:  # the parser took it for a call, and could not read it
        tracker = _attribution.ATTRIBUTION.tracker()
        tracker.uncounted(f"{NOTE_HOOK}: {exc}", operation=tracker.current_operation())
        return
    if found is not None:
        tracker = _attribution.ATTRIBUTION.tracker()
        tracker.add_extracted(found, operation=tracker.current_operation())


class KnownBodySink(Sink):
    """A sink given its request's body up front (aiohttp's ``data``/``json``, botocore's
    prepared request), before it opens: spend protection may read it then."""

    __slots__ = ("_body",)

    def __init__(self, found: Endpoint, method: str, path: str, body: bytes | None) -> None:
        self._body = body
        super().__init__(found, method, path, None)

    def request_body(self) -> bytes | None:
        return self._body
