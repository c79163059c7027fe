"""Capture through the whole plugin: inner pytest runs call the real SDKs against the fake
server, and the JSON report must equal the server's log (serial, ``-n 2``, ``-W error``,
cassette replay)."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from fakellm import FakeLLM
from runs import DIST, run_report

pytest.importorskip("openai")
pytest.importorskip("anthropic")

INNER = """
import asyncio, json, os
import anthropic, openai
import pytest

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
MSGS = [{"role": "user", "content": "hi"}]

def reply(i, **extra):
    figures = dict(input_tokens=1000 * i + 7, output_tokens=10 * i + 3,
                   cache_read_tokens=100 * i, cache_write_tokens=i, reasoning_tokens=i)
    return {"x-fake-reply": json.dumps({**figures, **extra})}

CLIENTS = []  # closed after each test: under -W error a socket left to the garbage
              # collector raises ResourceWarning in whichever later test collects it

@pytest.fixture(autouse=True)
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

def test_openai_chat():
    oai().chat.completions.create(model="gpt-4o-mini", messages=MSGS, extra_headers=reply(1))

def test_openai_stream():
    for _ in oai().chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True,
            stream_options={"include_usage": True}, extra_headers=reply(2)):
        pass

def test_openai_stream_without_usage():
    for _ in oai().chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True,
            extra_headers=reply(3)):
        pass

def test_responses():
    oai().responses.create(model="gpt-5", input="hi", extra_headers=reply(4))

def test_anthropic():
    ant().messages.create(model="claude-fake", max_tokens=9, messages=MSGS,
                          extra_headers=reply(5, cache_write_1h_tokens=2))

def test_anthropic_stream_with_server_tool():
    with ant().messages.stream(model="claude-fake", max_tokens=9, messages=MSGS,
                               extra_headers=reply(6, start_input_tokens=50)) as s:
        s.get_final_message()

def test_async():
    async def main():
        client = openai.AsyncOpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
        await client.embeddings.create(model="text-embedding-3-small", input="x",
                                       extra_headers=reply(7))
        await client.close()
    asyncio.run(main())

def test_error():
    with pytest.raises(openai.InternalServerError):
        oai().chat.completions.create(model="gpt-4o-mini", messages=MSGS,
                                      extra_headers=reply(8, status=500))

def test_fixture_sees_captured_usage(token_tracker):
    oai().chat.completions.create(model="gpt-4o-mini", messages=MSGS, extra_headers=reply(9))
    assert token_tracker.usage.calls == 1
    assert token_tracker.usage.input_tokens == 9007
"""
TESTS = 9


def same_as_log(totals: dict[str, Any], fake: FakeLLM) -> None:
    want = fake.totals()
    assert {k: totals[k] for k in want} == want


@pytest.mark.parametrize("dist", DIST)
def test_report_equals_what_the_server_sent(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inner=INNER)
    gc.collect()  # this process's dropped clients: collected here, not inside the -W error run
    result, report = run_report(pytester, "-W", "error", *dist)
    result.assert_outcomes(passed=TESTS)
    same_as_log(report["totals"], fake_llm)
    assert report["totals"]["calls"] == 7  # no call for the error nor the usage-less stream
    tests = report["tests"]
    stream = tests["test_inner.py::test_openai_stream"]
    assert (stream["input_tokens"], stream["output_tokens"], stream["calls"]) == (2007, 23, 1)
    anthropic = tests["test_inner.py::test_anthropic"]
    assert (anthropic["input_tokens"], anthropic["cache_write_tokens"]) == (5007, 5)
    assert tests.get("test_inner.py::test_error", {}).get("calls", 0) == 0
    assert tests.get("test_inner.py::test_openai_stream_without_usage", {}).get("calls", 0) == 0
    by_server = {s.model: s.usage for s in fake_llm.counted()}
    assert by_server["claude-fake"] is not None
    assert "include_usage" in result.stdout.str()  # the uncountable stream is named


def test_capture_off_counts_nothing(pytester: pytest.Pytester, fake_llm: FakeLLM) -> None:
    """In a subprocess: this process has its own capture installed."""
    pytester.makepyfile(test_inner=INNER)
    args = ("--tokenbudget-capture=off", "-k", "not fixture")
    result, report = run_report(pytester, *args, subprocess=True)
    result.assert_outcomes(passed=TESTS - 1)
    assert fake_llm.totals()["calls"] == 6  # the server did serve them
    assert report["totals"]["calls"] == 0


def test_filterwarnings_error_in_config(pytester: pytest.Pytester, fake_llm: FakeLLM) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n')
    pytester.makepyfile(test_inner=INNER)
    result, report = run_report(pytester, subprocess=True)
    result.assert_outcomes(passed=TESTS)
    same_as_log(report["totals"], fake_llm)


def test_cassette_replay_gives_the_live_figures(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    pytest.importorskip("pytest_recording")
    marked = INNER.replace("\ndef test_", "\n@pytest.mark.vcr\ndef test_")
    pytester.makepyfile(test_inner=marked)
    # subprocesses: vcrpy cannot load a cassette in a second in-process run
    live, live_report = run_report(
        pytester, "--record-mode=once", json="live.json", subprocess=True
    )
    live.assert_outcomes(passed=TESTS)
    served = len(fake_llm.log)
    assert list((pytester.path / "cassettes").rglob("*.yaml"))
    replay, replay_report = run_report(
        pytester, "--record-mode=none", json="replay.json", subprocess=True
    )
    replay.assert_outcomes(passed=TESTS)
    assert len(fake_llm.log) == served  # nothing reached the server: all from cassettes
    live_totals = live_report["totals"]
    assert replay_report["totals"] == live_totals
    same_as_log(live_totals, fake_llm)


def test_clients_imported_after_start_are_captured_and_never_imported_for_nothing(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    """In a subprocess, where nothing imported httpx/httpx2 before the plugin started."""
    pytester.makepyfile(
        test_lazy="""
        import json, os, sys

        def test_first_no_client():
            assert "httpx2" not in sys.modules and "httpx" not in sys.modules

        def test_then_openai(token_tracker):
            import openai
            client = openai.OpenAI(base_url=os.environ["TOKENBUDGET_FAKE_LLM"] + "/v1",
                                   api_key="k", max_retries=0)
            client.chat.completions.create(model="gpt-4o-mini", messages=[],
                extra_headers={"x-fake-reply": json.dumps({"input_tokens": 321})})
            client.close()
            assert token_tracker.usage.input_tokens == 321
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:recording", "-p", "no:anyio", "-p", "no:xdist")
    result.assert_outcomes(passed=2)


def test_a_client_imported_again_after_its_modules_were_removed_is_captured_again(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    """A new module object (pytester's in-process runs remove what a run imported; so do
    module-purging isolation tools) is patched again, not only the first one."""
    pytester.makepyfile(
        test_again="""
        import json, os, sys

        def ask(tokens):
            import openai
            client = openai.OpenAI(base_url=os.environ["TOKENBUDGET_FAKE_LLM"] + "/v1",
                                   api_key="k", max_retries=0)
            client.chat.completions.create(model="gpt-4o-mini", messages=[],
                extra_headers={"x-fake-reply": json.dumps({"input_tokens": tokens})})
            client.close()

        def test_twice(token_tracker):
            ask(100)
            for name in [n for n in sys.modules if n.split(".")[0] in ("openai", "httpx2")]:
                del sys.modules[name]
            ask(20)
            assert token_tracker.usage.input_tokens == 120
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:recording", "-p", "no:anyio", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert fake_llm.totals()["input_tokens"] == 120
