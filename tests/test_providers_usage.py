"""PRODUCT.md "Usage numbers", rule by rule, on wire payloads as the providers send them
(read by shape, as `record(response)` reads them, and as each endpoint streams them)."""

from __future__ import annotations

import json
from typing import Any, Iterable

import pytest

from pytest_tokenbudget.providers import endpoint, extract
from pytest_tokenbudget.providers.base import NOTE_CLOSED_EARLY
from pytest_tokenbudget.providers.openai import NOTE_NO_STREAM_USAGE
from pytest_tokenbudget.usage import Extracted, Part, make_usage


def only(found: Extracted | None) -> Part:
    assert found is not None
    (part,) = found.parts
    return part


def read_stream(path: str, chunks: Iterable[bytes]) -> Extracted | None:
    """A streamed reply to ``POST path``, read as capture reads it."""
    found = endpoint("POST", path)
    assert found is not None
    reader = found.stream()
    for chunk in chunks:
        reader.feed(chunk)
    return reader.result()


def sse(*events: dict[str, Any], named: bool = True) -> bytes:
    out = []
    for event in events:
        head = f"event: {event['type']}\n" if named and "type" in event else ""
        out.append(f"{head}data: {json.dumps(event)}\n\n")
    return "".join(out).encode()


def test_openai_chat_cached_tokens_are_already_in_prompt_tokens() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [],
        "usage": {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0},
        },
    }
    found = extract(body)
    assert found is not None
    assert found.response_id == "chatcmpl-1"
    part = only(found)
    assert part.model == "gpt-4o-mini-2024-07-18"
    assert part.usage == make_usage(
        input_tokens=2006, output_tokens=300, cache_read_tokens=1920, reasoning_tokens=192
    )


def test_openai_cache_write_tokens_are_part_of_the_input() -> None:
    chat = {"prompt_tokens": 500, "completion_tokens": 7, "total_tokens": 507}
    chat["prompt_tokens_details"] = {"cached_tokens": 100, "cache_write_tokens": 300}  # type: ignore[assignment]
    responses = {
        "input_tokens": 500,
        "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 300},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 507,
    }
    expected = make_usage(
        input_tokens=500, output_tokens=7, cache_read_tokens=100, cache_write_tokens=300
    )
    assert only(extract({"model": "m", "usage": chat})).usage == expected
    body = {"object": "response", "status": "completed", "model": "m", "usage": responses}
    assert only(extract(body)).usage == expected


def test_openai_embeddings_and_legacy_completions() -> None:
    emb = {"object": "list", "data": [], "model": "text-embedding-3-small"}
    emb["usage"] = {"prompt_tokens": 8, "total_tokens": 8}
    assert only(extract(emb)).usage == make_usage(input_tokens=8)
    legacy = {"id": "cmpl-1", "object": "text_completion", "model": "gpt-3.5-turbo-instruct"}
    legacy["usage"] = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    assert only(extract(legacy)).usage == make_usage(input_tokens=5, output_tokens=7)


def test_anthropic_cache_reads_and_writes_are_added_to_input_tokens() -> None:
    body = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "usage": {
            "input_tokens": 21,
            "cache_creation_input_tokens": 1888,
            "cache_read_input_tokens": 12000,
            "cache_creation": {"ephemeral_5m_input_tokens": 888, "ephemeral_1h_input_tokens": 1000},
            "output_tokens": 393,
            "output_tokens_details": {"thinking_tokens": 200},
            "service_tier": "standard",
        },
    }
    found = extract(body)
    assert found is not None
    assert found.response_id == "msg_01"
    part = only(found)
    assert part.usage == make_usage(
        input_tokens=21 + 1888 + 12000,
        output_tokens=393,
        cache_read_tokens=12000,
        cache_write_tokens=1888,
        reasoning_tokens=200,
    )
    assert part.cache_write_1h_tokens == 1000


def test_anthropic_iterations_are_summed_each_on_its_own_model() -> None:
    """Compaction and advisor passes are billed although the top level omits them."""
    usage = {
        "input_tokens": 4000,  # the executor's message iterations only
        "output_tokens": 600,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "iterations": [
            {
                "type": "compaction",
                "input_tokens": 180000,
                "output_tokens": 3500,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
            {
                "type": "message",
                "input_tokens": 3000,
                "output_tokens": 400,
                "cache_read_input_tokens": 500,
                "cache_creation_input_tokens": 0,
            },
            {
                "type": "advisor_message",
                "model": "claude-opus-4-1",
                "input_tokens": 9000,
                "output_tokens": 700,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 100,
            },
            {
                "type": "message",
                "input_tokens": 1000,
                "output_tokens": 200,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        ],
    }
    found = extract(
        {"id": "msg_2", "type": "message", "model": "claude-sonnet-4-5", "usage": usage}
    )
    assert found is not None
    by_model = {p.model: p.usage for p in found.parts}
    assert by_model == {
        "claude-sonnet-4-5": make_usage(
            input_tokens=180000 + 3500 + 1000, output_tokens=3500 + 400 + 200, cache_read_tokens=500
        ),
        "claude-opus-4-1": make_usage(
            input_tokens=9100, output_tokens=700, cache_write_tokens=100, calls=0
        ),
    }
    assert sum(p.usage.calls for p in found.parts) == 1  # one response is one call


def test_fallback_iteration_names_its_model() -> None:
    usage = {
        "input_tokens": 10,
        "output_tokens": 5,
        "iterations": [
            {"type": "message", "input_tokens": 10, "output_tokens": 0},
            {"type": "fallback_message", "model": "claude-haiku-4-5", "input_tokens": 10,
             "output_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
        ],
    }  # fmt: skip
    found = extract({"type": "message", "model": "claude-opus-4-1", "usage": usage})
    assert found is not None
    assert [(p.model, p.usage.total_tokens, p.usage.calls) for p in found.parts] == [
        ("claude-opus-4-1", 10, 1),
        ("claude-haiku-4-5", 15, 0),
    ]


def test_anthropic_stream_message_delta_replaces_cumulatively() -> None:
    """With server tools the final input is larger than message_start's; the start's one
    output token is not added to the final count."""
    start_usage = {
        "input_tokens": 2679,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 3,
    }
    body = sse(
        {"type": "message_start", "message": {"id": "msg_3", "type": "message",
         "model": "claude-sonnet-4-5", "content": [], "usage": start_usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": 'say "usage": {x}'}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"input_tokens": 10682, "cache_creation_input_tokens": None,
                   "cache_read_input_tokens": 2000, "output_tokens": 510,
                   "server_tool_use": {"web_search_requests": 1}}},
        {"type": "message_stop"},
    )  # fmt: skip
    for size in (len(body), 7, 1):  # any chunking gives the same answer
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        found = read_stream("/v1/messages", chunks)
        assert found is not None
        assert found.response_id == "msg_3"
        assert only(found).usage == make_usage(
            input_tokens=12682, output_tokens=510, cache_read_tokens=2000
        )


def test_anthropic_stream_thinking_tokens_are_reasoning() -> None:
    body = sse(
        {"type": "message_start", "message": {"id": "m", "model": "claude", "usage":
         {"input_tokens": 10, "output_tokens": 1}}},
        {"type": "message_delta", "usage": {"output_tokens": 90,
         "output_tokens_details": {"thinking_tokens": 60}}},
    )  # fmt: skip
    assert only(read_stream("/v1/messages", [body])).usage == make_usage(
        input_tokens=10, output_tokens=90, reasoning_tokens=60
    )


def test_openai_chat_stream_usage_is_on_the_last_chunk() -> None:
    chunk = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "model": "gpt-4o"}
    usage = {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
    body = (
        sse(
            {**chunk, "choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None},
            {**chunk, "choices": [], "usage": usage},
        )
        + b"data: [DONE]\n\n"
    )
    found = read_stream("/v1/chat/completions", [body])
    assert found is not None
    assert found.response_id == "chatcmpl-9"
    assert only(found).usage == make_usage(input_tokens=19, output_tokens=10)


def test_chat_stream_without_include_usage_has_no_usage() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": []}
    assert read_stream("/v1/chat/completions", [sse(chunk, chunk) + b"data: [DONE]\n\n"]) is None


def test_responses_stream_counts_response_completed() -> None:
    usage = {
        "input_tokens": 37,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 11,
        "output_tokens_details": {"reasoning_tokens": 4},
        "total_tokens": 48,
    }
    resp = {"id": "resp_1", "object": "response", "model": "o4-mini", "status": "in_progress"}
    body = sse(
        {"type": "response.created", "sequence_number": 0, "response": {**resp, "usage": None}},
        {"type": "response.completed", "sequence_number": 1,
         "response": {**resp, "status": "completed", "usage": usage}},
    )  # fmt: skip
    found = read_stream("/v1/responses", [body])
    assert found is not None
    assert found.response_id == "resp_1"
    assert only(found).usage == make_usage(input_tokens=37, output_tokens=11, reasoning_tokens=4)


def test_background_response_counts_only_final_usage_with_its_id() -> None:
    queued = {"id": "resp_bg", "object": "response", "status": "queued", "usage": None}
    assert extract(queued) is None
    in_progress = {**queued, "status": "in_progress"}
    assert extract(in_progress) is None
    usage = {"input_tokens": 50, "output_tokens": 20, "total_tokens": 70}
    done = {**queued, "status": "completed", "model": "gpt-5", "usage": usage}
    found = extract(done)
    assert found is not None
    assert found.response_id == "resp_bg"
    assert only(found).usage == make_usage(input_tokens=50, output_tokens=20)


def test_compact_endpoint_is_a_billed_pass() -> None:
    body = {
        "id": "cmp_1",
        "object": "response.compaction",
        "output": [],
        "usage": {
            "input_tokens": 140000,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 2100,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 142100,
        },
    }
    part = only(extract(body))
    assert part.model is None  # capture names it from the request
    assert part.usage == make_usage(input_tokens=140000, output_tokens=2100)


def test_sdk_objects_are_read_by_attribute() -> None:
    anthropic = pytest.importorskip("anthropic")
    message = anthropic.types.Message.model_validate(
        {
            "id": "msg_x",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 10},
        }
    )
    found = extract(message)
    assert found is not None
    assert found.response_id == "msg_x"
    assert only(found).usage == make_usage(input_tokens=13, output_tokens=4, cache_read_tokens=10)


@pytest.mark.parametrize(
    "obj", [None, "text", {}, {"usage": None}, {"usage": {"foo": 1}}, {"data": [1]}]
)
def test_no_usage_is_none(obj: object) -> None:
    assert extract(obj) is None


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_figures_raise_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="prompt_tokens"):  # as the wire names it
        extract({"model": "m", "usage": {"prompt_tokens": bad, "completion_tokens": 1}})
    with pytest.raises(ValueError, match="input_tokens"):
        extract({"type": "message", "usage": {"input_tokens": bad, "output_tokens": 1}})


@pytest.mark.parametrize(
    ("method", "path", "body", "note"),
    [
        ("POST", "/v1/messages", b'{"model": "claude"}', NOTE_CLOSED_EARLY),
        ("POST", "/v1/responses", b'{"model": "gpt-5"}', NOTE_CLOSED_EARLY),
        ("POST", "/v1/chat/completions", b'{"stream_options": {"include_usage": true}}',
         NOTE_CLOSED_EARLY),
        ("POST", "/v1/chat/completions", b"{}", NOTE_NO_STREAM_USAGE),
        # in background mode the response runs on: a poll may count it
        ("POST", "/v1/responses", b'{"background": true, "stream": true}', None),
        ("GET", "/v1/responses/resp_1", None, None),  # a poll: the POST was the call
    ],
)  # fmt: skip
def test_a_stream_closed_before_its_usage_is_noted_when_it_is_a_billed_call(
    method: str, path: str, body: bytes | None, note: str | None
) -> None:
    found = endpoint(method, path)
    assert found is not None
    missing = found.missing_usage
    assert (missing(body, False) if missing is not None else None) == note
    # one that reached its end without usage is no call, unless it is a chat (never had it)
    ended = missing(body, True) if missing is not None else None
    assert ended == (note if path.endswith("/chat/completions") else None)
