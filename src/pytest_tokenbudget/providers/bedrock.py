"""AWS Bedrock runtime: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream,
whichever client sends them (boto3 through ``capture.botocore``, or an HTTP client).

Converse ``usage``: ``inputTokens`` leaves out ``cacheReadInputTokens`` and
``cacheWriteInputTokens``, so they are added back (``totalTokens`` is the sum of all four).
InvokeModel replies are the model's own body: Anthropic's Messages (read as Anthropic's), or
Converse-like ``usage`` (Amazon Nova); a stream's last chunk of any model carries
``amazon-bedrock-invocationMetrics``. Replies name no model: it is the request path's
(``/model/us.anthropic.claude-...:0/converse``), which the price table resolves.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import unquote

from ..usage import Extracted, Part, check_count, make_usage
from . import anthropic
from .base import (
    Declared,
    Endpoint,
    Provider,
    Route,
    Shape,
    count,
    field,
    json_object,
    output_cap,
    usage_expected,
    usage_object,
)
from .eventstream import Messages

STREAMS = "application/vnd.amazon.eventstream"
_MODEL_IN_PATH = re.compile(r"/model/([^/]+)/")
_METRICS = "amazon-bedrock-invocationMetrics"


def converse_parts(usage: object, model: str | None = None) -> tuple[Part, ...]:
    """Converse usage (and Nova's, which names its cache counts ``...TokenCount``)."""
    names = ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens", "outputTokens")
    base, read_, write, output = (
        check_count(name, count(usage, name) or count(usage, name.replace("Tokens", "TokenCount")))
        for name in names
    )
    figures = make_usage(
        input_tokens=base + read_ + write,
        output_tokens=output,
        cache_read_tokens=read_,
        cache_write_tokens=write,
    )
    return (Part(figures, model),)


def read_converse(obj: object) -> Extracted | None:
    """A Converse reply (or boto3's parsed dict of one); None without ``usage``."""
    usage = usage_object(obj)
    if usage is None or field(usage, "inputTokens") is None:
        return None
    return Extracted(converse_parts(usage))


def read_converse_body(obj: object) -> Extracted | None:
    found = read_converse(obj)
    if found is None:
        raise ValueError("Bedrock Converse reply without usage")
    return found


def read_invoke(obj: object) -> Extracted | None:
    """An InvokeModel body: Anthropic's Messages, or Converse-like usage (Nova)."""
    found = anthropic.read(obj)
    if found is None:
        found = read_converse(obj)
    if found is None:
        raise ValueError("Bedrock InvokeModel reply of a model whose usage is not known")
    return found


class ConverseStream:
    """ConverseStream: the ``metadata`` event carries the usage."""

    __slots__ = ("_found", "_messages")

    def __init__(self) -> None:
        self._messages = Messages(self._message)
        self._found: Extracted | None = None

    def _message(self, kind: str, payload: bytes) -> None:
        if kind == "metadata":
            self._found = read_converse(json.loads(payload))

    def feed(self, chunk: bytes) -> None:
        self._messages.feed(chunk)

    def result(self, ended: bool = True) -> Extracted | None:
        return self._found


class InvokeStream:
    """InvokeModelWithResponseStream: ``chunk`` events wrap the model's own events (base64
    JSON). Anthropic's are read as an Anthropic stream; any model's last chunk also carries
    ``amazon-bedrock-invocationMetrics``, used when the model's own events had no usage."""

    __slots__ = ("_anthropic", "_messages", "_metrics")

    def __init__(self) -> None:
        self._messages = Messages(self._message)
        self._anthropic = anthropic.Stream()
        self._metrics: Any = None

    def _message(self, kind: str, payload: bytes) -> None:
        if kind != "chunk":
            return
        event = json.loads(base64.b64decode(json.loads(payload)["bytes"]))
        if not isinstance(event, dict):
            return
        self._anthropic.event(event)
        metrics = event.get(_METRICS)
        if metrics is not None:
            self._metrics = metrics

    def feed(self, chunk: bytes) -> None:
        self._messages.feed(chunk)

    def result(self, ended: bool = True) -> Extracted | None:
        found = self._anthropic.result()
        if found is None and self._metrics is not None:
            found = Extracted(converse_parts(self._metrics))
        return found


def request_model(path: str, body: bytes) -> str | None:
    """The model id of the request path (URL-quoted there: ``...-v1%3A0``)."""
    match = _MODEL_IN_PATH.search(path)
    return unquote(match.group(1)) if match else None


def declared(path: str, body: bytes) -> Declared | None:
    """The model and its output cap: Converse's ``inferenceConfig.maxTokens``, Anthropic's
    ``max_tokens`` or Nova's ``inferenceConfig.max_new_tokens``; input not counted locally."""
    data = json_object(body)
    if data is None:
        return None
    config = data.get("inferenceConfig")
    cap = output_cap(data)
    if not cap and isinstance(config, dict):
        cap = output_cap({"max_tokens": config.get("maxTokens") or config.get("max_new_tokens")})
    return Declared(request_model(path, body), cap)


def _endpoint(name: str, read: Any, stream: Any) -> Endpoint:
    return Endpoint(
        name,
        read,
        stream,
        streams=STREAMS,
        missing_usage=usage_expected,
        request_model=request_model,
        declared=declared,
    )


CONVERSE = _endpoint("bedrock.converse", read_converse_body, ConverseStream)
INVOKE = _endpoint("bedrock.invoke", read_invoke, InvokeStream)


def _claims(obj: object) -> bool:
    return field(usage_object(obj), "inputTokens") is not None


PROVIDER = Provider(
    "bedrock",
    routes=(
        Route("POST", ("/converse", "/converse-stream"), CONVERSE, within="/model/"),
        Route("POST", ("/invoke", "/invoke-with-response-stream"), INVOKE, within="/model/"),
    ),
    shapes=(Shape(_claims, read_converse),),
)
