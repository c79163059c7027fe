"""Streams through the whole plugin with the real SDKs (current ones over httpx2, and openai 1.x
/ anthropic 0.x over httpx in ``.ci/old-sdks.sh``): SSE framed any valid way is counted
exactly, and a stream broken off, dropped or left open is its own test's, counted from what
arrived (PRODUCT.md, spend protection: "A stream broken off early ...")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fakellm import FakeLLM, Reply, anthropic_usage, figures
from pytest_tokenbudget.plugin.tests import REPORT_ATTR
from pytest_tokenbudget.providers.base import NOTE_CLOSED_EARLY
from runs import DIST, run_report

pytest.importorskip("openai")
pytest.importorskip("anthropic")

HEAD = """
import asyncio, json, os
import anthropic, openai
import pytest

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
MSGS = [{"role": "user", "content": "hi"}]
USAGE = {"include_usage": True}
CLIENTS = []

@pytest.fixture(scope="module", autouse=True)
def _close_clients():
    yield
    while CLIENTS:
        CLIENTS.pop().close()

def oai():
    CLIENTS.append(openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0))
    return CLIENTS[-1]

def ant():
    CLIENTS.append(anthropic.Anthropic(base_url=URL, api_key="k", max_retries=0))
    return CLIENTS[-1]

def reply(i, **extra):
    return {"x-fake-reply": json.dumps({**FIGURES(i), **extra})}
"""

#: Each inner test's figures: distinct, so that a call landing on another test shows.
FIGURES = """
def FIGURES(i):
    return dict(input_tokens=1000 * i + 7, output_tokens=10 * i + 3,
                cache_read_tokens=100 * i, cache_write_tokens=i)
"""


def expected(i: int) -> Reply:
    return Reply(input_tokens=1000 * i + 7, output_tokens=10 * i + 3,
                 cache_read_tokens=100 * i, cache_write_tokens=i)  # fmt: skip


#: Writes why each test's uncounted calls were not counted (shipped on its teardown report) to
#: notes.json, controller only.
NOTES_CONFTEST = f"""
import json
NOTES = {{}}

def pytest_runtest_logreport(report):
    payload = getattr(report, "{REPORT_ATTR}", None)
    if payload is not None and report.when == "teardown":
        NOTES[report.nodeid] = payload.get("uncounted", {{}})

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        with open("notes.json", "w") as out:
            json.dump(NOTES, out)
"""

FRAMED = """
FRAMINGS = [{"line_end": "\\r"}, {"line_end": "\\r\\n"}, {"multiline": True},
            {"line_end": "\\r", "multiline": True}]

@pytest.mark.parametrize("n", range(4))
def test_chat(n):
    for _ in oai().chat.completions.create(model="gpt-4o", messages=MSGS, stream=True,
            stream_options=USAGE, extra_headers=reply(1 + n, **FRAMINGS[n])):
        pass

@pytest.mark.parametrize("n", range(4))
def test_responses(n):
    for _ in oai().responses.create(model="gpt-5", input="hi", stream=True,
                                    extra_headers=reply(5 + n, **FRAMINGS[n])):
        pass

@pytest.mark.parametrize("n", range(4))
def test_messages(n):
    for _ in ant().messages.create(model="claude-x", max_tokens=9, messages=MSGS, stream=True,
                                   extra_headers=reply(9 + n, **FRAMINGS[n])):
        pass
"""


def figures_by_index(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Each inner test's figures by the index its reply used (its input tokens say which)."""
    return {test["input_tokens"] // 1000: test for test in report["tests"].values()}


@pytest.mark.parametrize("dist", DIST)
def test_cr_crlf_and_multiline_sse_are_counted_exactly(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inner=HEAD + FIGURES + FRAMED)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=12)
    want = fake_llm.totals()
    assert want["calls"] == 12
    assert {k: report["totals"][k] for k in want} == want
    by_index = figures_by_index(report)
    assert sorted(by_index) == list(range(1, 13))
    for i, test in by_index.items():
        served = figures(expected(i))
        assert {k: test[k] for k in served} == served
        assert test["calls"] == 1
    assert not [note for note in report["notes"] if "not counted" in note]


EARLY = """
KEPT = []  # streams this module holds past their tests' end

@pytest.fixture(scope="module", autouse=True)
def _close_kept():
    yield
    while KEPT:  # closing them now changes nothing: their tests have ended
        KEPT.pop().close()

def test_chat_broken_off_and_dropped():
    stream = oai().chat.completions.create(model="gpt-4o", messages=MSGS, stream=True,
        stream_options=USAGE, extra_headers=reply(1, pause_after=1))
    for _ in stream:
        break

def test_async_chat_broken_off_and_dropped():
    async def main():
        client = openai.AsyncOpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
        stream = await client.chat.completions.create(model="gpt-4o", messages=MSGS,
            stream=True, stream_options=USAGE, extra_headers=reply(7, pause_after=1))
        async for _ in stream:
            break
    asyncio.run(main())

def test_responses_broken_off_and_dropped():
    stream = oai().responses.create(model="gpt-5", input="hi", stream=True,
                                    extra_headers=reply(8, pause_after=1))
    for _ in stream:
        break

def test_messages_broken_off_and_dropped():
    stream = ant().messages.create(model="claude-x", max_tokens=9, messages=MSGS, stream=True,
                                   extra_headers=reply(2, pause_after=2))
    for _ in stream:
        break

def test_async_messages_broken_off_and_dropped():
    async def main():
        client = anthropic.AsyncAnthropic(base_url=URL, api_key="k", max_retries=0)
        stream = await client.messages.create(model="claude-x", max_tokens=9, messages=MSGS,
            stream=True, extra_headers=reply(3, pause_after=2))
        async for _ in stream:
            break
    asyncio.run(main())

def test_messages_left_open_after_their_first_event():
    stream = ant().messages.create(model="claude-x", max_tokens=9, messages=MSGS, stream=True,
                                   extra_headers=reply(4, pause_after=1))
    next(iter(stream))
    KEPT.append(stream)

def test_chat_left_unread():
    KEPT.append(oai().chat.completions.create(model="gpt-4o", messages=MSGS, stream=True,
        stream_options=USAGE, extra_headers=reply(5)))

def test_plain_call():
    oai().chat.completions.create(model="gpt-4o", messages=MSGS, extra_headers=reply(6))
"""


@pytest.mark.parametrize("dist", DIST)
def test_streams_broken_off_dropped_or_left_open_are_their_tests(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    """Anthropic's message_start carried the input: counted from it; OpenAI's usage had not
    arrived: one note each, on their own tests. In a fresh interpreter, where nothing else
    makes the garbage collector run early."""
    pytester.makepyfile(test_inner=HEAD + FIGURES + EARLY)
    pytester.makeconftest(NOTES_CONFTEST)
    try:
        result, report = run_report(pytester, *dist, subprocess=True)
    finally:
        fake_llm.release()
    result.assert_outcomes(passed=8)
    tests = report["tests"]
    for name, i in [
        ("test_messages_broken_off_and_dropped", 2),
        ("test_async_messages_broken_off_and_dropped", 3),
        ("test_messages_left_open_after_their_first_event", 4),
    ]:
        start = anthropic_usage(expected(i), start=True)  # what message_start said
        test = tests[f"test_inner.py::{name}"]
        assert test["input_tokens"] == expected(i).input_tokens, name
        assert test["cache_read_tokens"] == start["cache_read_input_tokens"], name
        assert (test["output_tokens"], test["calls"]) == (start["output_tokens"], 1), name
    plain = tests["test_inner.py::test_plain_call"]
    assert (plain["input_tokens"], plain["output_tokens"], plain["calls"]) == (6007, 63, 1)
    assert report["totals"]["calls"] == 4
    assert report["totals"]["uncounted_calls"] == 4
    notes = json.loads((pytester.path / "notes.json").read_text())
    early = {nodeid: n for nodeid, n in notes.items() if n}
    assert early == {
        f"test_inner.py::test_{name}": {NOTE_CLOSED_EARLY: 1}
        for name in (
            "chat_broken_off_and_dropped",
            "async_chat_broken_off_and_dropped",
            "responses_broken_off_and_dropped",
            "chat_left_unread",
        )
    }
