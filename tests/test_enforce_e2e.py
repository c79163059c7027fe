"""Spend protection: with enforcement on, a request past a reached budget is never sent."""

from __future__ import annotations

import pytest

from fakellm import FakeLLM
from runs import DIST, run_report

pytest.importorskip("openai")

INNER = """
import json, os
import openai
import pytest
from pytest_tokenbudget import BudgetExceeded

URL = os.environ["TOKENBUDGET_FAKE_LLM"]

def ask(client):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-fake-reply": json.dumps({"input_tokens": 400, "output_tokens": 100})},
    )

@pytest.mark.token_budget(max_tokens=1000)
def test_runaway_agent():
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
    for _ in range(10):
        ask(client)

@pytest.mark.token_budget(max_calls=1, enforce=False)
def test_not_enforced():
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
    ask(client)
    ask(client)

@pytest.mark.token_budget(max_calls=2)
def test_exception_carries_the_limit():
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
    ask(client); ask(client)
    with pytest.raises(BudgetExceeded) as info:
        ask(client)
    assert (info.value.scope, info.value.metric, info.value.limit, info.value.actual) == (
        "test", "calls", 2, 2)
"""


@pytest.mark.parametrize("dist", DIST)
def test_enforcement_refuses_requests_once_the_budget_is_reached(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_agent=INNER)
    result, report = run_report(pytester, "--tokenbudget-enforce", *dist)
    # test_exception_carries_the_limit caught its refusal, and fails all the same
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ test_runaway_agent _*",
            "tokenbudget refused an LLM request: test budget reached, "
            "1,000 tokens >= max_tokens 1,000 (marker)",
            "refused at test_agent.py:*",
        ]
    )
    # 2 calls of 500 tokens reach 1,000; the 3rd is refused before it is sent.
    served = [s for s in fake_llm.log if s.counted]
    assert len(served) == 2 + 2 + 2
    tests = report["tests"]
    runaway = tests["test_agent.py::test_runaway_agent"]
    assert (runaway["calls"], runaway["total_tokens"], runaway["refused_calls"]) == (2, 1000, 1)
    assert tests["test_agent.py::test_not_enforced"]["refused_calls"] == 0
    assert tests["test_agent.py::test_exception_carries_the_limit"]["refused_calls"] == 1


def test_run_budget_enforced_in_a_serial_run(pytester: pytest.Pytester, fake_llm: FakeLLM) -> None:
    pytester.makepyfile(
        test_run="""
        import json, os
        import openai

        URL = os.environ["TOKENBUDGET_FAKE_LLM"]

        def test_a():
            client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
            for _ in range(3):
                client.chat.completions.create(model="gpt-4o-mini", messages=[],
                    extra_headers={"x-fake-reply": json.dumps({"input_tokens": 500})})

        def test_b():
            test_a()
        """
    )
    result = pytester.runpytest("--tokenbudget-enforce", "--tokenbudget-max-tokens=2000")
    result.assert_outcomes(passed=1, failed=1)  # test_b crosses 2,000 then is refused
    result.stdout.fnmatch_lines(["*run budget reached*"])
    assert len([s for s in fake_llm.log if s.counted]) == 4


def test_run_budget_is_shared_by_xdist_workers(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    pytester.makepyfile(
        test_run="""
        import json, os
        import openai
        import pytest

        URL = os.environ["TOKENBUDGET_FAKE_LLM"]

        @pytest.mark.parametrize("i", range(8))
        def test_agent(i):
            client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
            for _ in range(5):
                client.chat.completions.create(model="gpt-4o-mini", messages=[],
                    extra_headers={"x-fake-reply": json.dumps(
                        {"input_tokens": 95, "output_tokens": 5})})
        """
    )
    result, report = run_report(
        pytester, "--tokenbudget-enforce", "--tokenbudget-max-tokens=1000", "-n", "2"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    served = len([s for s in fake_llm.log if s.counted])
    # 10 calls of 100 tokens reach the limit; each of the 2 workers may have one more in flight.
    assert 10 <= served <= 12
    assert report["totals"]["calls"] == served
    # each refused test stopped at its first refused request
    assert report["totals"]["refused_calls"] == result.parseoutcomes()["failed"] >= 5


def test_marker_enforces_without_the_option(pytester: pytest.Pytester, fake_llm: FakeLLM) -> None:
    """Spend protection is hooked in only when something could be refused: a marker's
    ``enforce=True`` alone (its own limits, or the run budget) is enough."""
    pytester.makepyfile(
        test_run="""
        import json, os
        import openai
        import pytest

        URL = os.environ["TOKENBUDGET_FAKE_LLM"]

        def ask(n):
            client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
            for _ in range(n):
                client.chat.completions.create(model="gpt-4o-mini", messages=[],
                    extra_headers={"x-fake-reply": json.dumps({"input_tokens": 500})})

        @pytest.mark.token_budget(max_calls=1, enforce=True)
        def test_own_limit():
            ask(2)

        @pytest.mark.token_budget(enforce=True)
        def test_run_budget():
            ask(2)

        def test_unenforced_past_the_run_budget():
            ask(3)
        """
    )
    result = pytester.runpytest("--tokenbudget-max-tokens=1000")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*test budget reached*", "*run budget reached*"])
    # 505 tokens a call: own limit after 1 call, run budget (1,010 >= 1,000) after 1 more
    assert len([s for s in fake_llm.log if s.counted]) == 1 + 1 + 3
