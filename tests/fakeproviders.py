"""The fake server's other providers: Gemini, Ollama's native API, Bedrock runtime (JSON and AWS
event streams) and a made-up provider ("acme", read by a conftest's parser hook only).

Each renders a :class:`fakellm.Reply` (PRODUCT.md's meaning: ``input_tokens`` includes cache
reads and writes, and Gemini's tool-use prompt; ``output_tokens`` includes reasoning) in the
provider's own wire shape, and fills in the ``Served`` entry the fake logs. ``serve`` answers
None for a path that is not one of theirs.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Iterator
from urllib.parse import unquote

from fakellm import (
    OTHERS,
    TEXT,
    Reply,
    Served,
    figures,
    message_body,
    message_events,
    readable,
)

#: What a provider answers: the content type and the body, whole or as chunks.
Answer = tuple[str, "bytes | list[bytes]"]

GEMINI_ACTIONS = (":generateContent", ":streamGenerateContent")
BEDROCK_ACTIONS = ("/converse", "/converse-stream", "/invoke", "/invoke-with-response-stream")
EVENTSTREAM = "application/vnd.amazon.eventstream"
ACME_PATH = "/acme/v2/think"


def serve(
    fake: Any, method: str, path: str, query: str, body: dict[str, Any], reply: Reply, s: Served
) -> Answer | None:
    if path.endswith(GEMINI_ACTIONS):
        return gemini(fake, path, query, reply, s)
    if path.endswith(("/api/chat", "/api/generate", "/api/embed")):
        return ollama(fake, path, body, reply, s)
    if "/model/" in path and path.endswith(BEDROCK_ACTIONS):
        return bedrock(fake, path, reply, s)
    if path == ACME_PATH:
        s.model = reply.model or "acme-large"
        s.response_id = fake._new_id("acme")
        s.usage, s.counted = figures(reply), True
        meter = {"in": reply.input_tokens, "out": reply.output_tokens}
        doc = {"id": s.response_id, "engine": s.model, "text": TEXT, "meter": meter}
        return "application/json", json.dumps(doc).encode()
    return None


def billed(s: Served, r: Reply) -> bool:
    """Log the reply as a call: counted, or uncounted when its usage is left out or cannot be
    read; whether the usage is rendered."""
    if r.without_usage or not readable(figures(r), None):
        s.counted, s.uncounted, s.usage = False, True, None
    else:
        s.counted, s.usage = True, figures(r)
    return not r.without_usage


# -- Gemini ------------------------------------------------------------------------------------
def gemini_usage(r: Reply, *, final: bool = True) -> dict[str, int]:
    prompt = r.input_tokens - r.tool_use_tokens
    if not final:  # what the first chunks say: the prompt so far
        return {"promptTokenCount": prompt, "totalTokenCount": prompt}
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": r.output_tokens - r.reasoning_tokens,
        "totalTokenCount": r.input_tokens + r.output_tokens,
    }
    for key, value in (
        ("cachedContentTokenCount", r.cache_read_tokens),
        ("thoughtsTokenCount", r.reasoning_tokens),
        ("toolUsePromptTokenCount", r.tool_use_tokens),
    ):
        if value:
            usage[key] = value
    return usage


def gemini(fake: Any, path: str, query: str, r: Reply, s: Served) -> Answer:
    model = r.model or unquote(path.rsplit("/models/", 1)[1].split(":")[0])
    rid = fake._new_id("gem")
    s.model, s.response_id = model, rid
    s.stream = path.endswith(":streamGenerateContent")
    usage = billed(s, r)

    def chunk(text: str, final: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if final:
            candidate["finishReason"] = "STOP"
        out = {"candidates": [candidate], "modelVersion": model, "responseId": rid}
        if usage:
            out["usageMetadata"] = gemini_usage(r, final=final)
        return out

    if not s.stream:
        return "application/json", json.dumps(chunk(TEXT, True)).encode()
    chunks = [chunk(TEXT[:9], False), chunk(TEXT[9:], True)]
    if "alt=sse" not in query:  # without SSE Gemini streams one JSON array
        return "application/json", json.dumps(chunks).encode()
    return "text/event-stream", [f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks]


# -- Ollama ------------------------------------------------------------------------------------
def ollama(fake: Any, path: str, body: dict[str, Any], r: Reply, s: Served) -> Answer:
    model = r.model or body.get("model") or "llama3.2"
    s.model = model
    base: dict[str, Any] = {"model": model, "created_at": "2026-11-30T00:00:00Z"}
    if path.endswith("/api/embed"):
        s.usage, s.counted = (
            {**figures(Reply(output_tokens=0)), "input_tokens": r.input_tokens},
            True,
        )
        doc = {**base, "embeddings": [[0.1, 0.2]], "prompt_eval_count": r.input_tokens}
        return "application/json", json.dumps(doc).encode()
    chat = path.endswith("/api/chat")
    if not body.get("messages" if chat else "prompt"):  # a model load: generates nothing
        doc = {**base, "done": True, "done_reason": "load"}
        if chat:
            doc["message"] = {"role": "assistant", "content": ""}
        else:
            doc["response"] = ""
        return "application/json", json.dumps(doc).encode()
    usage = billed(s, r)
    s.stream = body.get("stream", True)  # Ollama streams unless told not to

    def piece(text: str) -> dict[str, Any]:
        out = {"message": {"role": "assistant", "content": text}} if chat else {"response": text}
        return {**base, **out}

    done = {**piece("" if s.stream else TEXT), "done": True, "done_reason": "stop"}
    done.update(total_duration=1000)
    if usage:
        done["eval_count"] = r.output_tokens
    if usage and r.input_tokens:  # Ollama leaves it out when the prompt came from its cache
        done["prompt_eval_count"] = r.input_tokens
    if not s.stream:
        return "application/json", json.dumps(done).encode()
    lines = [{**piece(TEXT[:9]), "done": False}, {**piece(TEXT[9:]), "done": False}, done]
    return "application/x-ndjson", [(json.dumps(line) + "\n").encode() for line in lines]


# -- Bedrock -----------------------------------------------------------------------------------
def converse_usage(r: Reply) -> dict[str, int]:
    cache = r.cache_read_tokens + r.cache_write_tokens
    return {
        "inputTokens": r.input_tokens - cache,
        "outputTokens": r.output_tokens,
        "totalTokens": r.input_tokens + r.output_tokens,
        "cacheReadInputTokens": r.cache_read_tokens,
        "cacheWriteInputTokens": r.cache_write_tokens,
    }


def frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event stream message, with the CRCs the SDK checks."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):  # fmt: skip
        raw = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + len(raw).to_bytes(2, "big") + raw
    data = json.dumps(payload).encode()
    total = 12 + len(headers) + len(data) + 4
    prelude = total.to_bytes(4, "big") + len(headers).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + headers + data
    return message + zlib.crc32(message).to_bytes(4, "big")


def bedrock(fake: Any, path: str, r: Reply, s: Served) -> Answer:
    model = unquote(path.split("/model/", 1)[1].rsplit("/", 1)[0])
    action = path.rsplit("/", 1)[1]
    s.model = model
    usage = billed(s, r)
    s.stream = action.endswith("-stream")
    if action == "converse":
        doc: dict[str, Any] = {
            "output": {"message": {"role": "assistant", "content": [{"text": TEXT}]}},
            "stopReason": "end_turn",
            "metrics": {"latencyMs": 7},
        }
        if usage:
            doc["usage"] = converse_usage(r)
        return "application/json", json.dumps(doc).encode()
    if action == "converse-stream":
        return EVENTSTREAM, [frame(kind, event) for kind, event in converse_events(r)]
    s.response_id = fake._new_id("msg_bdrk")
    message = message_body(s.response_id, model, r)
    if action == "invoke":
        return "application/json", json.dumps(message).encode()
    events = list(message_events(message, r))
    events[-1]["amazon-bedrock-invocationMetrics"] = {
        "inputTokenCount": r.input_tokens - r.cache_read_tokens - r.cache_write_tokens,
        "outputTokenCount": r.output_tokens,
        "invocationLatency": 7,
        "firstByteLatency": 3,
    }
    return EVENTSTREAM, [
        frame("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()}) for e in events
    ]


def converse_events(r: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "messageStart", {"role": "assistant"}
    for piece in (TEXT[:9], TEXT[9:]):
        yield "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}
    yield "contentBlockStop", {"contentBlockIndex": 0}
    yield "messageStop", {"stopReason": "end_turn"}
    yield "metadata", {"usage": converse_usage(r), "metrics": {"latencyMs": 7}}


OTHERS.append(serve)
