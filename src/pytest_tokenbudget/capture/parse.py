"""Provider usage parsing (pure: no httpx, no SDK imports).

Everything here reads the wire shapes (or the SDKs' pydantic models of them, by attribute) and
normalises them to PRODUCT.md's meaning: ``input_tokens`` is all input, cache reads and writes
included. One counted response is one call: it is given to the first part (the response's own
model); the other parts of a multi-model response carry ``calls=0``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping

from ..usage import Extracted, Part, Usage, check_count, make_usage

#: A Responses object in one of these states has no final usage yet (background mode).
_NOT_FINAL = frozenset({"queued", "in_progress"})
#: Anthropic usage keys that OpenAI never sends: their presence says "Anthropic".
_ANTHROPIC_KEYS = (
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "iterations",
    "server_tool_use",
)
#: An SSE data line that carries a usage object (not ``"usage": null``); others are skipped
#: without decoding, which keeps streaming cheap.
_DATA_WITH_USAGE = re.compile(rb'^data: ?(.*"usage"\s*:\s*\{.*)$', re.MULTILINE)
#: Whether a chunk has such a line at all: ten times cheaper than the line pattern on the
#: chunks that have none (a chat stream with include_usage says ``"usage": null`` in each).
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')


def field(obj: object, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for SDK models; None when absent."""
    if isinstance(obj, dict):  # the wire: checked first, a Mapping check costs ~0.3 µs
        return obj.get(name)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(obj: object, name: str) -> Any:
    value = field(obj, name)
    return 0 if value is None else value


def extract(obj: object) -> Extracted | None:
    """What one response billed, or None when it carries no (final) usage.

    Accepts SDK response objects and dicts: OpenAI Chat Completions (and chunks), Completions,
    Embeddings, Responses (and their stream events), Anthropic Messages. Raises ValueError on
    figures that are not non-negative integers.
    """
    usage = field(obj, "usage")
    if usage is None:
        inner = field(obj, "response")  # a Responses stream event wraps the response
        return extract(inner) if inner is not None and not isinstance(obj, str) else None
    if isinstance(usage, (str, int, float, list)):
        return None
    model = field(obj, "model")
    model = model if isinstance(model, str) else None
    rid = field(obj, "id")
    rid = rid if isinstance(rid, str) else None
    if field(usage, "prompt_tokens") is not None:
        return Extracted((Part(_openai(usage, "prompt", "completion"), model),), rid)
    if field(obj, "type") == "message" or any(
        field(usage, key) is not None for key in _ANTHROPIC_KEYS
    ):
        return Extracted(anthropic_parts(usage, model), rid)
    if field(usage, "input_tokens") is None:
        return None
    if field(obj, "status") in _NOT_FINAL:
        return None
    return Extracted((Part(_openai(usage, "input", "output"), model),), rid)


def _openai(usage: object, inp: str, out: str) -> Usage:
    """OpenAI: the input figure already includes cached (and cache-write) tokens."""
    in_details = field(usage, f"{inp}_tokens_details")
    out_details = field(usage, f"{out}_tokens_details")
    return make_usage(
        input_tokens=_int(usage, f"{inp}_tokens"),
        output_tokens=_int(usage, f"{out}_tokens"),
        cache_read_tokens=_int(in_details, "cached_tokens"),
        cache_write_tokens=_int(in_details, "cache_write_tokens"),
        reasoning_tokens=_int(out_details, "reasoning_tokens"),
    )


def anthropic_parts(usage: object, model: str | None) -> tuple[Part, ...]:
    """Anthropic usage as parts: one per model named by ``iterations``, else one.

    With ``iterations`` the top-level figures cover only the executor's message iterations,
    so the sum of the iterations is what was billed.
    """
    iterations = field(usage, "iterations")
    if not iterations:
        return (_anthropic_part(usage, model, calls=1),)
    by_model: dict[str | None, Part] = {model: _anthropic_part({}, model, calls=1)}
    thinking_seen = False
    for item in iterations:
        name = field(item, "model")
        name = name if isinstance(name, str) else model
        thinking_seen = (
            thinking_seen
            or field(field(item, "output_tokens_details"), "thinking_tokens") is not None
        )
        part = _anthropic_part(item, name, calls=0)
        if name in by_model:
            part = _merge(by_model[name], part)
        by_model[name] = part
    main = by_model[model]
    thinking = _int(field(usage, "output_tokens_details"), "thinking_tokens")
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


def _anthropic_part(usage: object, model: str | None, *, calls: int) -> Part:
    """Anthropic ``input_tokens`` excludes cache reads and writes: add them back."""
    read = _int(usage, "cache_read_input_tokens")
    creation = field(usage, "cache_creation")
    write = field(usage, "cache_creation_input_tokens")
    if write is None:
        write = _int(creation, "ephemeral_5m_input_tokens") + _int(
            creation, "ephemeral_1h_input_tokens"
        )
    base = check_count("input_tokens", _int(usage, "input_tokens"))
    read = check_count("cache_read_input_tokens", read)
    write = check_count("cache_creation_input_tokens", write)
    usage_ = make_usage(
        input_tokens=base + read + write,
        output_tokens=_int(usage, "output_tokens"),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=_int(field(usage, "output_tokens_details"), "thinking_tokens"),
        calls=calls,
    )
    return Part(usage_, model, _int(creation, "ephemeral_1h_input_tokens"))


class StreamParser:
    """Incremental SSE usage reader for every supported stream shape.

    OpenAI chat/completions chunks (usage on the last chunk with ``include_usage``), Responses
    (``response.completed`` and other final events) and Anthropic (``message_start``, then each
    non-null field of a cumulative ``message_delta`` usage replaces the one before).
    Feed raw decoded bytes in any chunking; ``result()`` at the end.
    """

    __slots__ = ("_anthropic", "_buf", "_found", "_meta")

    def __init__(self) -> None:
        self._buf = b""
        self._found: Extracted | None = None
        self._anthropic: dict[str, Any] | None = None
        self._meta: tuple[str | None, str | None] = (None, None)

    def feed(self, chunk: bytes) -> None:
        buf = self._buf + chunk if self._buf else chunk
        cut = buf.rfind(b"\n") + 1
        self._buf = buf[cut:]
        if cut and _USAGE_OBJECT.search(buf, 0, cut) is not None:
            for match in _DATA_WITH_USAGE.finditer(buf, 0, cut):
                self._event(json.loads(match.group(1)))

    def _event(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._anthropic = dict(message.get("usage") or {})
            self._meta = (message.get("model"), message.get("id"))
        elif kind == "message_delta":
            if self._anthropic is None:
                self._anthropic = {}
            usage = event.get("usage") or {}
            self._anthropic.update((k, v) for k, v in usage.items() if v is not None)
        elif self._found is None:
            self._found = extract(event)

    def result(self) -> Extracted | None:
        """The stream's usage so far (final once the stream ended); None when it had none."""
        if self._buf:
            self.feed(b"\n")
        if self._anthropic is not None:
            model, rid = self._meta
            return Extracted(anthropic_parts(self._anthropic, model), rid)
        return self._found


def parse_sse(chunks: Iterable[bytes]) -> Extracted | None:
    """Usage of a whole SSE body (for cassettes and tests)."""
    parser = StreamParser()
    for chunk in chunks:
        parser.feed(chunk)
    return parser.result()
