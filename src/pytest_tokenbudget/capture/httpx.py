"""The httpx/httpx2 ``send`` patch: see each provider reply once, as the caller reads it.

Non-streamed replies are already read when ``send`` returns, so their body is handed over there.
Streamed ones (``send(stream=True)``, which is how the SDKs stream and how
``with_streaming_response`` works) get their raw byte stream wrapped: bytes are teed to the sink
as the caller pulls them and the reply is recorded when the stream ends, is closed or its
generator is dropped (early break included); one left open is recorded when its test ends
(``sink.finish_open``). Nothing is read ahead of the caller and the SDK sees the same objects.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Iterator

from .. import tracker as _tracker
from ..providers import endpoint
from .sink import NOTE_MALFORMED, OUTER, Sink, by_hook


class HttpxSink(Sink):
    """An httpx/httpx2 request's body is re-read from ``request.content``."""

    __slots__ = ()

    def request_body(self) -> bytes | None:
        try:
            content: bytes = self.request.content
        except Exception:  # a streamed request body cannot be re-read
            return None
        return content


class SyncTee:
    """Mixin over a module's ``SyncByteStream`` (so httpx's isinstance checks pass)."""

    def __init__(self, inner: Any, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        feed = self._sink.feed
        ended = False
        try:
            for chunk in self._inner:
                feed(chunk)
                yield chunk
            ended = True
        finally:  # also when the caller drops or closes this generator (GeneratorExit)
            self._sink.finish(ended)

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
        ended = False
        try:
            async for chunk in self._inner:
                feed(chunk)
                yield chunk
            ended = True
        finally:  # a dropped generator is closed by the event loop's hook; nothing awaited here
            self._sink.finish(ended)

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
    return HttpxSink(found, request.method, path, request)


def _observe(sink: Sink, response: Any, streamed: bool, tee: type) -> None:
    """After ``send``: parse a read body now, or tee a streamed one. Never raises."""
    try:
        if not 200 <= response.status_code < 300:
            return sink.release()
        if not streamed:
            sink.body(response.content)
        elif sink.start_stream(response.headers):
            response.stream = tee(response.stream, sink)
        else:
            sink.release()
    except Exception:
        sink.uncounted(NOTE_MALFORMED)


def patch(module: Any) -> list[Callable[[], None]]:
    """Patch ``send`` of ``module``'s clients (httpx or httpx2); returns the undos."""
    from . import replace_method

    sync_tee = type("SyncTee", (SyncTee, module.SyncByteStream), {})
    async_tee = type("AsyncTee", (AsyncTee, module.AsyncByteStream), {})
    return replace_method(
        module.Client, "send", lambda send: patch_sync(send, sync_tee)
    ) + replace_method(module.AsyncClient, "send", lambda send: patch_async(send, async_tee))


def patch_sync(original: Callable[..., Any], tee: type) -> Callable[..., Any]:
    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        sink = _begin(request)
        try:
            response = original(self, request, *args, **kwargs)
        except BaseException:
            if sink is not None:  # never sent, or no reply: its reservation goes
                sink.release()
            raise
        if sink is not None:
            _observe(sink, response, kwargs.get("stream", False), tee)
        elif _tracker.ATTRIBUTION.parse_response is not None and not kwargs.get("stream"):
            by_hook(request, response)
        return response

    send.__wrapped__ = original  # type: ignore[attr-defined]
    return send


def patch_async(original: Callable[..., Any], tee: type) -> Callable[..., Any]:
    async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        sink = _begin(request)
        if sink is None:
            response = await original(self, request, *args, **kwargs)
            if _tracker.ATTRIBUTION.parse_response is not None and not kwargs.get("stream"):
                by_hook(request, response)
            return response
        outer = OUTER.set(True)
        try:
            response = await original(self, request, *args, **kwargs)
        except BaseException:
            sink.release()  # never sent, or no reply: its reservation goes
            raise
        finally:
            OUTER.reset(outer)
        _observe(sink, response, kwargs.get("stream", False), tee)
        return response

    send.__wrapped__ = original  # type: ignore[attr-defined]
    return send
