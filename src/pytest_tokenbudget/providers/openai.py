"""OpenAI: Chat Completions, Completions, Embeddings and Responses, and every service that
speaks them (Azure OpenAI, OpenRouter, Groq, vLLM, LiteLLM proxy...).

The input figure already includes cached (and cache-write) tokens. Responses in background mode
answer with ``usage: null`` until they are done; their final usage may arrive on a
``GET /responses/{id}`` poll, and ``POST /responses/compact`` is a billed pass of its own.
"""

from __future__ import annotations

import re
from typing import Any

from ..usage import Extracted, Part, Usage, make_usage, usd_to_pico
from .base import (
    NOTE_CLOSED_EARLY,
    Declared,
    Endpoint,
    Provider,
    Route,
    Shape,
    closed_early,
    count,
    field,
    json_object,
    model_in_body,
    output_cap,
    usage_object,
)
from .sse import UsageEvents

NOTE_NO_STREAM_USAGE = 'chat stream without usage: pass stream_options={"include_usage": True}'

#: A Responses object in one of these states has no final usage yet (background mode).
_NOT_FINAL = frozenset({"queued", "in_progress"})
_INCLUDE_USAGE = re.compile(rb'"include_usage"\s*:\s*true')
_BACKGROUND = re.compile(rb'"background"\s*:\s*true')


def read(obj: object) -> Extracted | None:
    """What one reply (or stream event, or chunk) billed; None without a final usage."""
    usage = field(obj, "usage")
    if usage is None:
        usage = field(field(obj, "x_groq"), "usage")  # Groq's stream chunks put it there
    if usage is None:
        inner = unwrap(obj)
        return read(inner) if inner is not None else None
    if isinstance(usage, (str, int, float, list)):
        return None
    model = field(obj, "model")
    model = model if isinstance(model, str) else None
    rid = field(obj, "id")
    rid = rid if isinstance(rid, str) else None
    if field(usage, "prompt_tokens") is not None:
        figures = _usage(usage, "prompt", "completion")
    elif field(usage, "input_tokens") is None or field(obj, "status") in _NOT_FINAL:
        return None
    else:
        figures = _usage(usage, "input", "output")
    fingerprint = field(obj, "system_fingerprint")
    fingerprint = fingerprint if isinstance(fingerprint, str) and fingerprint else None
    return Extracted((Part(figures, model, billed_pico=billed(usage)),), rid, fingerprint)


def read_body(obj: object) -> Extracted | None:
    """A whole chat or completions reply: one with choices but no usage cannot be counted."""
    found = read(obj)
    if found is None and field(obj, "choices") is not None:
        raise ValueError("chat completion without usage")
    return found


def billed(usage: object) -> int | None:
    """What OpenRouter says it billed (``usage.cost``, USD; with your own provider key, the
    provider's ``cost_details.upstream_inference_cost`` on top), in picodollars."""
    cost = field(usage, "cost")
    if cost is None:
        return None
    pico = _dollars("usage.cost", cost)
    if field(usage, "is_byok") is True:
        upstream = field(field(usage, "cost_details"), "upstream_inference_cost")
        if upstream is not None:
            pico += _dollars("usage.cost_details.upstream_inference_cost", upstream)
    return pico


def _dollars(name: str, value: object) -> int:
    """A billed amount in picodollars; anything but a number is named by its type only (a
    reply's text must not reach the notes)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of dollars, got {type(value).__name__}")
    return usd_to_pico(value, name)


def unwrap(obj: object) -> Any:
    """The response a Responses stream event (``response.completed`` ...) carries."""
    if isinstance(obj, str) or field(obj, "usage") is not None:
        return None
    return field(obj, "response")


def _usage(usage: object, inp: str, out: str) -> Usage:
    in_details = field(usage, f"{inp}_tokens_details")
    out_details = field(usage, f"{out}_tokens_details")
    return make_usage(
        input_tokens=count(usage, f"{inp}_tokens"),
        output_tokens=count(usage, f"{out}_tokens"),
        # DeepSeek says prompt_cache_hit_tokens where OpenAI says cached_tokens
        cache_read_tokens=count(in_details, "cached_tokens")
        or count(usage, "prompt_cache_hit_tokens"),
        cache_write_tokens=count(in_details, "cache_write_tokens"),
        reasoning_tokens=count(out_details, "reasoning_tokens"),
    )


class Stream(UsageEvents):
    """Chat and completions chunks (usage on the last one, with ``include_usage``) and
    Responses events (``response.completed`` and the other final ones): the first usage wins."""

    __slots__ = ("_found",)

    def __init__(self) -> None:
        super().__init__()
        self._found: Extracted | None = None

    def event(self, event: dict[str, Any]) -> None:
        if self._found is None:
            self._found = read(event)

    def found(self) -> Extracted | None:
        return self._found


def _no_stream_usage(request_body: bytes | None, ended: bool) -> str:
    """A chat stream carries usage only when asked to: say which case this one was."""
    asked = request_body is not None and _INCLUDE_USAGE.search(request_body) is not None
    return NOTE_CLOSED_EARLY if asked else NOTE_NO_STREAM_USAGE


def _response_closed_early(request_body: bytes | None, ended: bool) -> str | None:
    """A Responses stream closed before ``response.completed``; in background mode the
    response runs on and a poll may count it."""
    if request_body is not None and _BACKGROUND.search(request_body) is not None:
        return None
    return closed_early(request_body, ended)


#: Tokens each chat message adds to its texts, and the reply's priming (OpenAI's cookbook).
_PER_MESSAGE = 3
_PRIMING = 3


def declared(path: str, body: bytes) -> Declared | None:
    """Model, output cap and input texts of a request, for spend protection's estimate."""
    data = json_object(body)
    if data is None:
        return None
    texts: list[str] = []
    overhead = _texts(data.get("instructions"), texts)
    for key in ("prompt", "input"):  # completions; responses and embeddings
        overhead += _texts(data.get(key), texts)
    messages = data.get("messages")
    if isinstance(messages, list):
        overhead += _PRIMING + _PER_MESSAGE * len(messages)
        for message in messages:
            if isinstance(message, dict):
                for key in ("role", "name", "content"):
                    overhead += _texts(message.get(key), texts)
    model = data.get("model")
    return Declared(
        model if isinstance(model, str) else None, output_cap(data), tuple(texts), overhead
    )


def _texts(value: object, into: list[str]) -> int:
    """Collect the texts in ``value`` (a text, content parts, input items, token ids); returns
    the tokens it holds beyond its texts (token ids, per-item framing)."""
    if isinstance(value, str):
        into.append(value)
        return 0
    if isinstance(value, dict):
        extra = _PER_MESSAGE if "role" in value else 0
        for key in ("role", "text", "content"):
            extra += _texts(value.get(key), into)
        return extra
    if isinstance(value, list):
        return sum(1 if type(item) is int else _texts(item, into) for item in value)
    return 0


_DEPLOYMENT = re.compile(r"/deployments/([^/]+)/")


def request_model(path: str, body: bytes) -> str | None:
    """The body's ``model``; else an Azure OpenAI deployment's name, from the path (priced
    through ``[tool.tokenbudget.aliases]``)."""
    model = model_in_body(path, body)
    if model is None:
        match = _DEPLOYMENT.search(path)
        model = match.group(1) if match else None
    return model


#: Chat Completions and (legacy) Completions: their streams carry usage only when asked to.
CHAT = Endpoint(
    "openai.chat",
    read_body,
    Stream,
    missing_usage=_no_stream_usage,
    request_model=request_model,
    declared=declared,
)
#: Responses (its compact pass too) and Embeddings: a reply without usage (a background
#: response still running) is no call; a stream closed before its usage is one.
OTHER = Endpoint(
    "openai",
    read,
    Stream,
    missing_usage=_response_closed_early,
    request_model=request_model,
    declared=declared,
)
#: A background response's polls: the POST was the call, a poll without usage is none.
POLL = Endpoint("openai.poll", read, Stream, request_model=request_model, declared=declared)


def _claims_chat(obj: object) -> bool:
    return field(usage_object(obj), "prompt_tokens") is not None


def _claims_responses(obj: object) -> bool:
    """``input_tokens`` is Anthropic's name too: this shape is tried after theirs."""
    return field(usage_object(obj), "input_tokens") is not None


PROVIDER = Provider(
    "openai",
    routes=(
        Route("POST", ("/chat/completions", "/completions"), CHAT),
        Route("POST", ("/responses", "/responses/compact", "/embeddings"), OTHER),
        Route("GET", re.compile(r"/responses/[^/]+$"), POLL),
    ),
    shapes=(Shape(_claims_chat, read), Shape(_claims_responses, read, shared=True)),
    unwrap=unwrap,
)
