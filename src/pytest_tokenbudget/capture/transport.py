"""The httpx/httpx2 ``send`` patch: see each provider reply once, as the caller reads it.

Non-streamed replies are already read when ``send`` returns, so their body is handed over there.
Streamed ones (``send(stream=True)``, which is how the SDKs stream and how
``with_streaming_response`` works) get their raw byte stream wrapped: bytes are teed to the sink
as the caller pulls them and the reply is recorded when the stream ends or is closed (early
break included). Nothing is read ahead of the caller and the SDK sees the same objects.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, AsyncIterator, Callable, Iterator

from .. import tracker as _tracker
from ..providers import Endpoint, StreamReader, endpoint
from ..usage import Extracted, Part

NOTE_UNREAD = "response closed before its body was read: not counted"
NOTE_MALFORMED = "unreadable provider response body: not counted"
NOTE_ENCODING = "compressed stream (unsupported content-encoding): not counted"


class Sink:
    """One response on its way to one test's tracker; records at most once."""

    __slots__ = (
        "_decoder",
        "_done",
        "_json",
        "_reader",
        "endpoint",
        "operation",
        "path",
        "request",
        "tracker",
    )

    def __init__(self, endpoint: Endpoint, method: str, path: str, request: Any) -> None:
        """Open a sink for a request about to be sent: whose call is it? Spend protection runs
        here and may refuse the request (raises BudgetExceeded)."""
        __tracebackhide__ = True
        attribution = _tracker.ATTRIBUTION
        tracker = attribution.tracker()
        hook = attribution.before_request
        if hook is not None and method == "POST":
            hook(tracker)  # intended to reach the caller
        self.tracker = tracker
        self.operation = tracker.current_operation()
        self.endpoint = endpoint
        self.path = path
        self.request = request
        self._done = False
        self._reader: StreamReader | None = None
        self._json: list[bytes] | None = None
        self._decoder: Any = None

    def request_body(self) -> bytes | None:
        try:
            content: bytes = self.request.content
        except Exception:  # a streamed request body cannot be re-read
            return None
        return content

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

    def finish(self) -> None:
        """The stream ended or was closed: record what it billed (once)."""
        if self._done:
            return
        self._done = True
        try:
            if self._reader is not None:
                found = self._reader.result()
                missing_usage = self.endpoint.missing_usage
                if found is None and missing_usage is not None:
                    self.tracker.note(missing_usage(self.request_body()))
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
            return
        self.record(found)

    def record(self, found: Extracted | None) -> None:
        if found is None:
            return
        if any(part.model is None for part in found.parts):  # e.g. /responses/compact
            found = self._with_request_model(found)
        self.tracker.add_extracted(found, operation=self.operation)

    def _with_request_model(self, found: Extracted) -> Extracted:
        """Name the model the request asked for where the reply does not say."""
        body = self.request_body()
        model = None if body is None else self.endpoint.request_model(self.path, body)
        if model is None:
            return found
        parts = tuple(Part(p.usage, p.model or model, p.cache_write_1h_tokens) for p in found.parts)
        return Extracted(parts, found.response_id)


class SyncTee:
    """Mixin over a module's ``SyncByteStream`` (so httpx's isinstance checks pass)."""

    def __init__(self, inner: Any, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        feed = self._sink.feed
        for chunk in self._inner:
            feed(chunk)
            yield chunk
        self._sink.finish()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._sink.finish()

    def __getattr__(self, name: str) -> Any:  # e.g. ``elapsed`` of httpx's BoundSyncStream
        return _forward(self, name)


class AsyncTee:
    """Mixin over a module's ``AsyncByteStream``."""

    def __init__(self, inner: Any, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        feed = self._sink.feed
        async for chunk in self._inner:
            feed(chunk)
            yield chunk
        self._sink.finish()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._sink.finish()

    def __getattr__(self, name: str) -> Any:
        return _forward(self, name)


def _forward(tee: Any, name: str) -> Any:
    if name in ("_inner", "_sink"):  # not set yet: no recursion
        raise AttributeError(name)
    return getattr(tee._inner, name)


def _begin(request: Any) -> Sink | None:
    """At request time: is this a provider call? The one check every request pays for."""
    __tracebackhide__ = True
    path = request.url.path
    found = endpoint(request.method, path)
    if found is None:
        return None
    return Sink(found, request.method, path, request)


def _observe(sink: Sink, response: Any, streamed: bool, tee: type) -> None:
    """After ``send``: parse a read body now, or tee a streamed one. Never raises."""
    try:
        if not 200 <= response.status_code < 300:
            return
        if not streamed:
            sink.body(response.content)
        elif sink.start_stream(response.headers):
            response.stream = tee(response.stream, sink)
    except Exception:
        sink.tracker.note(NOTE_MALFORMED)


def patch_sync(original: Callable[..., Any], tee: type) -> Callable[..., Any]:
    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        sink = _begin(request)
        response = original(self, request, *args, **kwargs)
        if sink is not None:
            _observe(sink, response, kwargs.get("stream", False), tee)
        return response

    send.__wrapped__ = original  # type: ignore[attr-defined]
    return send


def patch_async(original: Callable[..., Any], tee: type) -> Callable[..., Any]:
    async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        sink = _begin(request)
        response = await original(self, request, *args, **kwargs)
        if sink is not None:
            _observe(sink, response, kwargs.get("stream", False), tee)
        return response

    send.__wrapped__ = original  # type: ignore[attr-defined]
    return send
