"""The sink every HTTP client's patch hands a reply to: what it does when a reply cannot be read."""

from __future__ import annotations

from typing import Callable

import pytest

from pytest_tokenbudget.attribution import ATTRIBUTION
from pytest_tokenbudget.capture.sink import NOTE_MALFORMED, Sink, finish_open
from pytest_tokenbudget.providers import endpoint
from pytest_tokenbudget.tracker import TokenTracker
from pytest_tokenbudget.usage import Usage

PATH = "/v1/chat/completions"


class Ticket:
    """Spend protection's reservation of one request, as the sink sees it."""

    def __init__(self) -> None:
        self.released = 0

    def release(self) -> None:
        self.released += 1

    def settle(self, count: Callable[[], object]) -> None:
        """Count, then release, in one step (as ``protection.Reservation.settle``)."""
        try:
            count()
        finally:
            self.release()


class BodySink(Sink):
    __slots__ = ()

    def request_body(self) -> bytes | None:
        return b'{"model": "gpt-4o-mini", "stream": true}'


def test_a_stream_that_cannot_be_decoded_gives_its_reservation_back(
    captured: TokenTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket = Ticket()
    monkeypatch.setattr(ATTRIBUTION, "before_request", lambda *args: ticket)
    found = endpoint("POST", PATH)
    assert found is not None
    sink = BodySink(found, "POST", PATH, None)
    assert sink.start_stream({"content-encoding": "gzip", "content-type": "text/event-stream"})
    sink.feed(b"this is not gzip")
    assert ticket.released == 1  # at once, not when the run ends
    sink.finish()
    assert ticket.released == 1
    assert captured.uncounted_reasons == {NOTE_MALFORMED: 1}
    assert captured.by_model == {"gpt-4o-mini": Usage(uncounted_calls=1)}


def test_a_tests_end_records_its_streams_still_open_and_no_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What ``sink.finish_open`` (the plugin, at each test's end) does: each stream once,
    counted from what arrived, on the test it belongs to."""
    monkeypatch.setattr(ATTRIBUTION, "before_request", None)
    found = endpoint("POST", PATH)
    assert found is not None
    usage = b'{"model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}'
    mine, other = TokenTracker("mine"), TokenTracker("other")
    for tracker in (mine, other):
        monkeypatch.setattr(ATTRIBUTION, "current", tracker)
        sink = BodySink(found, "POST", PATH, None)
        assert sink.start_stream({"content-type": "text/event-stream"})
        sink.feed(b"data: " + usage + b"\n\n")
    finish_open(mine)
    assert (mine.usage.input_tokens, mine.usage.calls) == (3, 1)
    assert not other.usage
    finish_open(mine)  # recorded once
    finish_open(other)
    assert (mine.usage.calls, other.usage.calls) == (1, 1)
