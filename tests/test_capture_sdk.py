"""The real OpenAI and Anthropic SDKs against the loopback fake: every way of calling them is
counted once, for the test that made the call, with the figures the server sent."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

from fakellm import FakeLLM, Reply
from pytest_tokenbudget import capture
from pytest_tokenbudget.providers.base import NOTE_CLOSED_EARLY
from pytest_tokenbudget.providers.openai import NOTE_NO_STREAM_USAGE
from pytest_tokenbudget.tracker import TokenTracker
from pytest_tokenbudget.usage import Cell, Usage

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

MSGS = [{"role": "user", "content": "hi"}]
RICH = Reply(input_tokens=300, output_tokens=40, cache_read_tokens=200, cache_write_tokens=50)
THINK = Reply(input_tokens=90, output_tokens=60, reasoning_tokens=25)


def http_module(sdk: ModuleType) -> Any:
    """The HTTP client package the installed SDK is built on (httpx2, or httpx for old ones)."""
    base = importlib.import_module(sdk.__name__ + "._base_client")
    return getattr(base, "httpx2", None) or base.httpx


def figures(tracker: TokenTracker) -> dict[str, int]:
    u = tracker.usage
    names = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    out = {name: getattr(u, name) for name in (*names, "reasoning_tokens", "calls")}
    out["uncounted_calls"] = u.uncounted_calls
    out["total_tokens"] = u.total_tokens
    return out


def same(tracker: TokenTracker, fake: FakeLLM, calls: int) -> None:
    assert fake.totals()["calls"] == calls
    assert figures(tracker) == fake.totals()


@pytest.fixture
def oai(fake_llm: FakeLLM) -> Any:
    return openai.OpenAI(base_url=fake_llm.openai_url, api_key="sk-fake", max_retries=0)


@pytest.fixture
def aoai(fake_llm: FakeLLM) -> Any:
    return openai.AsyncOpenAI(base_url=fake_llm.openai_url, api_key="sk-fake", max_retries=0)


@pytest.fixture
def ant(fake_llm: FakeLLM) -> Any:
    return anthropic.Anthropic(base_url=fake_llm.url, api_key="sk-fake", max_retries=0)


@pytest.fixture
def aant(fake_llm: FakeLLM) -> Any:
    return anthropic.AsyncAnthropic(base_url=fake_llm.url, api_key="sk-fake", max_retries=0)


@pytest.fixture(autouse=True)
def _capture_on() -> Any:
    """Our suite may run with ``--tokenbudget-capture=off``; these tests need it on."""
    undo = capture.install()
    yield
    undo()


# -- OpenAI ------------------------------------------------------------------------------------
def test_openai_chat_sync(oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker) -> None:
    fake_llm.queue(RICH, THINK)
    oai.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    oai.chat.completions.create(model="o4-mini", messages=MSGS)
    same(token_tracker, fake_llm, calls=2)
    assert set(token_tracker.by_model) == {"gpt-4o-mini", "o4-mini"}


def test_openai_chat_async_and_streams(
    aoai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    async def main() -> None:
        await aoai.chat.completions.create(model="gpt-4o", messages=MSGS)
        stream = await aoai.chat.completions.create(
            model="gpt-4o", messages=MSGS, stream=True, stream_options={"include_usage": True}
        )
        async for _ in stream:
            pass
        async with aoai.chat.completions.stream(
            model="gpt-4o", messages=MSGS, stream_options={"include_usage": True}
        ) as helper:
            await helper.get_final_completion()
        await aoai.close()

    fake_llm.queue(RICH, THINK, RICH)
    asyncio.run(main())
    same(token_tracker, fake_llm, calls=3)


def test_openai_chat_stream_sync_and_helper(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    fake_llm.queue(RICH, THINK)
    usage = {"include_usage": True}
    for _ in oai.chat.completions.create(
        model="gpt-4o", messages=MSGS, stream=True, stream_options=usage
    ):
        pass
    with oai.chat.completions.stream(model="gpt-4o", messages=MSGS, stream_options=usage) as s:
        for _ in s:
            pass
    same(token_tracker, fake_llm, calls=2)


def test_chat_stream_without_include_usage_is_an_uncounted_call(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    with token_tracker.operation("summarise"):
        for _ in oai.chat.completions.create(model="gpt-4o", messages=MSGS, stream=True):
            pass
    assert token_tracker.cells() == {Cell("gpt-4o", "summarise"): Usage(uncounted_calls=1)}
    assert token_tracker.uncounted_reasons == {NOTE_NO_STREAM_USAGE: 1}
    assert token_tracker.notes == {}
    same(token_tracker, fake_llm, calls=0)


def test_openai_raw_and_streaming_response(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    fake_llm.queue(RICH, THINK, RICH)
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=MSGS)
    raw.parse()
    with oai.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MSGS
    ) as response:
        response.parse()
    with oai.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MSGS, stream=True, stream_options={"include_usage": True}
    ) as response:
        for _ in response.iter_lines():
            pass
    same(token_tracker, fake_llm, calls=3)


def test_openai_parse_helpers(oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        answer: str

    fake_llm.queue(RICH, THINK)
    parsed = oai.chat.completions.parse(model="gpt-4o", messages=MSGS, response_format=Answer)
    assert parsed.choices[0].message.parsed.answer == "fake"
    if hasattr(oai, "responses"):
        oai.responses.parse(model="gpt-5", input="hi", text_format=Answer)
    same(token_tracker, fake_llm, calls=fake_llm.totals()["calls"])
    assert token_tracker.usage.calls >= 1


def test_openai_responses_json_stream_and_helper(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    if not hasattr(oai, "responses"):
        pytest.skip("this openai has no Responses API")
    fake_llm.queue(RICH, THINK, RICH)
    oai.responses.create(model="gpt-5", input="hi")
    for _ in oai.responses.create(model="gpt-5", input="hi", stream=True):
        pass
    with oai.responses.stream(model="gpt-5", input="hi") as stream:
        stream.get_final_response()
    same(token_tracker, fake_llm, calls=3)


def test_background_response_counts_once_when_polled(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    if not hasattr(oai, "responses"):
        pytest.skip("this openai has no Responses API")
    fake_llm.queue(THINK)
    queued = oai.responses.create(model="gpt-5", input="hi", background=True)
    assert queued.usage is None
    assert token_tracker.usage.calls == 0
    oai.responses.retrieve(queued.id)
    oai.responses.retrieve(queued.id)  # a later poll of the same response: a duplicate
    for _ in oai.responses.retrieve(queued.id, stream=True):
        pass
    same(token_tracker, fake_llm, calls=1)


def test_compact_is_counted_and_named_after_the_requested_model(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    if not hasattr(getattr(oai, "responses", None), "compact"):
        pytest.skip("this openai has no responses.compact")
    fake_llm.queue(Reply(input_tokens=140_000, output_tokens=2_100))
    oai.responses.compact(model="gpt-5", input="hi")
    same(token_tracker, fake_llm, calls=1)
    assert set(token_tracker.by_model) == {"gpt-5"}


def test_openai_embeddings_and_completions(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    oai.embeddings.create(model="text-embedding-3-small", input="hi")
    oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    for _ in oai.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt="hi",
        stream=True,
        stream_options={"include_usage": True},
    ):
        pass
    same(token_tracker, fake_llm, calls=3)


@pytest.mark.parametrize("status", [400, 429, 500])
def test_errors_reach_the_user_and_count_nothing(
    oai: Any, ant: Any, fake_llm: FakeLLM, token_tracker: TokenTracker, status: int
) -> None:
    fake_llm.error(status)
    with pytest.raises(openai.APIStatusError) as oerr:
        oai.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert oerr.value.status_code == status
    fake_llm.error(status)
    with pytest.raises(anthropic.APIStatusError) as aerr:
        ant.messages.create(model="claude-x", max_tokens=5, messages=MSGS)
    assert aerr.value.status_code == status
    same(token_tracker, fake_llm, calls=0)
    assert token_tracker.notes == token_tracker.uncounted_reasons == {}
    assert token_tracker.usage.uncounted_calls == 0


def test_early_break_from_streams(
    oai: Any, ant: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    """Usage sent after the break is never read (we never read ahead of the caller): an
    abandoned OpenAI stream has no usage yet; an Anthropic one counts message_start's."""
    fake_llm.queue(Reply(pause_after=1), Reply(input_tokens=70, output_tokens=30,
                   cache_read_tokens=20, pause_after=2))  # fmt: skip
    with oai.chat.completions.create(
        model="gpt-4o", messages=MSGS, stream=True, stream_options={"include_usage": True}
    ) as stream:
        for _ in stream:
            break
    assert token_tracker.usage == Usage(uncounted_calls=1)
    assert token_tracker.uncounted_reasons == {NOTE_CLOSED_EARLY: 1}
    with ant.messages.stream(model="claude-x", max_tokens=5, messages=MSGS) as astream:
        for _ in astream:
            break
    fake_llm.release()
    assert token_tracker.by_model["claude-x"].input_tokens == 70
    assert token_tracker.by_model["claude-x"].cache_read_tokens == 20
    assert token_tracker.by_model["claude-x"].output_tokens == 1  # as message_start said
    assert token_tracker.usage.calls == 1


# -- Anthropic ---------------------------------------------------------------------------------
def test_anthropic_sync_stream_helper_and_raw(
    ant: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    fake_llm.queue(
        Reply(input_tokens=500, output_tokens=40, cache_read_tokens=300, cache_write_tokens=100,
              cache_write_1h_tokens=60),
        THINK,
        Reply(input_tokens=900, output_tokens=70, start_input_tokens=400),  # server tool
        RICH,
        RICH,
    )  # fmt: skip
    ant.messages.create(model="claude-fake-1", max_tokens=5, messages=MSGS)
    for _ in ant.messages.create(model="claude-x", max_tokens=5, messages=MSGS, stream=True):
        pass
    with ant.messages.stream(model="claude-x", max_tokens=5, messages=MSGS) as stream:
        final = stream.get_final_message()
    assert final.usage.input_tokens == 900
    ant.messages.with_raw_response.create(model="claude-x", max_tokens=5, messages=MSGS).parse()
    with ant.messages.with_streaming_response.create(
        model="claude-x", max_tokens=5, messages=MSGS
    ) as response:
        response.parse()
    same(token_tracker, fake_llm, calls=5)


def test_anthropic_async(aant: Any, fake_llm: FakeLLM, token_tracker: TokenTracker) -> None:
    async def main() -> None:
        await aant.messages.create(model="claude-x", max_tokens=5, messages=MSGS)
        stream = await aant.messages.create(
            model="claude-x", max_tokens=5, messages=MSGS, stream=True
        )
        async for _ in stream:
            pass
        async with aant.messages.stream(model="claude-x", max_tokens=5, messages=MSGS) as s:
            await s.get_final_message()
        await aant.close()

    fake_llm.queue(RICH, THINK, RICH)
    asyncio.run(main())
    same(token_tracker, fake_llm, calls=3)


# -- clients the user builds -------------------------------------------------------------------
def test_user_supplied_http_clients(fake_llm: FakeLLM, token_tracker: TokenTracker) -> None:
    http = http_module(openai)
    with http.Client() as client:
        oai = openai.OpenAI(
            base_url=fake_llm.openai_url, api_key="k", http_client=client, max_retries=0
        )
        oai.chat.completions.create(model="gpt-4o", messages=MSGS)
    ahttp = http_module(anthropic)
    with ahttp.Client() as client:
        ant = anthropic.Anthropic(base_url=fake_llm.url, api_key="k", http_client=client)
        ant.messages.create(model="claude-x", max_tokens=5, messages=MSGS)
    import httpx  # raw HTTP to an OpenAI-compatible endpoint is recognised too

    with httpx.Client() as client:
        client.post(fake_llm.openai_url + "/chat/completions", json={"model": "local"})
    same(token_tracker, fake_llm, calls=3)


def test_manual_record_of_a_captured_response_is_deduplicated(
    oai: Any, ant: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    completion = oai.chat.completions.create(model="gpt-4o", messages=MSGS)
    message = ant.messages.create(model="claude-x", max_tokens=5, messages=MSGS)
    assert not token_tracker.record(completion)
    assert not token_tracker.record(message.model_dump())
    same(token_tracker, fake_llm, calls=2)


def test_install_is_idempotent_and_undoable(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    undo_a, undo_b = capture.install(), capture.install()
    oai.chat.completions.create(model="gpt-4o", messages=MSGS)
    undo_a()
    undo_a()  # a second call of the same undo does nothing
    undo_b()
    assert capture.installed()  # this module's autouse install (and the plugin's) remain
    same(token_tracker, fake_llm, calls=1)


def test_uninstall_restores_the_original_send() -> None:
    """In a fresh interpreter: this one has the plugin's install in place."""
    names = [n for n in ("httpx", "httpx2") if importlib.util.find_spec(n) is not None]
    code = (
        f"import importlib\nmods = [importlib.import_module(n) for n in {names!r}]\n"
        "from pytest_tokenbudget import capture\n"
        "before = [m.Client.send for m in mods]\n"
        "undo = capture.install(); undo2 = capture.install()\n"
        "assert all(m.Client.send is not b for m, b in zip(mods, before))\n"
        "undo(); assert mods[0].Client.send is not before[0]\n"
        "undo2(); assert [m.Client.send for m in mods] == before\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
