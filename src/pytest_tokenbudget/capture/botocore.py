"""Bedrock through boto3/botocore, by botocore's event system.

Handlers join ``botocore.handlers.BUILTIN_HANDLERS``, which every botocore session registers
when it is made (so every client of a session made after capture was installed has them):
``before-send`` opens a sink for a Bedrock runtime request (spend protection may refuse it
there), ``before-parse`` hands the sink the reply before botocore parses it, and
``needs-retry``, which follows every attempt, releases a sink whose request got no reply.
A streamed reply's raw bytes are teed as the caller pulls events; an InvokeModel body (one
JSON document) is read at once and given back unread.
"""

from __future__ import annotations

import io
import threading
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from ..providers import endpoint
from .sink import NOTE_MALFORMED, KnownBodySink, Sink

SERVICE = "bedrock-runtime"
_attempt = threading.local()  # the sink of the attempt in flight on this thread


class RawTee:
    """Stands for the raw HTTP response a botocore event stream reads (``stream()``)."""

    def __init__(self, inner: Any, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        feed = self._sink.feed
        try:
            for chunk in self._inner.stream(*args, **kwargs):
                feed(chunk)
                yield chunk
        finally:  # ended, or the event stream was closed or dropped
            self._sink.finish()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._sink.finish()

    def __getattr__(self, name: str) -> Any:
        if name in ("_inner", "_sink"):  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._inner, name)


def _installed() -> bool:
    from . import installed  # sessions made while installed keep these handlers

    return installed()


def before_send(request: Any, **kwargs: Any) -> None:
    """Before an attempt is sent: is it a Bedrock call? (May raise BudgetExceeded.)"""
    _release()
    if not _installed():
        return
    path = urlsplit(request.url).path
    found = endpoint(request.method, path)
    if found is None:
        return
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    _attempt.sink = KnownBodySink(
        found, request.method, path, body if type(body) is bytes else None
    )


def before_parse(response_dict: dict[str, Any], **kwargs: Any) -> None:
    """The attempt's reply, before botocore parses it: counted now, or teed as it is read."""
    sink: Sink | None = getattr(_attempt, "sink", None)
    if sink is None:
        return
    _attempt.sink = None
    try:
        if not 200 <= response_dict["status_code"] < 300:
            return sink.release()
        body = response_dict["body"]
        if isinstance(body, bytes):
            return sink.body(body)
        headers = response_dict["headers"]
        if sink.endpoint.streams not in headers.get("content-type", ""):
            data = body.read()  # InvokeModel: one JSON document, given back unread
            response_dict["body"] = type(body)(io.BytesIO(data), len(data))
            return sink.body(data)
        if sink.start_stream(headers):
            response_dict["body"] = RawTee(body, sink)
        else:
            sink.release()
    except Exception:
        sink.uncounted(NOTE_MALFORMED)


def _release(**kwargs: Any) -> None:
    """An attempt ended without a reply (a transport error): its reservation goes."""
    sink: Sink | None = getattr(_attempt, "sink", None)
    if sink is not None:
        _attempt.sink = None
        sink.release()


HANDLERS = (
    (f"before-send.{SERVICE}", before_send),
    (f"before-parse.{SERVICE}", before_parse),
    (f"needs-retry.{SERVICE}", _release),
)


def patch(module: Any) -> list[Callable[[], None]]:
    """Add the handlers to ``botocore.handlers.BUILTIN_HANDLERS``; returns their undo."""
    handlers: list[Any] = module.BUILTIN_HANDLERS
    if any(spec in handlers for spec in HANDLERS):
        return []
    handlers.extend(HANDLERS)

    def undo() -> None:
        for spec in HANDLERS:
            if spec in handlers:
                handlers.remove(spec)

    return [undo]
