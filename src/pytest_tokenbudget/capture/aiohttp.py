"""The aiohttp patch (google-genai's async client, LiteLLM's transport): ``ClientSession._request``.

aiohttp has no read-whole/stream split: every reply is read through ``response.content``, so
that reader is wrapped in a tee that hands the sink what the caller reads, as it reads it (never
ahead). The reply is recorded when the caller has read it to its end, or when the response is
released or closed (aiohttp then sets an exception on the reader: the tee sees it). A request
made inside an httpx request that capture already follows (an httpx transport over aiohttp) is
that request: it is not followed twice.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Callable
from urllib.parse import urlsplit

from ..providers import endpoint
from .sink import NOTE_MALFORMED, OUTER, KnownBodySink, Sink


def _body(kwargs: dict[str, Any]) -> bytes | None:
    data, payload = kwargs.get("data"), kwargs.get("json")
    if payload is not None:
        try:
            return json.dumps(payload).encode()
        except (TypeError, ValueError):
            return None
    if isinstance(data, bytes):
        return data
    return data.encode() if isinstance(data, str) else None


class ReaderTee:
    """Stands for a response's ``StreamReader``: each read is handed to the sink, and the end
    of the body (or a release) records the reply. Anything else goes to the reader."""

    def __init__(self, inner: Any, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    def _seen(self, data: bytes) -> bytes:
        if data:
            self._sink.feed(data)
        if self._inner.at_eof():
            self._sink.finish()
        return data

    async def read(self, n: int = -1) -> bytes:
        return self._seen(await self._inner.read(n))

    async def readany(self) -> bytes:
        return self._seen(await self._inner.readany())

    async def readline(self, **kwargs: Any) -> bytes:
        return self._seen(await self._inner.readline(**kwargs))

    async def readuntil(self, *args: Any, **kwargs: Any) -> bytes:
        return self._seen(await self._inner.readuntil(*args, **kwargs))

    async def readexactly(self, n: int) -> bytes:
        return self._seen(await self._inner.readexactly(n))

    async def readchunk(self) -> tuple[bytes, bool]:
        data, end = await self._inner.readchunk()
        return self._seen(data), end

    def read_nowait(self, n: int = -1) -> bytes:
        return self._seen(self._inner.read_nowait(n))

    async def _each(self, read: Callable[[], Any]) -> AsyncIterator[Any]:
        while True:
            item = await read()
            if not item or item == (b"", False):
                return
            yield item

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._each(self.readline)

    def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        return self._each(lambda: self.read(n))

    def iter_any(self) -> AsyncIterator[bytes]:
        return self._each(self.readany)

    def iter_chunks(self) -> AsyncIterator[tuple[bytes, bool]]:
        return self._each(self.readchunk)

    def set_exception(self, *args: Any, **kwargs: Any) -> None:
        """The response was released or closed (or broke): what arrived is all there is."""
        try:
            self._inner.set_exception(*args, **kwargs)
        finally:
            self._sink.finish()

    def __getattr__(self, name: str) -> Any:
        if name in ("_inner", "_sink"):  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._inner, name)


def _observe(sink: Sink, response: Any, decoded: bool) -> None:
    """After the request: tee the reply's reader, which every way of reading it goes through."""
    try:
        if not 200 <= response.status < 300:
            return sink.release()
        headers = response.headers
        seen = {
            "content-type": headers.get("content-type", ""),
            # aiohttp decompresses before the caller reads, unless told not to
            "content-encoding": "identity"
            if decoded
            else headers.get("content-encoding", "identity"),
        }
        if sink.start_stream(seen):
            response.content = ReaderTee(response.content, sink)
        else:
            sink.release()
    except Exception:
        sink.uncounted(NOTE_MALFORMED)


def patch_request(original: Callable[..., Any]) -> Callable[..., Any]:
    async def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        if OUTER.get():  # an httpx request over this session: counted there
            return await original(self, method, str_or_url, *args, **kwargs)
        method = method.upper()
        path = urlsplit(str(str_or_url)).path
        found = endpoint(method, path)
        if found is None:
            return await original(self, method, str_or_url, *args, **kwargs)
        sink = KnownBodySink(found, method, path, _body(kwargs))
        try:
            response = await original(self, method, str_or_url, *args, **kwargs)
        except BaseException:
            sink.release()  # never sent, or no reply: its reservation goes
            raise
        decoded = kwargs.get("auto_decompress")
        _observe(sink, response, self._auto_decompress if decoded is None else decoded)
        return response

    _request.__wrapped__ = original  # type: ignore[attr-defined]
    return _request


def patch(module: Any) -> list[Callable[[], None]]:
    """Patch ``aiohttp.ClientSession._request``; returns its undo."""
    from . import replace_method

    return replace_method(module.ClientSession, "_request", patch_request)
