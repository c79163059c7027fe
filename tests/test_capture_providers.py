"""Gemini, Ollama, Bedrock and OpenAI-compatible services through their real client libraries
against the loopback fake: every call counted once, for the test that made it, with exactly
the figures the server sent (its log), sync, async and streaming."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from fakellm import FakeLLM, Reply
from pytest_tokenbudget import capture
from pytest_tokenbudget.capture.sink import NOTE_UNREAD
from pytest_tokenbudget.providers.base import NOTE_CLOSED_EARLY
from pytest_tokenbudget.tracker import TokenTracker

MSGS = [{"role": "user", "content": "hi"}]
#: Gemini: cache reads, thoughts (reasoning) and a tool-use prompt, all in PRODUCT.md's meaning.
GEM = Reply(input_tokens=1_200, output_tokens=340, cache_read_tokens=800, reasoning_tokens=120,
            tool_use_tokens=60)  # fmt: skip
RICH = Reply(input_tokens=300, output_tokens=40, cache_read_tokens=200, cache_write_tokens=50)
SMALL = Reply(input_tokens=17, output_tokens=9)


def figures(tracker: TokenTracker) -> dict[str, int]:
    u = tracker.usage
    out = {name: getattr(u, name) for name in (*FIELDS, "calls", "uncounted_calls")}
    out["total_tokens"] = u.total_tokens
    return out


FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
FIELDS += ("reasoning_tokens",)


def same(tracker: TokenTracker, fake: FakeLLM, calls: int) -> None:
    assert fake.totals()["calls"] == calls
    assert figures(tracker) == fake.totals()


@pytest.fixture(autouse=True)
def _capture_on() -> Any:
    """Our suite may run with ``--tokenbudget-capture=off``; these tests need it on."""
    undo = capture.install()
    yield
    undo()


# -- Gemini (google-genai) ---------------------------------------------------------------------
@pytest.fixture
def genai_types() -> Any:
    return pytest.importorskip("google.genai.types")


@pytest.fixture(params=["gemini-api", "vertex"])
def gemini(request: pytest.FixtureRequest, fake_llm: FakeLLM, genai_types: Any) -> Any:
    from google import genai

    options = genai_types.HttpOptions(base_url=fake_llm.url)
    vertex = request.param == "vertex"
    return genai.Client(vertexai=vertex, api_key="k", http_options=options)


def test_gemini_sync_and_stream(
    gemini: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    fake_llm.queue(GEM, SMALL)
    reply = gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert reply.text == '{"answer": "fake"}'
    for _ in gemini.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
        pass
    same(token_tracker, fake_llm, calls=2)
    assert token_tracker.usage.reasoning_tokens == 120  # thoughtsTokenCount
    assert token_tracker.usage.unpriced_calls == 0
    assert set(token_tracker.by_model) == {"gemini-2.5-flash"}


#: google-genai subclasses aiohttp's ClientSession, which aiohttp warns about (their business).
GENAI_AIOHTTP = "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"


@pytest.mark.filterwarnings(GENAI_AIOHTTP)
def test_gemini_async_goes_through_aiohttp(
    gemini: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    import aiohttp

    assert getattr(aiohttp.ClientSession._request, "__tokenbudget__", False)

    async def main() -> None:
        await gemini.aio.models.generate_content(model="gemini-2.5-pro", contents="hi")
        stream = await gemini.aio.models.generate_content_stream(
            model="gemini-2.5-pro", contents="hi"
        )
        async for _ in stream:
            pass
        await gemini.aio.aclose()

    fake_llm.queue(GEM, SMALL)
    asyncio.run(main())
    same(token_tracker, fake_llm, calls=2)


def test_gemini_chunk_without_usage_metadata_is_an_uncounted_reply() -> None:
    from pytest_tokenbudget.providers import gemini

    with pytest.raises(ValueError, match="without usageMetadata"):
        gemini.GENERATE.read({"candidates": [{"finishReason": "STOP"}]})
    stream = gemini.Stream()
    first = {"usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}, "candidates": []}
    stream.feed(b"data: " + json.dumps(first).encode() + b"\r\n\r\n")
    assert stream.result() is None  # the final chunk never came: not the prompt alone
    assert gemini.GENERATE.missing_usage is not None
    assert gemini.GENERATE.missing_usage(None, True) == NOTE_CLOSED_EARLY


# -- Ollama ------------------------------------------------------------------------------------
@pytest.fixture
def ollama(fake_llm: FakeLLM) -> Any:
    module = pytest.importorskip("ollama")
    return module.Client(host=fake_llm.url)


def test_ollama_chat_generate_embed_and_streams(
    ollama: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    cached = Reply(input_tokens=0, output_tokens=7)  # the whole prompt from Ollama's cache
    fake_llm.queue(Reply(input_tokens=31, output_tokens=12), cached, SMALL, SMALL)
    fake_llm.queue(Reply(input_tokens=8, output_tokens=0))
    ollama.chat(model="llama3.2", messages=MSGS)
    for _ in ollama.chat(model="llama3.2", messages=MSGS, stream=True):
        pass
    ollama.generate(model="qwen3", prompt="hi", options={"num_predict": 32})
    for _ in ollama.generate(model="qwen3", prompt="hi", stream=True):
        pass
    ollama.embed(model="nomic-embed-text", input="hi")
    ollama.generate(model="qwen3")  # loads the model: generates nothing, bills nothing
    same(token_tracker, fake_llm, calls=5)
    assert set(token_tracker.by_model) == {"llama3.2", "qwen3", "nomic-embed-text"}
    assert token_tracker.notes == {}


def test_ollama_async(fake_llm: FakeLLM, token_tracker: TokenTracker) -> None:
    module = pytest.importorskip("ollama")

    async def main() -> None:
        client = module.AsyncClient(host=fake_llm.url)
        await client.chat(model="llama3.2", messages=MSGS)
        async for _ in await client.chat(model="llama3.2", messages=MSGS, stream=True):
            pass
        await client.close()

    fake_llm.queue(Reply(input_tokens=5, output_tokens=6), SMALL)
    asyncio.run(main())
    same(token_tracker, fake_llm, calls=2)


# -- Bedrock (boto3) ---------------------------------------------------------------------------
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture
def bedrock(fake_llm: FakeLLM) -> Any:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=fake_llm.url,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1}),
    )


def anthropic_body(max_tokens: int = 20) -> str:
    version = "bedrock-2023-05-31"
    return json.dumps({"anthropic_version": version, "max_tokens": max_tokens, "messages": MSGS})


def test_bedrock_converse_invoke_and_their_streams(
    bedrock: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    fake_llm.queue(RICH, SMALL, RICH, SMALL)
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    reply = bedrock.converse(modelId=CLAUDE, messages=messages, inferenceConfig={"maxTokens": 50})
    assert reply["usage"]["cacheReadInputTokens"] == 200  # the SDK's own parse is untouched
    for _ in bedrock.converse_stream(modelId=CLAUDE, messages=messages)["stream"]:
        pass
    body = bedrock.invoke_model(modelId=HAIKU, body=anthropic_body())["body"]
    assert json.loads(body.read())["usage"]["cache_read_input_tokens"] == 200
    for _ in bedrock.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body())[
        "body"
    ]:
        pass
    same(token_tracker, fake_llm, calls=4)
    assert set(token_tracker.by_model) == {CLAUDE, HAIKU}  # named after the request path
    assert token_tracker.usage.unpriced_calls == 0  # priced as claude-sonnet-4-5, claude-3-haiku


def test_bedrock_error_is_no_call(
    bedrock: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    from botocore.exceptions import ClientError

    fake_llm.error(400)
    with pytest.raises(ClientError):
        bedrock.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert token_tracker.usage.calls == 0
    assert token_tracker.notes == {}


# -- OpenAI-compatible services ----------------------------------------------------------------
@pytest.fixture
def oai(fake_llm: FakeLLM) -> Any:
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=fake_llm.openai_url, api_key="k", max_retries=0)


def test_openrouter_billed_cost_is_the_calls_cost(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    fake_llm.queue(Reply(input_tokens=1000, output_tokens=100, cost_usd=0.0123456))
    fake_llm.queue(Reply(input_tokens=10, output_tokens=1, cost_usd=0))  # a free model
    oai.chat.completions.create(model="openai/gpt-4o", messages=MSGS)
    for _ in oai.chat.completions.create(
        model="meta-llama/llama-3.3-70b:free",
        messages=MSGS,
        stream=True,
        stream_options={"include_usage": True},
    ):
        pass
    same(token_tracker, fake_llm, calls=2)
    assert token_tracker.usage.cost_usd == 0.0123456  # not the table's gpt-4o price
    assert token_tracker.usage.unpriced_calls == 0  # the free model: billed $0, so priced


def test_groq_stream_usage_under_x_groq(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    fake_llm.queue(Reply(input_tokens=44, output_tokens=11, flavor="groq"))
    for _ in oai.chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MSGS, stream=True
    ):
        pass
    same(token_tracker, fake_llm, calls=1)
    assert token_tracker.notes == {}


def test_deepseek_cache_hits(oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker) -> None:
    fake_llm.queue(Reply(input_tokens=500, output_tokens=90, cache_read_tokens=384,
                         reasoning_tokens=40, flavor="deepseek"))  # fmt: skip
    oai.chat.completions.create(model="deepseek-reasoner", messages=MSGS)
    same(token_tracker, fake_llm, calls=1)
    assert token_tracker.usage.cache_read_tokens == 384
    assert token_tracker.usage.unpriced_calls == 0


def test_azure_deployment_paths(fake_llm: FakeLLM, token_tracker: TokenTracker) -> None:
    openai = pytest.importorskip("openai")
    azure = openai.AzureOpenAI(
        azure_endpoint=fake_llm.url,
        azure_deployment="prod-chat",
        api_version="2024-10-21",
        api_key="k",
        max_retries=0,
    )
    fake_llm.queue(RICH, Reply(model="gpt-4o-2024-08-06"))
    azure.chat.completions.create(model="prod-chat", messages=MSGS)
    azure.chat.completions.create(model="prod-chat", messages=MSGS)
    same(token_tracker, fake_llm, calls=2)
    assert {s.path for s in fake_llm.log} == {"/openai/deployments/prod-chat/chat/completions"}
    assert set(token_tracker.by_model) == {"prod-chat", "gpt-4o-2024-08-06"}


def test_a_completion_without_usage_is_not_counted_silently(
    oai: Any, fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    from pytest_tokenbudget.providers import openai as provider

    with pytest.raises(ValueError, match="chat completion without usage"):
        provider.CHAT.read({"id": "x", "choices": [], "usage": None})
    assert provider.CHAT.read({"usage": None}) is None  # an error body is no call


# -- aiohttp directly --------------------------------------------------------------------------
def test_aiohttp_json_stream_and_early_release(
    fake_llm: FakeLLM, token_tracker: TokenTracker
) -> None:
    aiohttp = pytest.importorskip("aiohttp")
    chat = {"model": "gpt-4o-mini", "messages": MSGS}
    streamed = {**chat, "stream": True, "stream_options": {"include_usage": True}}

    async def main() -> None:
        async with aiohttp.ClientSession(fake_llm.openai_url + "/") as session:
            async with session.post("chat/completions", json=chat) as response:
                assert (await response.json())["usage"]["prompt_tokens"] == 300
            async with session.post("chat/completions", json=streamed) as response:
                async for _ in response.content:
                    pass
            async with session.post("chat/completions", data=json.dumps(streamed)) as response:
                async for _ in response.content.iter_chunked(7):
                    pass
            async with session.post("chat/completions", json=chat) as response:
                pass  # released unread: not counted, and said so

    fake_llm.queue(RICH, SMALL, SMALL, SMALL)
    asyncio.run(main())
    assert token_tracker.usage.calls == 3
    counted = fake_llm.counted()[:3]
    assert token_tracker.usage.input_tokens == sum(s.usage["input_tokens"] for s in counted)  # type: ignore[index]
    assert token_tracker.usage.uncounted_calls == 1
    assert token_tracker.uncounted_reasons == {NOTE_UNREAD: 1}


# -- libraries that wrap the SDKs: counted once, through what they call ------------------------
def test_langchain_is_counted_once(fake_llm: FakeLLM, token_tracker: TokenTracker) -> None:
    """LangChain's ChatOpenAI calls the OpenAI SDK: its own usage bookkeeping adds nothing.
    (langchain-openai is not in the test extra: langsmith, which it needs, loads a pytest
    plugin into every pytest process; install it to run this.)"""
    langchain_openai = pytest.importorskip("langchain_openai")
    model = langchain_openai.ChatOpenAI(
        model="gpt-4o-mini", base_url=fake_llm.openai_url, api_key="k", max_retries=0
    )
    fake_llm.queue(RICH, SMALL)
    reply = model.invoke("hi")
    assert reply.usage_metadata["input_tokens"] == 300
    for _ in model.stream("hi", stream_usage=True):
        pass
    same(token_tracker, fake_llm, calls=2)
