"""Through the whole plugin, serial and ``-n 2``, with the real SDKs against the fake server:
a reply that capture recognised as an LLM call but could not count is its test's
``uncounted_calls``, named in the notes and by the test's budget; a reply whose figures no real
reply carries is one of them too, and never a figure (the fake's log decides what counts)."""

from __future__ import annotations

from typing import Any

import pytest

from fakellm import FakeLLM
from runs import DIST, run_report

pytest.importorskip("openai")
pytest.importorskip("anthropic")

HEAD = """
import json, os
import anthropic, openai
import pytest

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
MSGS = [{"role": "user", "content": "hi"}]

def reply(**figures):
    return {"x-fake-reply": json.dumps(figures)}

def oai():
    return openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)

def ant():
    return anthropic.Anthropic(base_url=URL, api_key="k", max_retries=0)
"""

STREAM_WITHOUT_USAGE = (
    HEAD
    + """
@pytest.mark.token_budget(max_tokens=1000)
def test_stream_without_usage():
    with oai() as client:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True):
            pass

def test_counted():
    with oai() as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
"""
)
NOTE = (
    "test_inner.py::test_stream_without_usage: 1 call not counted (chat stream without usage: "
    'pass stream_options={"include_usage": True})'
)
BUDGET_NOTE = "max_tokens checked on counted calls only: 1 call could not be checked (not counted)"


def same_as_log(report: dict[str, Any], fake: FakeLLM) -> None:
    want = fake.totals()
    assert {k: report["totals"][k] for k in want} == want


@pytest.mark.parametrize("dist", DIST)
def test_a_chat_stream_without_usage_is_its_tests_uncounted_call(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inner=STREAM_WITHOUT_USAGE)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=2)  # a call that could not be checked fails nothing
    same_as_log(report, fake_llm)
    assert fake_llm.totals()["uncounted_calls"] == 1
    lost = report["tests"]["test_inner.py::test_stream_without_usage"]
    assert (lost["calls"], lost["uncounted_calls"], lost["total_tokens"]) == (0, 1, 0)
    assert lost["by_model"]["gpt-4o-mini"]["uncounted_calls"] == 1  # the model it asked for
    assert lost["budget"]["note"] == BUDGET_NOTE
    assert report["tests"]["test_inner.py::test_counted"]["uncounted_calls"] == 0
    assert report["notes"] == [NOTE]
    result.stdout.fnmatch_lines(
        [
            "run total: 17 tokens (input 12, output 5) in 1 call, *, 1 call not counted",
            f"note: {NOTE}",
            "limits not fully checked:",
            f"  test_inner.py::test_stream_without_usage: {BUDGET_NOTE}",
        ]
    )


IMPLAUSIBLE = (
    HEAD
    + """
@pytest.mark.parametrize("value", [2**70, -1, 1.5, "12"], ids=["huge", "negative", "float", "text"])
def test_chat(value):
    with oai() as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS,
                                       extra_headers=reply(input_tokens=value))
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)  # a good one beside

def test_chat_stream():
    with oai() as client:
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=MSGS, stream=True,
            stream_options={"include_usage": True}, extra_headers=reply(output_tokens=-5)
        ):
            pass

@pytest.mark.parametrize("iterations", [{}, "x"], ids=["object", "text"])
def test_anthropic_iterations(iterations):
    with ant() as client:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=9, messages=MSGS,
                               extra_headers=reply(iterations=iterations))
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=9, messages=MSGS,
                                    extra_headers=reply(iterations=iterations)) as stream:
            for _ in stream:
                pass
"""
)


@pytest.mark.parametrize("dist", DIST)
def test_an_implausible_reply_is_uncounted_and_noted_never_a_figure(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inner=IMPLAUSIBLE)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=7)
    same_as_log(report, fake_llm)  # only the good replies are figures
    assert report["totals"]["calls"] == 4
    assert report["totals"]["input_tokens"] == 4 * 12
    assert report["totals"]["uncounted_calls"] == 4 + 1 + 2 * 2
    tests = report["tests"]
    for case in ("huge", "negative", "float", "text"):
        assert tests[f"test_inner.py::test_chat[{case}]"]["uncounted_calls"] == 1
    notes = "\n".join(report["notes"])
    for case, figure in (
        ("huge", "prompt_tokens must be a non-negative integer of at most 2**53, got "
                 "1180591620717411303424: no real reply carries that many"),
        ("negative", "prompt_tokens must be a non-negative integer, got -1"),
        ("float", "prompt_tokens must be a non-negative integer, got 1.5 (float)"),
        ("text", "prompt_tokens must be a non-negative integer, got str"),  # not the reply's text
    ):  # fmt: skip
        assert (
            f"test_inner.py::test_chat[{case}]: 1 call not counted "
            f"(unreadable provider response body: {figure})"
        ) in notes
    assert (
        "test_inner.py::test_chat_stream: 1 call not counted (unreadable provider response "
        "body: completion_tokens must be a non-negative integer, got -5)"
    ) in notes
    for case, kind in (("object", "dict"), ("text", "str")):
        assert tests[f"test_inner.py::test_anthropic_iterations[{case}]"] == {
            **tests[f"test_inner.py::test_anthropic_iterations[{case}]"],
            "calls": 0,
            "uncounted_calls": 2,  # the whole reply and the stream
            "total_tokens": 0,
        }
        assert (
            f"test_inner.py::test_anthropic_iterations[{case}]: 2 calls not counted "
            "(unreadable provider response body: usage.iterations must be a list of objects, "
            f"got {kind})"
        ) in notes


CALLS_WITHOUT_USAGE = (
    HEAD
    + """
from pytest_tokenbudget import BudgetExceeded

@pytest.mark.token_budget(max_calls=2, enforce=True)
def test_streams_without_usage():
    with oai() as client:
        for _ in range(2):
            for _ in client.chat.completions.create(
                model="gpt-4o-mini", messages=MSGS, stream=True
            ):
                pass
        with pytest.raises(BudgetExceeded):
            client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True)
"""
)


@pytest.mark.parametrize("dist", DIST)
def test_an_uncounted_call_still_counts_against_max_calls_under_spend_protection(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inner=CALLS_WITHOUT_USAGE)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(failed=1)  # refused: the test fails with the budget message
    result.stdout.fnmatch_lines(["*2 calls >= max_calls 2 (marker)*"])
    assert fake_llm.totals()["uncounted_calls"] == 2  # the third request was never sent
    lost = report["tests"]["test_inner.py::test_streams_without_usage"]
    assert (lost["calls"], lost["uncounted_calls"], lost["refused_calls"]) == (0, 2, 1)
