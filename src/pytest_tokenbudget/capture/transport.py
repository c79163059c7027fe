"""The httpx/httpx2 ``send`` patch: see each provider response once, as the caller reads it.

Non-streamed responses are already read when ``send`` returns, so their JSON is parsed there.
Streamed ones (``send(stream=True)``, which is how the SDKs stream and how
``with_streaming_response`` works) get their raw byte stream wrapped: bytes are teed to a parser
as the caller pulls them and the response is recorded when the stream ends or is closed (early
break included). Nothing is read ahead of the caller and the SDK sees the same objects.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any, AsyncIterator, Callable, Iterator

from .. import tracker as _tracker
from ..tracker import TokenTracker
from ..usage import Extracted, Part
from .parse import StreamParser, extract

NOTE_NO_STREAM_USAGE = (
    "chat stream without stream_options={'include_usage': True}: its usage cannot be counted"
)
NOTE_CLOSED_EARLY = "stream closed before its usage arrived: not counted"
NOTE_UNREAD = "response closed before its body was read: not counted"
NOTE_MALFORMED = "unreadable provider response body: not counted"
NOTE_ENCODING = "compressed stream (unsupported content-encoding): not counted"

_CHAT = "chat"  # kinds whose streams carry usage only with include_usage
_RESPONSES_ID = re.compile(r"/responses/[^/]+$")
_INCLUDE_USAGE = re.compile(rb'"include_usage"\s*:\s*true')


def classify(method: str, path: str) -> str | None:
    """The kind of provider endpoint ``path`` is, on any base URL (Azure, proxies...)."""
    if method == "POST":
        if path.endswith(("/chat/completions", "/completions")):
            return _CHAT
        if path.endswith(("/responses", "/embeddings", "/messages", "/responses/compact")):
            return "json"
        return None
    if method == "GET" and _RESPONSES_ID.search(path):  # background response poll
        return "json"
    return None


class Sink:
    """One response on its way to one test's tracker; records at most once."""

    __slots__ = (
        "_decoder",
        "_done",
        "_is_sse",
        "_json",
        "_parser",
        "kind",
        "operation",
        "request",
        "tracker",
    )

    def __init__(
        self, tracker: TokenTracker, operation: str | None, kind: str, request: Any
    ) -> None:
        self.tracker = tracker
        self.operation = operation
        self.kind = kind
        self.request = request
        self._done = False
        self._is_sse = False
        self._parser: StreamParser | None = None
        self._json: list[bytes] | None = None
        self._decoder: Any = None

    def start_stream(self, response: Any) -> bool:
        """Prepare to tee ``response``'s raw stream; False when it cannot be read."""
        headers = response.headers
        self._is_sse = "text/event-stream" in headers.get("content-type", "")
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate"):
            self._decoder = zlib.decompressobj(47 if encoding == "gzip" else 15)
        elif encoding != "identity":
            self.tracker.note(NOTE_ENCODING)
            return False
        if self._is_sse:
            self._parser = StreamParser()
        else:
            self._json = []
        return True

    def feed(self, chunk: bytes) -> None:
        if self._done:
            return
        try:
            if self._decoder is not None:
                chunk = self._decoder.decompress(chunk)
            if self._parser is not None:
                self._parser.feed(chunk)
            elif self._json is not None:
                self._json.append(chunk)
        except Exception:
            self._fail(NOTE_MALFORMED)

    def finish(self) -> None:
        """The stream ended or was closed: record what it billed (once)."""
        if self._done:
            return
        self._done = True
        try:
            if self._parser is not None:
                found = self._parser.result()
                if found is None and self.kind == _CHAT:
                    self.tracker.note(self._why_no_usage())
            elif self._json:
                found = extract(json.loads(b"".join(self._json)))
            else:
                self.tracker.note(NOTE_UNREAD)
                return
        except Exception:
            self.tracker.note(NOTE_MALFORMED)
            return
        self.record(found)

    def body(self, content: bytes) -> None:
        """Record a fully read JSON body."""
        self._done = True
        try:
            found = extract(json.loads(content))
        except Exception:
            self.tracker.note(NOTE_MALFORMED)
            return
        self.record(found)

    def record(self, found: Extracted | None) -> None:
        if found is None:
            return
        if any(part.model is None for part in found.parts):  # e.g. /responses/compact
            found = _with_model(found, self.request)
        self.tracker.add_extracted(found, operation=self.operation)

    def _why_no_usage(self) -> str:
        try:
            asked = _INCLUDE_USAGE.search(self.request.content) is not None
        except Exception:  # a streamed request body cannot be re-read
            asked = False
        return NOTE_CLOSED_EARLY if asked else NOTE_NO_STREAM_USAGE

    def _fail(self, note: str) -> None:
        self._done = True
        self.tracker.note(note)


def _with_model(found: Extracted, request: Any) -> Extracted:
    """Name the model the request asked for when the response does not say."""
    try:
        model = json.loads(request.content).get("model")
    except Exception:
        return found
    if not isinstance(model, str):
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
    """At request time: is this a provider call, and whose? Runs spend protection."""
    __tracebackhide__ = True
    kind = classify(request.method, request.url.path)
    if kind is None:
        return None
    attribution = _tracker.ATTRIBUTION
    tracker = attribution.tracker()
    hook = attribution.before_request
    if hook is not None and request.method == "POST":
        hook(tracker)  # may raise BudgetExceeded: intended to reach the caller
    return Sink(tracker, tracker.current_operation(), kind, request)


def _observe(sink: Sink, response: Any, streamed: bool, tee: type) -> None:
    """After ``send``: parse a read body now, or tee a streamed one. Never raises."""
    try:
        if not 200 <= response.status_code < 300:
            return
        if not streamed:
            sink.body(response.content)
        elif sink.start_stream(response):
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
