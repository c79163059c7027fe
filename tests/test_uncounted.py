"""``uncounted_calls``: replies capture recognised as LLM calls but could not count. Recorded with
their reason, named per test in the notes, said by the budgets, shown in every view, and read
from files that predate them as 0 (pure parts; the whole path is in test_uncounted_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from pytest_tokenbudget import fmt
from pytest_tokenbudget.attribution import ATTRIBUTION
from pytest_tokenbudget.capture.sink import NOTE_ENCODING, NOTE_UNREAD, Sink
from pytest_tokenbudget.cli.analyze import recommendations
from pytest_tokenbudget.files.baseline import (
    baseline_from_report,
    load_baseline,
    load_report,
    report_from_dict,
)
from pytest_tokenbudget.files.history import read_history
from pytest_tokenbudget.files.merge import merge_reports
from pytest_tokenbudget.gate.budget import Limits, budget_record
from pytest_tokenbudget.gate.regression import compare
from pytest_tokenbudget.pricing import load_pricer
from pytest_tokenbudget.providers import endpoint
from pytest_tokenbudget.providers.base import NOTE_CLOSED_EARLY
from pytest_tokenbudget.providers.openai import NOTE_NO_STREAM_USAGE
from pytest_tokenbudget.records import make_record
from pytest_tokenbudget.render.compare_text import render_comparison
from pytest_tokenbudget.render.markdown import render_markdown
from pytest_tokenbudget.render.text import describe
from pytest_tokenbudget.report import BASELINE_SCHEMA
from pytest_tokenbudget.run import RunUsage
from pytest_tokenbudget.tracker import TokenTracker, tracker_payload
from pytest_tokenbudget.usage import Cell, Usage
from reportfactory import as_json, report_doc, simple

CHAT = "/v1/chat/completions"
LOST = Usage(uncounted_calls=1)


def test_the_tracker_counts_an_uncounted_call_with_its_reason() -> None:
    tracker = TokenTracker("t::a")
    told: list[Usage] = []
    tracker.listener = told.append
    with tracker.operation("plan"):
        tracker.uncounted(NOTE_NO_STREAM_USAGE, model="gpt-4o")
    tracker.uncounted(NOTE_NO_STREAM_USAGE, model="gpt-4o", operation="answer")
    assert tracker.cells() == {Cell("gpt-4o", "plan"): LOST, Cell("gpt-4o", "answer"): LOST}
    assert tracker.usage == Usage(uncounted_calls=2)  # no call, no token, no unpriced call
    assert told == [LOST, LOST]
    payload = tracker_payload(tracker)
    assert payload["uncounted"] == {NOTE_NO_STREAM_USAGE: 2}
    assert "notes" not in payload  # a payload brings notes only when there are some


def payload(reasons: dict[str, int], model: str = "gpt-4o") -> dict[str, Any]:
    calls = sum(reasons.values())
    return {
        "cells": [[model, "(none)", {"uncounted_calls": calls}]],
        "notes": {},
        "uncounted": reasons,
    }


def test_the_notes_name_the_tests_with_uncounted_calls() -> None:
    run = RunUsage()
    run.add_test("t::b", payload({NOTE_NO_STREAM_USAGE: 2, NOTE_CLOSED_EARLY: 1}))
    run.add_test("t::a", payload({NOTE_NO_STREAM_USAGE: 1}))
    run.add_buckets({"<session>": payload({NOTE_CLOSED_EARLY: 1})})
    report = run.to_report(pricing={})
    assert report.notes == [
        f"t::a, t::b: 3 calls not counted ({NOTE_NO_STREAM_USAGE})",
        f"<session>, t::b: 2 calls not counted ({NOTE_CLOSED_EARLY})",
    ]
    assert report.tests["t::b"].uncounted_calls == 3
    assert report.totals.uncounted_calls == 5
    assert report.totals.calls == 0


def test_a_note_for_many_tests_names_three_and_counts_the_rest() -> None:
    run = RunUsage()
    for i in range(1, 8):
        run.add_test(f"t::{i}", payload({NOTE_UNREAD: 1}))
    run.notes["another note"] = 1
    assert run.to_report(pricing={}).notes == [
        f"t::1, t::2, t::3 and 4 more: 7 calls not counted ({NOTE_UNREAD})",
        "another note",
    ]


def test_a_budget_says_how_many_calls_it_could_not_check() -> None:
    usage = Usage(input_tokens=900, calls=2, uncounted_calls=1)
    cells = {Cell("gpt-4o", "(none)"): usage}
    limits = Limits({"max_tokens": 1000, "max_calls": 5}, {"max_tokens": "marker"})
    record = budget_record("t::a", usage, cells, limits, warn_at=1.0)
    assert record.note == (
        "max_tokens checked on counted calls only: 1 call could not be checked (not counted)"
    )
    assert record.violations == []  # a call whose figures are unknown is over no limit
    # but it was made: max_calls counts it (2 counted + 1 not counted > 2)
    two = Limits({"max_calls": 2}, {"max_calls": "marker"})
    (over,) = budget_record("t::a", usage, cells, two, warn_at=1.0).violations
    assert (over.metric, over.limit, over.actual) == ("calls", 2, 3)
    assert budget_record("t::a", usage, cells, two, warn_at=1.0).note is None
    unpriced = Usage(input_tokens=10, calls=1, unpriced_calls=1, uncounted_calls=2)
    costly = Limits({"max_cost_usd": 10**12})
    assert budget_record("t::a", unpriced, {}, costly, 1.0).note == (
        "max_cost_usd checked on priced calls only ($0): 1 unpriced call not checkable; "
        "max_cost_usd checked on counted calls only: 2 calls could not be checked (not counted)"
    )
    assert budget_record("t::a", Usage(calls=1), cells, limits, 1.0).note is None


def test_every_figure_view_shows_the_calls_not_counted() -> None:
    usage = Usage(input_tokens=30, output_tokens=5, calls=2, uncounted_calls=1)
    assert fmt.cells(usage, ("total_tokens", "calls")) == ["35", "2 + 1 not counted"]
    assert fmt.cells(Usage(calls=2), ("calls",)) == ["2"]
    assert describe(usage).endswith(" in 2 calls, $0, 1 call not counted")
    tests = {"t::lost": {**simple(0, calls=0), "uncounted_calls": 2}, "t::ok": simple(10)}
    report = report_from_dict(report_doc(tests))
    markdown = render_markdown(report)
    assert "used 10 tokens ($0.0000015) in 1 call, 2 calls not counted:" in markdown
    assert "| this run | 10 | 10 | 0 | 1 + 2 not counted |" in markdown
    assert "| `t::lost` | 0 | 0 | 0 | 0 + 2 not counted | $0 |" in markdown  # listed, though 0


def test_a_comparison_shows_calls_not_counted_but_never_as_a_regression() -> None:
    before = report_from_dict(report_doc({"t::a": simple(100), "t::b": simple(50)}))
    after_doc = report_doc({"t::a": {**simple(100), "uncounted_calls": 3}, "t::b": simple(50)})
    after = report_from_dict(after_doc)
    result = compare(baseline_from_report(before), after)
    assert not result.regressed
    assert not result.improvements
    text = render_comparison(result.record())
    assert "  calls not counted (tests in both)           0           3           +3" in text
    assert "| calls not counted | 0 | 3 | +3 |" in render_markdown(after, result.record())
    quiet = compare(baseline_from_report(before), before).record()
    assert "not counted" not in render_comparison(quiet) + render_markdown(before, quiet)


def test_analyze_says_which_tests_had_calls_not_counted() -> None:
    tests = {f"t::{i}": {**simple(10), "uncounted_calls": i} for i in range(5)}
    report = report_from_dict(report_doc(tests))
    found = recommendations(report, load_pricer(None, use_genai_prices=False))
    assert found[0].kind == "uncounted"
    assert found[0].text.startswith(
        "10 calls in 4 tests (t::1, t::2, t::3 and 1 more) could not be counted: "
        "the figures there are lower bounds"
    )


def strip_uncounted(value: Any) -> Any:
    """A document as a version before ``uncounted_calls`` wrote it."""
    if isinstance(value, dict):
        return {k: strip_uncounted(v) for k, v in value.items() if k != "uncounted_calls"}
    if isinstance(value, list):
        return [strip_uncounted(v) for v in value]
    return value


def test_files_without_the_field_load_as_zero_and_keep_working(tmp_path: Path) -> None:
    old = strip_uncounted(report_doc({"t::a": simple(100), "t::b": simple(7)}))
    assert "uncounted_calls" not in json.dumps(old)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    report = load_report(path)
    assert report.tests["t::a"].uncounted_calls == report.totals.uncounted_calls == 0
    baseline_doc = strip_uncounted(
        {"schema": BASELINE_SCHEMA, "tests": old["tests"], "totals": old["totals"]}
    )
    (tmp_path / "base.json").write_text(json.dumps(baseline_doc), encoding="utf-8")
    baseline = load_baseline(tmp_path / "base.json")
    assert baseline is not None
    new = report_from_dict(report_doc({"t::a": {**simple(100), "uncounted_calls": 1}}))
    assert not compare(baseline, new).regressed
    merged = merge_reports([report, new], allow_overlap=True)
    assert merged.tests["t::a"].usage == Usage(input_tokens=200, calls=2, uncounted_calls=1) + (
        Usage(cost_pico=merged.tests["t::a"].cost_pico)
    )
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps({"totals": old["totals"], "tests": 2}) + "\n")
    assert read_history(history)[0]["totals"]["calls"] == 2


def test_a_record_keeps_uncounted_calls_through_its_file_form() -> None:
    usage = Usage(input_tokens=3, calls=1, uncounted_calls=4)
    record = make_record(usage, {"m": usage})
    assert as_json(record)["uncounted_calls"] == 4
    assert as_json(record)["by_model"]["m"]["uncounted_calls"] == 4


# -- the sink: every unreadable reply is one uncounted call, and its reservation goes ------------
class Ticket:
    def __init__(self) -> None:
        self.released = 0

    def release(self) -> None:
        self.released += 1

    def settle(self, count: Callable[[], object]) -> None:
        count()
        self.released += 1


class ChatSink(Sink):
    __slots__ = ()

    def request_body(self) -> bytes | None:
        return b'{"model": "gpt-4o-mini", "stream": true}'


def open_sink(monkeypatch: pytest.MonkeyPatch) -> tuple[Sink, Ticket]:
    ticket = Ticket()
    monkeypatch.setattr(ATTRIBUTION, "before_request", lambda *args: ticket)
    found = endpoint("POST", CHAT)
    assert found is not None
    return ChatSink(found, "POST", CHAT, None), ticket


@pytest.mark.parametrize(
    ("headers", "chunks", "reason"),
    [
        (
            {"content-type": "text/event-stream"},
            [b'data: {"choices": []}\n\n'],
            NOTE_NO_STREAM_USAGE,
        ),
        ({"content-type": "application/json"}, [], NOTE_UNREAD),
        ({"content-type": "text/event-stream", "content-encoding": "br"}, [], NOTE_ENCODING),
    ],
    ids=["stream without usage", "closed unread", "unknown encoding"],
)
def test_a_reply_the_sink_cannot_count_is_an_uncounted_call(
    captured: TokenTracker,
    monkeypatch: pytest.MonkeyPatch,
    headers: dict[str, str],
    chunks: list[bytes],
    reason: str,
) -> None:
    sink, ticket = open_sink(monkeypatch)
    if sink.start_stream(headers):
        for chunk in chunks:
            sink.feed(chunk)
    sink.finish()
    sink.finish()  # once
    assert ticket.released == 1
    assert captured.uncounted_reasons == {reason: 1}
    assert captured.cells() == {Cell("gpt-4o-mini", "(none)"): LOST}


def test_an_implausible_figure_is_an_uncounted_call_that_names_it(
    captured: TokenTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, ticket = open_sink(monkeypatch)
    body = {"id": "c", "model": "gpt-4o-mini", "usage": {"prompt_tokens": 2**70}}
    sink.body(json.dumps(body).encode())
    assert ticket.released == 1
    assert captured.uncounted_reasons == {
        "unreadable provider response body: prompt_tokens must be a non-negative integer of "
        "at most 2**53, got 1180591620717411303424: no real reply carries that many": 1
    }
    assert captured.usage == LOST
    sink, _ = open_sink(monkeypatch)
    sink.body(b"<html>not json</html>")  # not a figure: the reason stays generic
    assert "unreadable provider response body" in captured.uncounted_reasons
