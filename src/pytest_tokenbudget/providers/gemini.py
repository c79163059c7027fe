"""Google Gemini (``google-genai``, the Gemini API and Vertex AI): ``:generateContent`` and
``:streamGenerateContent``.

``usageMetadata``: ``promptTokenCount`` includes ``cachedContentTokenCount``;
``candidatesTokenCount`` leaves out ``thoughtsTokenCount``, which is billed as output;
``toolUsePromptTokenCount`` (what tools such as search fed back) is billed as input. So input is
prompt + tool-use prompt, output is candidates + thoughts (thoughts are its reasoning), and
their sum is ``totalTokenCount``. Each streamed chunk carries the usage so far: the chunk that
ends the reply (a ``finishReason``, or a blocked prompt) carries the final figures.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from ..usage import Extracted, Part, check_count, make_usage
from .base import Declared, Endpoint, Provider, Route, Shape, field, json_object, usage_expected
from .lines import LastLine

#: The model a request path names (``.../models/gemini-2.5-flash:generateContent``).
_MODEL_IN_PATH = re.compile(r"/models/([^/:]+):")
#: The wire says camelCase; the SDK's objects (``record(response)``) say snake_case.
_FIELDS = {
    "promptTokenCount": "prompt_token_count",
    "candidatesTokenCount": "candidates_token_count",
    "cachedContentTokenCount": "cached_content_token_count",
    "thoughtsTokenCount": "thoughts_token_count",
    "toolUsePromptTokenCount": "tool_use_prompt_token_count",
    "usageMetadata": "usage_metadata",
    "modelVersion": "model_version",
    "responseId": "response_id",
    "finishReason": "finish_reason",
    "promptFeedback": "prompt_feedback",
    "blockReason": "block_reason",
}


def _get(obj: object, name: str) -> Any:
    value = field(obj, name)
    return field(obj, _FIELDS[name]) if value is None else value


def _count(obj: object, name: str) -> Any:
    value = _get(obj, name)
    return 0 if value is None else value


def read(obj: object) -> Extracted | None:
    """What one reply (or the last chunk of a stream) billed; None when it has no usage."""
    if isinstance(obj, list):  # a stream read whole without SSE: a JSON array of chunks
        return read(obj[-1]) if obj else None
    meta = _get(obj, "usageMetadata")
    if meta is None:
        return None
    prompt, tools, candidates, cached, thoughts = (
        check_count(name, _count(meta, name))
        for name in (
            "promptTokenCount",
            "toolUsePromptTokenCount",
            "candidatesTokenCount",
            "cachedContentTokenCount",
            "thoughtsTokenCount",
        )
    )
    usage = make_usage(
        input_tokens=prompt + tools,
        output_tokens=candidates + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
    )
    model = _get(obj, "modelVersion")
    rid = _get(obj, "responseId")
    return Extracted(
        (Part(usage, model if isinstance(model, str) else None),),
        rid if isinstance(rid, str) else None,
    )


def read_body(obj: object) -> Extracted | None:
    """A whole reply: one without ``usageMetadata`` cannot be counted (ValueError)."""
    found = read(obj)
    if found is None:
        raise ValueError("Gemini reply without usageMetadata")
    return found


def final(obj: object) -> bool:
    """Whether a chunk ends its reply: a candidate finished, or the prompt was blocked."""
    feedback = _get(obj, "promptFeedback")
    if feedback is not None and _get(feedback, "blockReason") is not None:
        return True
    candidates = field(obj, "candidates")
    return isinstance(candidates, list) and any(
        _get(c, "finishReason") is not None for c in candidates
    )


class Stream(LastLine):
    """SSE chunks: the last one with ``usageMetadata`` counts if it ended the reply; a stream
    closed before that chunk arrived has no final usage (None)."""

    __slots__ = ()
    PATTERN = re.compile(rb'^.*"usageMetadata"\s*:\s*\{.*$', re.MULTILINE)

    def read(self, event: Any) -> Extracted | None:
        return read(event) if final(event) else None


def request_model(path: str, body: bytes) -> str | None:
    """Gemini names the model in the path, never in the body."""
    match = _MODEL_IN_PATH.search(path)
    return unquote(match.group(1)) if match else None


def declared(path: str, body: bytes) -> Declared | None:
    """The model and ``generationConfig.maxOutputTokens``; Gemini's input is not counted
    locally (no local tokenizer)."""
    data = json_object(body)
    if data is None:
        return None
    config = data.get("generationConfig") or data.get("generation_config")
    cap = field(config, "maxOutputTokens") if isinstance(config, dict) else None
    return Declared(request_model(path, body), cap if type(cap) is int and cap > 0 else 0)


GENERATE = Endpoint(
    "gemini.generate",
    read_body,
    Stream,
    missing_usage=usage_expected,
    request_model=request_model,
    declared=declared,
)


def _claims(obj: object) -> bool:
    return not isinstance(obj, list) and _get(obj, "usageMetadata") is not None


PROVIDER = Provider(
    "gemini",
    routes=(Route("POST", (":generateContent", ":streamGenerateContent"), GENERATE),),
    shapes=(Shape(_claims, read),),
)
