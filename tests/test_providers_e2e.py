"""The new providers through the whole plugin: inner pytest runs call Gemini, Ollama, Bedrock
and OpenAI-compatible services with their real client libraries against the fake server, and
the JSON report must equal the server's log, serially and under ``-n 2``. A conftest's parser
for a made-up provider is used with no other configuration; the other hooks and aliases too."""

from __future__ import annotations

import gc
import importlib.util
from typing import Any

import pytest

from fakellm import FakeLLM
from runs import DIST, run_report

pytest.importorskip("google.genai")
pytest.importorskip("ollama")
pytest.importorskip("boto3")
pytest.importorskip("openai")

INNER = """
import asyncio, json, os
import boto3, ollama, openai, pytest
from botocore.config import Config
from google import genai
from google.genai import types

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
MSGS = [{"role": "user", "content": "hi"}]
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

def reply(i, **extra):
    figures = dict(input_tokens=1000 * i + 7, output_tokens=10 * i + 3, reasoning_tokens=i)
    return {"x-fake-reply": json.dumps({**figures, **extra})}

def gemini(i, vertex=False, **extra):
    options = types.HttpOptions(base_url=URL, headers=reply(i, **extra))
    return genai.Client(vertexai=vertex, api_key="k", http_options=options)

def test_gemini():
    client = gemini(1, cache_read_tokens=500, tool_use_tokens=40)
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")

def test_gemini_vertex_stream():
    client = gemini(2, vertex=True)
    for _ in client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi"):
        pass

def test_gemini_async():
    async def main():
        client = gemini(3)
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        async for _ in await client.aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents="hi"):
            pass
        await client.aio.aclose()
    asyncio.run(main())

def test_ollama():
    client = ollama.Client(host=URL, headers=reply(4, reasoning_tokens=0))
    client.chat(model="llama3.2", messages=MSGS)
    for _ in client.generate(model="llama3.2", prompt="hi", stream=True):
        pass

def bedrock(i, **extra):
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=URL,
                          aws_access_key_id="a", aws_secret_access_key="b",
                          config=Config(retries={"max_attempts": 1}))
    def header(request, **kwargs):
        for name, value in reply(i, reasoning_tokens=0, **extra).items():
            request.headers[name] = value
    client.meta.events.register("before-sign.bedrock-runtime", header)
    return client

def test_bedrock_converse():
    client = bedrock(5, cache_read_tokens=300, cache_write_tokens=20)
    client.converse(
        modelId="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        messages=[{"role": "user", "content": [{"text": "hi"}]}])

def test_bedrock_streams():
    client = bedrock(6)
    events = client.converse_stream(modelId="amazon.nova-pro-v1:0",
                                    messages=[{"role": "user", "content": [{"text": "hi"}]}])
    for _ in events["stream"]:
        pass
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9,
                       "messages": MSGS})
    for _ in client.invoke_model_with_response_stream(
            modelId="anthropic.claude-3-haiku-20240307-v1:0", body=body)["body"]:
        pass

def oai():
    return openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)

def test_openrouter():
    oai().chat.completions.create(model="anthropic/claude-sonnet-4.5", messages=MSGS,
                                  extra_headers=reply(7, cost_usd=0.0421))

def test_groq_stream():
    for _ in oai().chat.completions.create(model="llama-3.3-70b-versatile", messages=MSGS,
            stream=True, extra_headers=reply(8, reasoning_tokens=0, flavor="groq")):
        pass

def test_deepseek():
    oai().chat.completions.create(model="deepseek-chat", messages=MSGS,
                                  extra_headers=reply(9, cache_read_tokens=900,
                                                      flavor="deepseek"))

def test_without_usage():  # each an uncounted call, never nothing
    gone = dict(without_usage=True, reasoning_tokens=0)
    client = gemini(11, **gone)
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    ollama.Client(host=URL, headers=reply(12, **gone)).chat(model="llama3.2", messages=MSGS)
    bedrock(13, without_usage=True).converse(
        modelId="amazon.nova-pro-v1:0", messages=[{"role": "user", "content": [{"text": "x"}]}])

def test_azure_deployment():
    client = openai.AzureOpenAI(azure_endpoint=URL, azure_deployment="prod-chat",
                                api_version="2024-10-21", api_key="k", max_retries=0)
    client.chat.completions.create(model="prod-chat", messages=MSGS, extra_headers=reply(10))
"""
TESTS = 11
PYPROJECT = """
[tool.tokenbudget.aliases]
"prod-chat" = "gpt-4o"
"""


def figures_by_test(report: dict[str, Any], figure: str) -> dict[str, int]:
    return {k: t[figure] for k, t in report["tests"].items() if t.get(figure)}


def same_as_log(totals: dict[str, Any], fake: FakeLLM) -> None:
    want = fake.totals()
    assert {k: totals[k] for k in want} == want


@pytest.mark.parametrize("dist", DIST)
def test_report_equals_what_the_server_sent(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inner=INNER)
    pytester.makepyprojecttoml(PYPROJECT)
    gc.collect()
    # clients the inner tests drop leave pooled sockets to whichever test collects them
    unclosed = "ignore:unclosed <socket.socket:ResourceWarning"
    result, report = run_report(pytester, "-W", "error", "-W", unclosed, *dist)
    result.assert_outcomes(passed=TESTS)
    same_as_log(report["totals"], fake_llm)
    assert report["totals"]["calls"] == 13
    assert report["totals"]["uncounted_calls"] == 3
    assert figures_by_test(report, "uncounted_calls") == {"test_inner.py::test_without_usage": 3}
    tests = report["tests"]
    for name, served in (("test_gemini", 1), ("test_bedrock_converse", 5)):
        test = tests[f"test_inner.py::{name}"]
        assert (test["input_tokens"], test["calls"]) == (1000 * served + 7, 1)
    models = {s.model for s in fake_llm.counted()}
    assert "us.anthropic.claude-sonnet-4-5-20250929-v1:0" in models
    by_model = report["tests"]["test_inner.py::test_azure_deployment"]["by_model"]
    assert set(by_model) == {"gpt-4o"}  # the deployment, priced and grouped as its alias
    openrouter = tests["test_inner.py::test_openrouter"]
    assert openrouter["cost_usd"] == 0.0421  # what OpenRouter billed, not a table price
    unpriced = {m for t in tests.values() for m, u in t["by_model"].items() if u["unpriced_calls"]}
    assert unpriced == {"llama3.2"}  # every other model is in the price table


CONFTEST = """
import pytest

@pytest.hookimpl
def pytest_tokenbudget_parse_response(request, response):
    if not request.url.path.endswith("/acme/v2/think"):
        return None
    doc = response.json()
    return {"input_tokens": doc["meter"]["in"], "output_tokens": doc["meter"]["out"],
            "model": doc["engine"], "response_id": doc["id"]}

PRICES = {"acme-large": 0.5}

def pytest_tokenbudget_price(model, usage):
    if model in PRICES:  # USD per call, whatever the tokens
        return PRICES[model] * usage.calls
    return None

SEEN = []

def pytest_tokenbudget_usage_recorded(nodeid, usage):
    SEEN.append((nodeid, usage.total_tokens))

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        print("\\nSEEN", sorted(SEEN))
"""
ACME = """
import json, os
import httpx

URL = os.environ["TOKENBUDGET_FAKE_LLM"]

def think(i, **extra):
    header = {"x-fake-reply": json.dumps({"input_tokens": 100 * i, "output_tokens": i, **extra})}
    with httpx.Client() as client:
        return client.post(URL + "/acme/v2/think", json={"q": "?"}, headers=header).json()

def test_acme_one():
    assert think(1)["engine"] == "acme-large"

def test_acme_two():
    think(2)
    think(3, model="acme-small")

def test_no_llm():
    with httpx.Client() as client:
        client.get(URL + "/v1/models")

def test_builtin_providers_answer_the_hook(request):
    header = {"x-fake-reply": json.dumps({"input_tokens": 9, "output_tokens": 2})}
    with httpx.Client() as client:
        response = client.post(URL + "/v1/chat/completions", headers=header,
                               json={"model": "gpt-4o-mini", "messages": []})
    fields = request.config.hook.pytest_tokenbudget_parse_response(
        request=response.request, response=response)
    assert (fields["input_tokens"], fields["output_tokens"]) == (9, 2)
    assert fields["model"] == "gpt-4o-mini"
"""


@pytest.mark.parametrize("dist", DIST)
def test_a_conftest_parser_for_a_made_up_provider(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=ACME)
    result, report = run_report(pytester, "-s", *dist)
    result.assert_outcomes(passed=4)
    same_as_log(report["totals"], fake_llm)
    assert report["totals"]["calls"] == 4
    tests = report["tests"]
    assert tests["test_inner.py::test_acme_one"]["cost_usd"] == 0.5  # the price hook's
    assert tests["test_inner.py::test_acme_two"]["by_model"]["acme-small"]["cost_usd"] is None
    assert "test_inner.py::test_no_llm" not in tests
    if not dist:  # the controller sees its own records; under xdist the workers record them
        seen = [
            ("test_inner.py::test_acme_one", 101),
            ("test_inner.py::test_acme_two", 202),
            ("test_inner.py::test_acme_two", 303),
            ("test_inner.py::test_builtin_providers_answer_the_hook", 11),
        ]
        assert f"SEEN {seen}" in result.stdout.str()


def test_a_parser_in_a_subfolders_conftest(pytester: pytest.Pytester, fake_llm: FakeLLM) -> None:
    """A conftest.py below the root registers during collection: its parser is used too."""
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (sub / "test_inner.py").write_text(ACME, encoding="utf-8")
    result, report = run_report(pytester)
    result.assert_outcomes(passed=4)
    same_as_log(report["totals"], fake_llm)
    assert report["totals"]["calls"] == 4


def test_a_reply_the_parser_cannot_read_is_an_uncounted_call(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    pytester.makeconftest(
        "def pytest_tokenbudget_parse_response(request, response):\n"
        "    if request.url.path.endswith('/think'):\n"
        "        return {'input': 3}\n"
    )
    pytester.makepyfile(test_inner=ACME)
    result, report = run_report(pytester, "-k", "one")
    result.assert_outcomes(passed=1, deselected=3)
    assert report["totals"]["calls"] == 0
    assert figures_by_test(report, "uncounted_calls") == {"test_inner.py::test_acme_one": 1}
    result.stdout.fnmatch_lines(
        ["*pytest_tokenbudget_parse_response could not read a reply: unknown key 'input'*"]
    )


def test_the_plugin_imports_no_client_library(pytester: pytest.Pytester) -> None:
    """In a subprocess: whatever is installed, a run that calls no LLM loads none of them (the
    patches wait for the client's own import)."""
    libraries = ("aiohttp", "botocore", "boto3", "google", "ollama", "litellm", "httpx")
    pytester.makepyfile(
        test_inner=f"""
import sys

def test_nothing_loaded():
    assert sorted(m for m in sys.modules if m.split(".")[0] in {libraries!r}) == []
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:recording", "-p", "no:anyio")
    result.assert_outcomes(passed=1)


LITELLM = """
import asyncio, json, os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no download at import
import litellm

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
MSGS = [{"role": "user", "content": "hi"}]
CALLS = [("openai/gpt-4o-mini", URL + "/v1"), ("gemini/gemini-2.5-flash", URL),
         ("ollama_chat/llama3.2", URL)]

def test_sync():
    for model, base in CALLS:
        litellm.completion(model=model, api_base=base, api_key="k", messages=MSGS)

def test_async():
    async def main():
        for model, base in CALLS:
            await litellm.acompletion(model=model, api_base=base, api_key="k", messages=MSGS)
    asyncio.run(main())
"""


def test_litellm_is_counted_once(pytester: pytest.Pytester, fake_llm: FakeLLM) -> None:
    """LiteLLM calls the SDKs or HTTP itself; its async transport is httpx over aiohttp (one
    call that both patches see, counted once even without a response id, as Ollama's). In a
    subprocess with warnings ignored: LiteLLM leaves event loops for the garbage collector."""
    if importlib.util.find_spec("litellm") is None:  # not imported here: it changes this
        pytest.skip("litellm is not installed")  # process's package metadata lookups
    pytester.makepyfile(test_inner=LITELLM)
    result, report = run_report(pytester, "-W", "ignore", subprocess=True)
    result.assert_outcomes(passed=2)
    same_as_log(report["totals"], fake_llm)
    assert report["totals"]["calls"] == 6


REFUSED = """
import asyncio, json, os
import boto3, pytest
from botocore.config import Config
from google import genai
from google.genai import types
from pytest_tokenbudget import BudgetExceeded

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

@pytest.mark.token_budget(max_calls=1, enforce=True)
def test_gemini_sync_and_async():
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=URL))
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    with pytest.raises(BudgetExceeded):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    async def main():
        with pytest.raises(BudgetExceeded):
            await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        await client.aio.aclose()
    asyncio.run(main())

@pytest.mark.token_budget(max_calls=1, enforce=True)
def test_bedrock():
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=URL,
                          aws_access_key_id="a", aws_secret_access_key="b",
                          config=Config(retries={"max_attempts": 1}))
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    client.converse(modelId="amazon.nova-pro-v1:0", messages=messages)
    with pytest.raises(BudgetExceeded):
        client.converse(modelId="amazon.nova-pro-v1:0", messages=messages)
"""


@pytest.mark.parametrize("dist", DIST)
def test_spend_protection_refuses_before_sending(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    """A refused request is never sent, whichever client carries it (httpx, aiohttp,
    botocore's handler); the test fails with the budget message even though it caught it."""
    pytester.makepyfile(test_inner=REFUSED)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(failed=2)
    assert fake_llm.totals()["calls"] == 2  # one each: the refused ones never left
    assert report["totals"]["refused_calls"] == 3
    assert report["totals"]["calls"] == 2
    result.stdout.fnmatch_lines(["*refused*"])
