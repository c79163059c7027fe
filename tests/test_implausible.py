"""A count no real reply carries (negative, not an integer, above 2**53) and Anthropic
``iterations`` that are not a list of objects make a reply unreadable: every reader raises
(capture then counts one uncounted call), never returns a figure (PRODUCT.md "Usage numbers")."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import pytest

from pytest_tokenbudget.providers import endpoint
from pytest_tokenbudget.tracker import TokenTracker
from pytest_tokenbudget.usage import MAX_COUNT, Extracted, make_usage

BAD = [-1, 1.5, True, "12", {"n": 1}, MAX_COUNT + 1, 2**70]
BAD_IDS = ["negative", "float", "bool", "text", "object", "2**53+1", "2**70"]


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events)


def whole(path: str, body: dict[str, Any]) -> Extracted | None:
    found = endpoint("POST", path)
    assert found is not None
    return found.read(json.loads(json.dumps(body)))


def streamed(path: str, data: bytes) -> Extracted | None:
    found = endpoint("POST", path)
    assert found is not None
    reader = found.stream()
    for at in range(0, len(data), 7):  # in any chunking
        reader.feed(data[at : at + 7])
    return reader.result()


def chat_usage(value: object) -> dict[str, Any]:
    return {"prompt_tokens": value, "completion_tokens": 0, "total_tokens": 0}


def responses_usage(value: object) -> dict[str, Any]:
    return {"input_tokens": value, "output_tokens": 0, "total_tokens": 0}


def anthropic_usage(value: object) -> dict[str, Any]:
    return {"input_tokens": value, "output_tokens": 0, "cache_read_input_tokens": 0}


def response(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "m",
        "usage": usage,
    }


def message(usage: dict[str, Any]) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "model": "claude-x", "usage": usage}


#: Each reader, given the reply's input count: (its wire name, read the reply).
READERS: dict[str, tuple[str, Callable[[object], Extracted | None]]] = {
    "openai chat": (
        "prompt_tokens",
        lambda v: whole("/v1/chat/completions", {"id": "c1", "model": "m", "usage": chat_usage(v)}),
    ),
    "openai chat stream": (
        "prompt_tokens",
        lambda v: streamed(
            "/v1/chat/completions",
            sse({"id": "c1", "choices": [], "usage": None}, {"id": "c1", "usage": chat_usage(v)}),
        ),
    ),
    "openai responses": (
        "input_tokens",
        lambda v: whole("/v1/responses", response(responses_usage(v))),
    ),
    "openai responses stream": (
        "input_tokens",
        lambda v: streamed(
            "/v1/responses",
            sse({"type": "response.completed", "response": response(responses_usage(v))}),
        ),
    ),
    "openai embeddings": (
        "prompt_tokens",
        lambda v: whole(
            "/v1/embeddings", {"model": "e", "usage": {"prompt_tokens": v, "total_tokens": 0}}
        ),
    ),
    "anthropic message": (
        "input_tokens",
        lambda v: whole("/v1/messages", message(anthropic_usage(v))),
    ),
    "anthropic stream": (
        "input_tokens",
        lambda v: streamed(
            "/v1/messages",
            sse(
                {"type": "message_start", "message": message(anthropic_usage(1))},
                {"type": "message_delta", "usage": anthropic_usage(v)},
            ),
        ),
    ),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_an_implausible_count_makes_the_reply_unreadable(reader: str, value: object) -> None:
    name, read = READERS[reader]
    with pytest.raises(ValueError, match=name):
        read(value)


@pytest.mark.parametrize("reader", READERS)
def test_the_largest_plausible_count_is_read(reader: str) -> None:
    _, read = READERS[reader]
    found = read(MAX_COUNT)
    assert found is not None
    assert sum(p.usage.input_tokens for p in found.parts) == MAX_COUNT


def test_an_implausible_count_says_what_no_real_reply_carries() -> None:
    with pytest.raises(ValueError, match=r"2\*\*53") as err:
        READERS["openai chat"][1](2**70)
    assert str(err.value) == (
        "prompt_tokens must be a non-negative integer of at most 2**53, "
        "got 1180591620717411303424: no real reply carries that many"
    )


@pytest.mark.parametrize(
    ("iterations", "problem"),
    [
        ({}, "usage.iterations must be a list of objects, got dict"),
        ("x", "usage.iterations must be a list of objects, got str"),
        (3, "usage.iterations must be a list of objects, got int"),
        ([{"input_tokens": 5, "output_tokens": 1}, "x"], "usage.iterations[1] must be an object"),
        ([None], "usage.iterations[0] must be an object, got NoneType"),
        ([[1]], "usage.iterations[0] must be an object, got list"),
    ],
)
@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "stream"])
def test_malformed_iterations_make_an_anthropic_reply_unreadable(
    iterations: object, problem: str, streaming: bool
) -> None:
    usage = {**anthropic_usage(10), "output_tokens": 2, "iterations": iterations}
    start = {"type": "message_start", "message": message(anthropic_usage(10))}
    events = sse(start, {"type": "message_delta", "usage": usage})
    with pytest.raises(ValueError, match=re.escape(problem)):
        streamed("/v1/messages", events) if streaming else whole("/v1/messages", message(usage))


@pytest.mark.parametrize("iterations", [None, []])
def test_absent_or_empty_iterations_count_the_top_level_figures(iterations: object) -> None:
    usage = {**anthropic_usage(10), "output_tokens": 2, "iterations": iterations}
    found = whole("/v1/messages", message(usage))
    assert found is not None
    assert [p.usage for p in found.parts] == [make_usage(input_tokens=10, output_tokens=2)]


def test_manual_record_of_an_implausible_count_raises_a_clear_error() -> None:
    tracker = TokenTracker("t")
    with pytest.raises(ValueError, match="input_tokens") as err:
        tracker.record(input_tokens=2**70)
    assert str(err.value) == (
        "input_tokens must be a non-negative integer of at most 2**53, "
        "got 1180591620717411303424: no real reply carries that many"
    )
    assert not tracker.usage
    assert tracker.record(output_tokens=MAX_COUNT).output_tokens == MAX_COUNT


def test_a_replys_text_never_reaches_the_message() -> None:
    """The message reaches the notes, and from there a pull-request comment's Markdown."""
    with pytest.raises(ValueError, match="prompt_tokens") as err:
        READERS["openai chat"][1]("[click](https://example.test) <b>")
    assert str(err.value) == "prompt_tokens must be a non-negative integer, got str"
