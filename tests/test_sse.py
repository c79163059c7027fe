"""SSE framing as the WHATWG spec parses it: line ends CR, LF or CRLF in any chunking,
multi-line data, comments and other fields ignored; only events with a usage object decoded."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakellm import sse_event
from pytest_tokenbudget.providers.sse import UsageEvents
from pytest_tokenbudget.usage import Extracted

ENDS = ["\n", "\r", "\r\n"]


class Events(UsageEvents):
    """Keeps every event handed over (those with a usage object)."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    def event(self, event: dict[str, Any]) -> None:
        self.seen.append(event)

    def found(self) -> Extracted | None:
        return None


def parse(chunks: list[bytes], ended: bool = True) -> list[dict[str, Any]]:
    reader = Events()
    for chunk in chunks:
        reader.feed(chunk)
    reader.result(ended)
    return reader.seen


def cut(data: bytes, at: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(min(a, len(data)) for a in at)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def render(event: dict[str, Any], end: str, multiline: bool, extra: bool) -> bytes:
    """One event as a server may send it (``fakellm.sse_event``), maybe after a comment, an
    id and a retry, which are no event of their own."""
    head = end.join([": keep-alive", "id: 7", "retry: 100", ""]) if extra else ""
    return head.encode() + sse_event(event, end, multiline)


USAGE = {"input_tokens": 3, "output_tokens": 4}
KINDS = st.sampled_from(
    [
        {"type": "message_start", "message": {"id": "m", "usage": USAGE}},
        {"type": "delta", "usage": None, "text": "x"},
        {"type": "delta", "text": 'say "usage": {"x": 1}'},  # only in a text: not decoded
        {"type": "message_delta", "usage": {"output_tokens": 9}},
        {"type": "ping"},
    ]
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    events=st.lists(st.tuples(KINDS, st.booleans(), st.booleans()), max_size=6),
    end=st.sampled_from(ENDS),
    at=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
def test_any_chunking_gives_the_events_of_the_whole_stream(
    events: list[tuple[dict[str, Any], bool, bool]], end: str, at: list[int]
) -> None:
    body = b"".join(render(event, end, multiline, extra) for event, multiline, extra in events)
    want = [event for event, _, _ in events if event["type"].startswith("message")]
    assert parse([body]) == want
    assert parse(cut(body, at)) == want
    assert parse([body[i : i + 1] for i in range(len(body))]) == want


def test_a_cr_ending_one_chunk_and_the_lf_starting_the_next_are_one_line_end() -> None:
    """Read as two line ends, the blank line would end the event after its first line."""
    chunks = [b'data: {"usage":\r', b'\ndata: {"input_tokens": 1}}\r', b"\n\r\n"]
    assert parse(chunks) == [{"usage": {"input_tokens": 1}}]
    assert parse([b"".join(chunks)]) == [{"usage": {"input_tokens": 1}}]


@pytest.mark.parametrize("end", ENDS)
def test_data_lines_of_one_event_are_joined_by_lf(end: str) -> None:
    lines = ['data: {"usage":', ": a comment inside it", 'data:{"input_tokens": 2}', "data: }"]
    body = (end.join(lines) + end + end).encode()
    assert parse([body]) == [{"usage": {"input_tokens": 2}}]


def test_fields_other_than_data_and_lines_without_colon() -> None:
    body = (
        b'id: 1\nevent: x\nretry: 5\ndatum: {"usage": {}}\n\n'  # no data field: no event
        b'data\ndata: {"usage": {"a": 1}}\n\n'  # "data" alone is an empty data line
    )
    assert parse([body]) == [{"usage": {"a": 1}}]


def test_events_without_a_usage_object_are_never_decoded() -> None:
    """Not JSON at all, yet fine: only data naming a usage object is decoded."""
    body = b'data: [DONE]\n\ndata: {"usage": null, oops\n\ndata: not json "usage" : [\n\n'
    assert parse([body]) == []


@pytest.mark.parametrize("end", ENDS)
def test_a_last_event_without_its_blank_line_counts_only_when_the_stream_ended(end: str) -> None:
    line = b'data: {"usage": {"input_tokens": 5}}'
    for body in (line, line + end.encode()):  # its last line ended, or not even that
        assert parse([body], ended=True) == [{"usage": {"input_tokens": 5}}]
        assert parse([body], ended=False) == []  # closed early: an event cut off is dropped


def test_one_huge_event_in_small_chunks_is_read_whole() -> None:
    text = "y" * 300_000
    body = f'data: {{"text": "{text}", "usage": {{"input_tokens": 8}}}}\r\n\r\n'.encode()
    (event,) = parse([body[i : i + 1000] for i in range(0, len(body), 1000)])
    assert event["usage"] == {"input_tokens": 8}
    assert len(event["text"]) == 300_000


def test_a_usage_object_after_a_null_usage_in_the_same_event_is_found() -> None:
    event = {"item": {"usage": None}, "usage": {"input_tokens": 4}}
    assert parse([sse_event(event)]) == [event]
