"""Anthropic Messages.

Anthropic's ``input_tokens`` excludes cache reads and writes, so they are added back; 1-hour
cache writes are kept apart for their own price. With ``usage.iterations`` (compaction, advisor
tool) the top-level figures cover only the executor's message iterations, so the sum of the
iterations is what was billed, each on its own model. One counted response is one call: it is
given to the first part (the response's own model); the other parts carry ``calls=0``.
"""

from __future__ import annotations

from typing import Any

from ..usage import Extracted, Part, Usage, check_count, make_usage
from .base import (
    Endpoint,
    Provider,
    Route,
    Shape,
    closed_early,
    count,
    field,
    is_object,
    usage_object,
)
from .sse import UsageEvents

#: Usage keys that OpenAI never sends: their presence says "Anthropic".
_OWN_KEYS = (
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "iterations",
    "server_tool_use",
)


def read(obj: object) -> Extracted | None:
    """What one Message billed; None when it carries no usage (an error reply) or a usage
    object with nothing of Anthropic's in it (``{}``)."""
    usage = usage_object(obj)
    if usage is None or (field(usage, "input_tokens") is None and not _own(obj, usage)):
        return None
    model = field(obj, "model")
    rid = field(obj, "id")
    return Extracted(
        parts(usage, model if isinstance(model, str) else None),
        rid if isinstance(rid, str) else None,
    )


def parts(usage: object, model: str | None) -> tuple[Part, ...]:
    """Anthropic usage as parts: one per model named by ``iterations``, else one.

    ``iterations`` that are not a list of objects make the reply unreadable (ValueError):
    the top-level figures alone would miss what they billed."""
    iterations = field(usage, "iterations")
    if iterations is None or (isinstance(iterations, list) and not iterations):
        return (_part(usage, model, calls=1),)
    if not isinstance(iterations, list):
        raise ValueError(
            f"usage.iterations must be a list of objects, got {type(iterations).__name__}"
        )
    for number, item in enumerate(iterations):
        if not is_object(item):
            raise ValueError(
                f"usage.iterations[{number}] must be an object, got {type(item).__name__}"
            )
    by_model: dict[str | None, Part] = {model: _part({}, model, calls=1)}
    thinking_seen = False
    for item in iterations:
        name = field(item, "model")
        name = name if isinstance(name, str) else model
        thinking_seen = (
            thinking_seen
            or field(field(item, "output_tokens_details"), "thinking_tokens") is not None
        )
        part = _part(item, name, calls=0)
        if name in by_model:
            part = _merge(by_model[name], part)
        by_model[name] = part
    main = by_model[model]
    thinking = count(field(usage, "output_tokens_details"), "thinking_tokens")
    if (
        not thinking_seen
        and thinking
        and thinking <= main.usage.output_tokens - main.usage.reasoning_tokens
    ):
        main = Part(
            main.usage + Usage(reasoning_tokens=thinking), model, main.cache_write_1h_tokens
        )
        by_model[model] = main
    return tuple(by_model.values())


def _merge(a: Part, b: Part) -> Part:
    return Part(a.usage + b.usage, a.model, a.cache_write_1h_tokens + b.cache_write_1h_tokens)


def _part(usage: object, model: str | None, *, calls: int) -> Part:
    read_ = count(usage, "cache_read_input_tokens")
    creation = field(usage, "cache_creation")
    write = field(usage, "cache_creation_input_tokens")
    if write is None:
        write = count(creation, "ephemeral_5m_input_tokens") + count(
            creation, "ephemeral_1h_input_tokens"
        )
    base = count(usage, "input_tokens")
    write = check_count("cache_creation_input_tokens", write)
    figures = make_usage(
        input_tokens=base + read_ + write,
        output_tokens=count(usage, "output_tokens"),
        cache_read_tokens=read_,
        cache_write_tokens=write,
        reasoning_tokens=count(field(usage, "output_tokens_details"), "thinking_tokens"),
        calls=calls,
    )
    return Part(figures, model, count(creation, "ephemeral_1h_input_tokens"))


class Stream(UsageEvents):
    """``message_start`` gives the usage; each field present and not null in a later
    ``message_delta`` usage replaces it (they are cumulative: with server tools the final
    ``input_tokens`` is larger than the start's)."""

    __slots__ = ("_meta", "_usage")

    def __init__(self) -> None:
        super().__init__()
        self._usage: dict[str, Any] | None = None
        self._meta: tuple[Any, Any] = (None, None)

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._usage = dict(message.get("usage") or {})
            self._meta = (message.get("model"), message.get("id"))
        elif kind == "message_delta":
            if self._usage is None:
                self._usage = {}
            usage = event.get("usage") or {}
            self._usage.update((k, v) for k, v in usage.items() if v is not None)

    def found(self) -> Extracted | None:
        if self._usage is None:
            return None
        model, rid = self._meta
        return Extracted(parts(self._usage, model), rid)


MESSAGES = Endpoint("anthropic.messages", read, Stream, missing_usage=closed_early)


def _own(obj: object, usage: object) -> bool:
    return field(obj, "type") == "message" or any(
        field(usage, key) is not None for key in _OWN_KEYS
    )


def _claims(obj: object) -> bool:
    usage = usage_object(obj)
    return usage is not None and _own(obj, usage)


PROVIDER = Provider(
    "anthropic",
    routes=(Route("POST", "/messages", MESSAGES),),
    shapes=(Shape(_claims, read),),
)
