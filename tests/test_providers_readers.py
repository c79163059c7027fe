"""The new providers' readers, pure: Gemini, Ollama and Bedrock replies and streams in any
chunking, AWS event stream framing, and the parser hook's fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakellm import Reply, message_body, message_events
from fakeproviders import converse_events, converse_usage, frame, gemini_usage
from pytest_tokenbudget.providers import bedrock, endpoint, extract, gemini, ollama
from pytest_tokenbudget.providers.eventstream import Messages
from pytest_tokenbudget.providers.fields import from_fields, to_fields
from pytest_tokenbudget.usage import Extracted, Part, make_usage

GEM = Reply(input_tokens=1_200, output_tokens=340, cache_read_tokens=800, reasoning_tokens=120,
            tool_use_tokens=60)  # fmt: skip
RICH = Reply(input_tokens=300, output_tokens=40, cache_read_tokens=200, cache_write_tokens=50)


def want(r: Reply) -> Any:
    return make_usage(
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        cache_read_tokens=r.cache_read_tokens,
        cache_write_tokens=r.cache_write_tokens,
        reasoning_tokens=r.reasoning_tokens,
    )


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def read_stream(reader: Any, data: bytes, cuts: list[int]) -> Extracted | None:
    for piece in chunked(data, cuts):
        reader.feed(piece)
    result: Extracted | None = reader.result()
    return result


# -- Gemini ------------------------------------------------------------------------------------
def gemini_chunk(r: Reply, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": "x"}]}}
    if final:
        candidate["finishReason"] = "STOP"
    usage = gemini_usage(r, final=final)
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-pro"}


def test_gemini_reply_in_products_meaning() -> None:
    found = gemini.GENERATE.read({**gemini_chunk(GEM, True), "responseId": "r1"})
    assert found == Extracted((Part(want(GEM), "gemini-2.5-pro"),), "r1")
    assert found.parts[0].usage.total_tokens == gemini_usage(GEM)["totalTokenCount"]


def test_gemini_sdk_object_by_shape() -> None:
    types = pytest.importorskip("google.genai.types")
    reply = types.GenerateContentResponse.model_validate(gemini_chunk(GEM, True))
    found = extract(reply)
    assert found is not None
    assert found.parts[0].usage == want(GEM)


#: The line ends the SDKs split streams on (httpx's ``iter_lines``): CRLF, LF and CR alone.
ENDS = st.sampled_from([b"\r\n", b"\n", b"\r"])


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12), ENDS)
def test_gemini_stream_in_any_chunking(cuts: list[int], end: bytes) -> None:
    lines = [gemini_chunk(GEM, False), gemini_chunk(GEM, True)]
    data = b"".join(b"data: " + json.dumps(c).encode() + end * 2 for c in lines)
    found = read_stream(gemini.Stream(), data, cuts)
    assert found is not None
    assert found.parts[0].usage == want(GEM)
    # cut before the final chunk: the prompt-only usage of the first is not the call's
    assert read_stream(gemini.Stream(), data[: data.index(end * 2) + 2 * len(end)], cuts) is None


def test_gemini_blocked_prompt_counts_its_prompt() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {
        "promptTokenCount": 9, "totalTokenCount": 9}}  # fmt: skip
    stream = gemini.Stream()
    stream.feed(b"data: " + json.dumps(blocked).encode() + b"\n\n")
    found = stream.result()
    assert found is not None
    assert found.parts[0].usage == make_usage(input_tokens=9)


def test_gemini_request_model_and_output_cap() -> None:
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    body = json.dumps({"contents": [], "generationConfig": {"maxOutputTokens": 256}}).encode()
    declared = gemini.GENERATE.declared(path, body)
    assert declared is not None
    assert (declared.model, declared.output_cap) == ("gemini-2.5-flash", 256)
    assert gemini.GENERATE.request_model(path, body) == "gemini-2.5-flash"


# -- Ollama ------------------------------------------------------------------------------------
def test_ollama_final_line_and_cached_prompt() -> None:
    done = {"model": "llama3.2", "done": True, "done_reason": "stop", "eval_count": 7}
    found = ollama.GENERATE.read(done)
    assert found is not None
    assert found.parts[0].usage == make_usage(output_tokens=7)  # no prompt_eval_count: cached
    assert ollama.GENERATE.read({**done, "done_reason": "load", "eval_count": None}) is None
    assert ollama.GENERATE.read({"reply": "not ollama"}) is None  # another service's /api/chat
    with pytest.raises(ValueError, match="without prompt_eval_count or eval_count"):
        ollama.GENERATE.read({"model": "m", "done": True, "done_reason": "stop"})


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12), ENDS)
def test_ollama_ndjson_in_any_chunking(cuts: list[int], end: bytes) -> None:
    lines = [
        {"model": "m", "message": {"content": "a"}, "done": False},
        {"model": "m", "message": {"content": ""}, "done": True, "prompt_eval_count": 5,
         "eval_count": 6},
    ]  # fmt: skip
    data = b"".join(json.dumps(line).encode() + end for line in lines)
    found = read_stream(ollama.Stream(), data, cuts)
    assert found is not None
    assert found.parts[0].usage == make_usage(input_tokens=5, output_tokens=6)
    assert read_stream(ollama.Stream(), data[: data.index(end) + len(end)], cuts) is None
    # the final line without its line end still counts (the stream ended)
    assert read_stream(ollama.Stream(), data[: -len(end)], cuts) == found


def test_ollama_output_cap() -> None:
    body = json.dumps({"model": "qwen3", "options": {"num_predict": 64}}).encode()
    declared = ollama.GENERATE.declared("/api/chat", body)
    assert declared is not None
    assert (declared.model, declared.output_cap) == ("qwen3", 64)


# -- Bedrock -----------------------------------------------------------------------------------
def test_converse_usage_adds_cache_back_and_names_no_model() -> None:
    found = bedrock.CONVERSE.read({"usage": converse_usage(RICH)})
    assert found == Extracted((Part(want(RICH)),))
    path = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    model = bedrock.CONVERSE.request_model(path, b"{}")
    assert model == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    body = json.dumps({"messages": [], "inferenceConfig": {"maxTokens": 99}}).encode()
    declared = bedrock.CONVERSE.declared(path, body)
    assert declared is not None
    assert (declared.model, declared.output_cap) == (model, 99)
    with pytest.raises(ValueError, match="without usage"):
        bedrock.CONVERSE.read({"output": {}})


def test_invoke_reads_anthropic_and_nova_bodies() -> None:
    found = bedrock.INVOKE.read(message_body("msg_1", "claude-3-haiku", RICH))
    assert found is not None
    assert found.parts[0].usage == want(RICH)
    nova = {"output": {}, "usage": {"inputTokens": 10, "outputTokens": 3,
                                    "cacheReadInputTokenCount": 4}}  # fmt: skip
    found = bedrock.INVOKE.read(nova)
    assert found is not None
    assert found.parts[0].usage == make_usage(input_tokens=14, output_tokens=3, cache_read_tokens=4)
    with pytest.raises(ValueError, match="usage is not known"):
        bedrock.INVOKE.read({"generation": "llama says hi"})


def converse_stream_bytes(r: Reply) -> bytes:
    return b"".join(frame(kind, event) for kind, event in converse_events(r))


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_converse_stream_in_any_chunking(cuts: list[int]) -> None:
    data = converse_stream_bytes(RICH)
    found = read_stream(bedrock.ConverseStream(), data, cuts)
    assert found == Extracted((Part(want(RICH)),))
    last = data.rindex(frame("metadata", {"usage": converse_usage(RICH), "metrics": {
        "latencyMs": 7}}))  # fmt: skip
    assert read_stream(bedrock.ConverseStream(), data[:last], cuts) is None


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_invoke_stream_in_any_chunking(cuts: list[int]) -> None:
    import base64

    events = list(message_events(message_body("msg_1", "claude-3-haiku", RICH), RICH))
    data = b"".join(
        frame("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()}) for e in events
    )
    found = read_stream(bedrock.InvokeStream(), data, cuts)
    assert found is not None
    assert found.parts[0].usage == want(RICH)


def test_invoke_stream_of_another_model_uses_the_invocation_metrics() -> None:
    import base64

    metrics = {"inputTokenCount": 21, "outputTokenCount": 8}
    last = {"outputText": "", "amazon-bedrock-invocationMetrics": metrics}
    stream = bedrock.InvokeStream()
    stream.feed(frame("chunk", {"bytes": base64.b64encode(json.dumps(last).encode()).decode()}))
    found = stream.result()
    assert found == Extracted((Part(make_usage(input_tokens=21, output_tokens=8)),))


def test_event_stream_framing() -> None:
    seen: list[tuple[str, bytes]] = []
    messages = Messages(lambda kind, payload: seen.append((kind, payload)))
    data = frame("metadata", {"a": 1}) + frame("chunk", {"b": 2})
    messages.feed(data[:5])
    assert seen == []
    messages.feed(data[5:-3])
    assert seen == [("metadata", b'{"a": 1}')]
    assert messages.pending > 0
    messages.feed(data[-3:])
    assert seen[-1] == ("chunk", b'{"b": 2}')
    with pytest.raises(ValueError, match="too short"):
        Messages(lambda k, p: None).feed(b"\x00\x00\x00\x05" + b"\x00" * 12)


def test_routes_are_specific() -> None:
    assert endpoint("POST", "/serve/invoke") is None  # LangServe, not Bedrock
    found = endpoint("POST", "/model/amazon.nova-pro-v1%3A0/invoke")
    assert found is bedrock.INVOKE


# -- the parser hook's fields ------------------------------------------------------------------
def test_fields_round_trip_and_errors() -> None:
    fields = {"input_tokens": 30, "output_tokens": 4, "model": "acme-1", "response_id": "r"}
    found = from_fields(fields)
    assert found == Extracted((Part(make_usage(input_tokens=30, output_tokens=4), "acme-1"),), "r")
    assert to_fields(found) == {**dict.fromkeys(("cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens"), 0), **fields, "total_tokens": 34}  # fmt: skip
    billed = from_fields({"input_tokens": 1, "cost_usd": 0.25})
    assert billed.parts[0].billed_pico == 250_000_000_000
    for bad, match in (
        ({"input": 3}, "unknown key 'input'"),
        ({"input_tokens": -1}, "input_tokens must be a non-negative integer"),
        ({"input_tokens": 3, "total_tokens": 4}, "total_tokens 4 != "),
        ({"model": 3}, "model must be a string"),
        ([1], "expected a dict of usage fields, got list"),
    ):
        with pytest.raises(ValueError, match=match):
            from_fields(bad)


def test_a_replys_text_never_reaches_the_message() -> None:
    """The message reaches the notes, and from there a pull-request comment's Markdown."""
    from pytest_tokenbudget.providers import openai

    usage = {"prompt_tokens": 1, "completion_tokens": 1, "cost": "[click](https://x.test)"}
    with pytest.raises(ValueError, match=r"usage\.cost") as err:
        openai.CHAT.read({"choices": [], "usage": usage})
    assert str(err.value) == "usage.cost must be a number of dollars, got str"
    header = b"\x04evil\x0b"  # a header name and an unknown type
    message = len(header).to_bytes(4, "big")
    total = (12 + len(header) + 4).to_bytes(4, "big")
    with pytest.raises(ValueError, match="unknown type 11") as err:
        Messages(lambda k, p: None).feed(total + message + b"\0" * 4 + header + b"\0" * 4)
    assert "evil" not in str(err.value)
