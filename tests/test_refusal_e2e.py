"""A refused request reaches the test as ``BudgetExceeded`` and fails it, whatever it caught.

The SDKs run with their default ``max_retries``: a refusal they retried would show as more than
one refused call per test, and one they wrapped would fail the test with the SDK's traceback
instead of the budget message. Also run on the older SDK pair by ``.ci/old-sdks.sh``.
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

import pytest

from fakellm import FakeLLM
from runs import DIST, run_report

pytest.importorskip("openai")
pytest.importorskip("anthropic")

COMMON = """
import asyncio, os
import anthropic, openai
import pytest
from pytest_tokenbudget import BudgetExceeded

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
MSGS = [{"role": "user", "content": "hi"}]
CHAT = dict(model="gpt-4o-mini", messages=MSGS)
CLAUDE = dict(model="claude-fake", max_tokens=9, messages=MSGS)

def oai():
    return openai.OpenAI(base_url=URL + "/v1", api_key="k")

def aoai():
    return openai.AsyncOpenAI(base_url=URL + "/v1", api_key="k")

def ant():
    return anthropic.Anthropic(base_url=URL, api_key="k")

def aant():
    return anthropic.AsyncAnthropic(base_url=URL, api_key="k")

def ask(client):
    client.chat.completions.create(**CHAT)
"""

SDKS = (
    COMMON
    + """
def openai_sync(c):
    c.chat.completions.create(**CHAT)

def openai_stream(c):
    for _ in c.chat.completions.create(
            **CHAT, stream=True, stream_options={"include_usage": True}):
        pass

def openai_streaming_response(c):
    with c.chat.completions.with_streaming_response.create(**CHAT) as response:
        response.parse()

async def openai_async(c):
    await c.chat.completions.create(**CHAT)

async def openai_async_stream(c):
    async for _ in await c.chat.completions.create(
            **CHAT, stream=True, stream_options={"include_usage": True}):
        pass

def anthropic_sync(c):
    c.messages.create(**CLAUDE)

def anthropic_stream(c):
    for _ in c.messages.create(**CLAUDE, stream=True):
        pass

def anthropic_stream_helper(c):
    with c.messages.stream(**CLAUDE) as stream:
        stream.get_final_message()

def anthropic_streaming_response(c):
    with c.messages.with_streaming_response.create(**CLAUDE) as response:
        response.parse()

async def anthropic_async(c):
    await c.messages.create(**CLAUDE)

async def anthropic_async_stream(c):
    async with c.messages.stream(**CLAUDE) as stream:
        await stream.get_final_message()

CASES = {
    f.__name__: (client, f)
    for client, f in [
        (oai, openai_sync), (oai, openai_stream), (oai, openai_streaming_response),
        (aoai, openai_async), (aoai, openai_async_stream),
        (ant, anthropic_sync), (ant, anthropic_stream), (ant, anthropic_stream_helper),
        (ant, anthropic_streaming_response),
        (aant, anthropic_async), (aant, anthropic_async_stream),
    ]
}

@pytest.mark.token_budget(max_calls=1, enforce=True)
@pytest.mark.parametrize("case", list(CASES))
def test_second_call(case):
    make, once = CASES[case]
    if not asyncio.iscoroutinefunction(once):
        with make() as client:
            once(client)
            once(client)

    async def twice():
        async with make() as client:
            await once(client)
            await once(client)

    asyncio.run(twice())
"""
)

CASE_NAMES = [
    "openai_sync",
    "openai_stream",
    "openai_streaming_response",
    "openai_async",
    "openai_async_stream",
    "anthropic_sync",
    "anthropic_stream",
    "anthropic_stream_helper",
    "anthropic_streaming_response",
    "anthropic_async",
    "anthropic_async_stream",
]

REFUSED_ONCE = (
    "tokenbudget refused an LLM request: test budget reached, 1 call >= max_calls 1 (marker)"
)


def failures(result: pytest.RunResult) -> dict[str, str]:
    """Each failed report's longrepr as the user sees it, by ``nodeid when``."""
    reprec: Any = getattr(result, "reprec")  # noqa: B009 (set by in-process runs, untyped)
    return {f"{r.nodeid} {r.when}": str(r.longrepr) for r in reprec.getfailures()}


@pytest.mark.parametrize("dist", DIST)
def test_refused_sdk_call_raises_budget_exceeded_unwrapped_and_not_retried(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_sdks=SDKS)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(failed=len(CASE_NAMES))
    # one request per test reached the server; the second was refused once, never retried
    assert len(fake_llm.log) == len(CASE_NAMES)
    for case in CASE_NAMES:
        nodeid = f"test_sdks.py::test_second_call[{case}]"
        test = report["tests"][nodeid]
        assert (test["calls"], test["refused_calls"]) == (1, 1), case
        # BudgetExceeded came out of the SDK call itself: the failure is the budget message
        # and where the test made the call, not the SDK's frames (nor APIConnectionError)
        shown = failures(result)[f"{nodeid} call"].splitlines()
        assert shown[0] == REFUSED_ONCE, case
        assert shown[1].startswith("refused at test_sdks.py:"), case
        assert len(shown) == 2, case
    assert "_base_client" not in result.stdout.str()
    violations = report["violations"]
    assert len(violations) == len(CASE_NAMES)
    assert {(v["kind"], v["metric"], v["limit"], v["actual"]) for v in violations} == {
        ("test_budget", "calls", 1, 1)
    }
    assert {v["message"] for v in violations} == {REFUSED_ONCE}
    assert report["passed"] is False


CAUGHT = (
    COMMON
    + """
def claude(client):
    client.messages.create(**CLAUDE)

LOOPS = {  # an agent's "retry on any error", or on anything at all
    "except_exception": (oai, ask, Exception),
    "except_exception_anthropic": (ant, claude, Exception),
    "except_base_exception": (oai, ask, BaseException),
}

@pytest.mark.token_budget(max_calls=2, enforce=True)
@pytest.mark.parametrize("loop", list(LOOPS))
def test_agent_loop(loop):
    make, ask_once, catching = LOOPS[loop]
    with make() as client:
        for _ in range(5):
            try:
                ask_once(client)
            except catching:
                pass

@pytest.mark.token_budget(max_calls=2, enforce=True)
def test_pytest_raises():
    with oai() as client:
        ask(client)
        ask(client)
        with pytest.raises(BudgetExceeded) as info:
            ask(client)
    assert (info.value.scope, info.value.metric, info.value.limit, info.value.actual) == (
        "test", "calls", 2, 2)

@pytest.mark.token_budget(max_calls=1, enforce=True)
def test_gather_return_exceptions():
    async def main():
        async with aoai() as client:
            await client.chat.completions.create(**CHAT)
            calls = [client.chat.completions.create(**CHAT) for _ in range(3)]
            return await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, BudgetExceeded) for r in asyncio.run(main()))

@pytest.fixture
def asks_at_teardown():
    with oai() as client:
        yield client
        try:
            ask(client)
        except BaseException:
            pass

@pytest.mark.token_budget(max_calls=1, enforce=True)
def test_refused_in_teardown(asks_at_teardown):
    ask(asks_at_teardown)
"""
)


CAUGHT_NOTE = "a refused request fails the test even when its code catches it"
#: test -> (the failed phase, the limit reached, requests refused, the failure's second line)
CAUGHT_EXPECTED = {
    "test_agent_loop[except_exception]": ("call", 2, 1, "refused at test_caught.py:*"),
    "test_agent_loop[except_exception_anthropic]": ("call", 2, 1, "refused at test_caught.py:*"),
    "test_agent_loop[except_base_exception]": (
        "call",
        2,
        3,
        f"first refused at test_caught.py:*; {CAUGHT_NOTE}",
    ),
    "test_pytest_raises": ("call", 2, 1, f"refused at test_caught.py:*; {CAUGHT_NOTE}"),
    "test_gather_return_exceptions": ("call", 1, 3, CAUGHT_NOTE),
    "test_refused_in_teardown": (
        "teardown",
        1,
        1,
        f"refused at test_caught.py:*; {CAUGHT_NOTE}",
    ),
}


@pytest.mark.parametrize("dist", DIST)
def test_a_caught_refusal_fails_the_test(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    """``except Exception`` does not catch the refusal; whatever does catch it, the test fails
    (its teardown report when the refusal came after the call phase passed)."""
    pytester.makepyfile(test_caught=CAUGHT)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(failed=5, passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert len(fake_llm.log) == 2 + 2 + 2 + 2 + 1 + 1
    shown = failures(result)
    assert len(shown) == len(CAUGHT_EXPECTED)
    violations = {v["nodeid"]: v for v in report["violations"]}
    assert len(violations) == len(CAUGHT_EXPECTED)
    for name, (when, limit, refused, where) in CAUGHT_EXPECTED.items():
        nodeid = f"test_caught.py::{name}"
        calls = "call" if limit == 1 else "calls"
        what = "an LLM request" if refused == 1 else f"{refused} LLM requests"
        reached = f"{limit} {calls} >= max_calls {limit} (marker)"
        message = f"tokenbudget refused {what}: test budget reached, {reached}"
        first, second = shown[f"{nodeid} {when}"].splitlines()
        assert first == message, name
        assert fnmatch(second, where), (name, second)
        test = report["tests"][nodeid]
        assert (test["refused_calls"], test["status"]) == (
            refused,
            "error" if when == "teardown" else "failed",
        ), name
        violation = violations[nodeid]
        assert (violation["kind"], violation["metric"], violation["message"]) == (
            "test_budget",
            "calls",
            message,
        ), name
        assert violation["limit"] == violation["actual"] == limit, name
    assert report["passed"] is False


PROPAGATES = (
    COMMON
    + """
import sys
from concurrent.futures import ThreadPoolExecutor

@pytest.mark.token_budget(max_calls=1, enforce=True)
def test_gather():
    async def main():
        async with aoai() as client:
            await client.chat.completions.create(**CHAT)
            await asyncio.gather(*[client.chat.completions.create(**CHAT) for _ in range(3)])
    asyncio.run(main())

@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is 3.11+")
@pytest.mark.token_budget(max_calls=1, enforce=True)
def test_task_group():
    async def main():
        async with aoai() as client:
            await client.chat.completions.create(**CHAT)
            async with asyncio.TaskGroup() as group:
                for _ in range(3):
                    group.create_task(client.chat.completions.create(**CHAT))
    asyncio.run(main())

@pytest.mark.token_budget(max_calls=1, enforce=True)
def test_thread_pool():
    with oai() as client, ThreadPoolExecutor(2) as pool:
        pool.submit(ask, client).result()
        pool.submit(ask, client).result()
"""
)


@pytest.mark.parametrize("dist", DIST)
def test_asyncio_and_thread_pools_carry_the_refusal_to_the_test(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    """A ``BaseException`` is no obstacle to asyncio tasks, ``gather``, ``TaskGroup`` or
    ``concurrent.futures``: the refusal reaches the awaiting test as raised."""
    pytester.makepyfile(test_pools=PROPAGATES)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(failed=3)
    assert len(fake_llm.log) == 3
    shown = failures(result)
    for name, refused in (("test_gather", 3), ("test_task_group", 3), ("test_thread_pool", 1)):
        nodeid = f"test_pools.py::{name}"
        what = "an LLM request" if refused == 1 else f"{refused} LLM requests"
        first, second = shown[f"{nodeid} call"].splitlines()
        assert first == (
            f"tokenbudget refused {what}: test budget reached, 1 call >= max_calls 1 (marker)"
        )
        assert fnmatch(second, "*refused at test_pools.py:*"), (name, second)
        assert CAUGHT_NOTE not in second, name  # raised, not caught
        assert report["tests"][nodeid]["refused_calls"] == refused


RUN_BUDGET = (
    COMMON
    + """
def test_agent():
    with oai() as client:
        for _ in range(3):
            try:
                client.chat.completions.create(**CHAT, extra_headers={
                    "x-fake-reply": '{"input_tokens": 500, "output_tokens": 0}'})
            except BaseException:
                pass
"""
)


def test_a_caught_run_budget_refusal_fails_the_test(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    """A test without limits of its own, refused by the run budget: the violation names it."""
    pytester.makepyfile(test_run=RUN_BUDGET)
    result, report = run_report(pytester, "--tokenbudget-enforce", "--tokenbudget-max-tokens=1000")
    result.assert_outcomes(failed=1)
    assert len(fake_llm.log) == 2
    message = (
        "tokenbudget refused an LLM request: run budget reached, "
        "1,000 tokens >= max_tokens 1,000 (command line --tokenbudget-max-tokens)"
    )
    assert failures(result)["test_run.py::test_agent call"].splitlines()[0] == message
    (violation,) = report["violations"]  # 1,000 tokens is not over the run budget: no other
    assert violation == {
        "kind": "run_budget",
        "nodeid": "test_run.py::test_agent",
        "metric": "total_tokens",
        "limit": 1000,
        "actual": 1000,
        "message": message,
    }


WARN_ONLY = (
    COMMON
    + """
@pytest.mark.token_budget(max_calls=1, enforce=True)
def test_agent():
    with oai() as client:
        client.chat.completions.create(**CHAT)
        with pytest.raises(BudgetExceeded):
            client.chat.completions.create(**CHAT)
"""
)


def test_warn_only_reports_a_caught_refusal_without_failing(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    pytester.makepyfile(test_warn=WARN_ONLY)
    result, report = run_report(pytester, "--tokenbudget-warn-only")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert len(fake_llm.log) == 1
    (violation,) = report["violations"]
    assert violation["message"] == REFUSED_ONCE
    result.stdout.fnmatch_lines(["budget violations (warn-only: not failing):"])
