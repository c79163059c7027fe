"""The provider seam: which requests are LLM calls (on any base URL), and that a provider
registered from outside is recognised, read and protected by capture without any change to it."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from pytest_tokenbudget import providers
from pytest_tokenbudget.providers import Endpoint, Provider, Route, Shape, endpoint, extract
from pytest_tokenbudget.tracker import ATTRIBUTION, TokenTracker
from pytest_tokenbudget.usage import Extracted, Part, make_usage


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("POST", "/v1/chat/completions", "openai.chat"),
        ("POST", "/openai/deployments/gpt-4o/chat/completions", "openai.chat"),
        ("POST", "/api/v1/chat/completions", "openai.chat"),  # OpenRouter
        ("POST", "/openai/v1/chat/completions", "openai.chat"),  # Groq
        ("POST", "/chat/completions", "openai.chat"),  # DeepSeek
        ("POST", "/v1/completions", "openai.chat"),
        ("POST", "/v1/embeddings", "openai"),
        ("POST", "/openai/deployments/emb/embeddings", "openai"),
        ("POST", "/v1/responses", "openai"),
        ("POST", "/openai/v1/responses", "openai"),  # Azure v1
        ("POST", "/v1/responses/compact", "openai"),
        ("GET", "/v1/responses/resp_123", "openai.poll"),
        ("GET", "/openai/v1/responses/resp_abc", "openai.poll"),
        ("POST", "/v1/messages", "anthropic.messages"),
        ("POST", "/anthropic/v1/messages", "anthropic.messages"),
        ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", "gemini.generate"),
        ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "gemini.generate"),
        (
            "POST",
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro"
            ":generateContent",
            "gemini.generate",
        ),
        ("POST", "/api/chat", "ollama"),
        ("POST", "/api/generate", "ollama"),
        ("POST", "/api/embed", "ollama"),
        ("POST", "/model/us.anthropic.claude-sonnet-4-5-v1%3A0/converse", "bedrock.converse"),
        ("POST", "/model/amazon.nova-pro-v1%3A0/converse-stream", "bedrock.converse"),
        ("POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke", "bedrock.invoke"),
        ("POST", "/model/m/invoke-with-response-stream", "bedrock.invoke"),
    ],
)
def test_each_endpoint_is_recognised_on_any_base_url(method: str, path: str, name: str) -> None:
    found = endpoint(method, path)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chat/completions"),
        ("DELETE", "/v1/responses/resp_1"),
        ("GET", "/v1/responses"),
        ("GET", "/v1/responses/resp_1/input_items"),
        ("POST", "/v1/responses/resp_1/cancel"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/messages/batches"),
        ("POST", "/v1/chat/completions/extra"),
        ("POST", "/v1/files"),
        ("GET", "/v1/models"),
        ("POST", "/"),
        ("POST", ""),
        ("POST", "/v1beta/models/gemini-2.5-flash:countTokens"),
        ("GET", "/api/chat"),
        ("POST", "/api/tags"),
        ("POST", "/my_chain/invoke"),  # LangServe: not Bedrock's /model/{id}/invoke
        ("POST", "/talk/converse"),
    ],
)
def test_other_requests_are_none(method: str, path: str) -> None:
    assert endpoint(method, path) is None


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/messages"])
@pytest.mark.parametrize(
    "body", [{"usage": {}}, {"usage": None}, {"type": "error", "error": {"type": "overloaded"}}]
)
def test_a_reply_without_usage_is_no_call_on_any_endpoint(path: str, body: object) -> None:
    found = endpoint("POST", path)
    assert found is not None
    assert found.read(body) is None


# -- a provider from outside ------------------------------------------------------------------
# Gemini-like: the model is in the path, usage under its own name, streams as NDJSON.
PATH = "/v9/models/fake-1:count"
MISSING = "fake stream without usage"


def _read(body: Any) -> Extracted | None:
    billed = body.get("billed") if isinstance(body, dict) else None
    if billed is None:
        return None
    usage = make_usage(input_tokens=billed["in"], output_tokens=billed["out"])
    return Extracted((Part(usage, body.get("model")),), body.get("id"))


class _Lines:
    """The last NDJSON line with ``billed`` says what the stream billed."""

    def __init__(self) -> None:
        self._buf = b""
        self._found: Extracted | None = None

    def feed(self, chunk: bytes) -> None:
        *lines, self._buf = (self._buf + chunk).split(b"\n")
        for line in lines:
            self._found = _read(json.loads(line)) or self._found

    def result(self, ended: bool = True) -> Extracted | None:
        return self._found


FAKE = Endpoint(
    "fake.count",
    _read,
    _Lines,
    streams="application/x-ndjson",
    missing_usage=lambda request_body, ended: MISSING,
    request_model=lambda path, body: path.rsplit("/", 1)[-1].split(":")[0],
)
FAKE_PROVIDER = Provider(
    "fake",
    routes=(Route("POST", ":count", FAKE),),
    shapes=(Shape(lambda obj: isinstance(obj, dict) and "billed" in obj, _read),),
)


@pytest.fixture
def fake_provider() -> Iterator[None]:
    undo = providers.register(FAKE_PROVIDER)
    yield
    undo()


@pytest.fixture(params=["httpx2", "httpx"])
def http(request: pytest.FixtureRequest) -> Any:
    """Each HTTP client package capture patches (the old SDKs' environment has only httpx)."""
    return pytest.importorskip(request.param)


def client(
    http: Any, replies: list[bytes], kind: str = "application/json"
) -> tuple[Any, list[str]]:
    """A client whose server answers each request with ``replies`` (one chunk each), and the
    paths the server was sent."""
    seen: list[str] = []

    def reply(request: Any) -> Any:
        seen.append(request.url.path)
        return http.Response(200, headers={"content-type": kind}, content=iter(replies))

    return http.Client(transport=http.MockTransport(reply), base_url="http://llm.test"), seen


def test_registered_provider_is_recognised_and_unregistered() -> None:
    assert endpoint("POST", PATH) is None
    undo = providers.register(FAKE_PROVIDER)
    try:
        assert endpoint("POST", "/proxy" + PATH) is FAKE
        assert endpoint("POST", "/v1/chat/completions") is not None  # the others stay
    finally:
        undo()
    assert endpoint("POST", PATH) is None


def calls(tracker: TokenTracker) -> dict[str, tuple[int, int, int]]:
    """Input, output and calls by model (unpriced: the fake's models have no price)."""
    return {m: (u.input_tokens, u.output_tokens, u.calls) for m, u in tracker.by_model.items()}


@pytest.mark.usefixtures("fake_provider")
def test_capture_reads_a_registered_providers_reply(http: Any, captured: TokenTracker) -> None:
    body = json.dumps({"id": "f-1", "billed": {"in": 7, "out": 3}}).encode()
    llm, _ = client(http, [body])
    with llm:
        llm.post(PATH, json={"prompt": "hi"}).read()
        llm.post("/v9/other", json={}).read()  # not an LLM call
    assert calls(captured) == {"fake-1": (7, 3, 1)}


@pytest.mark.usefixtures("fake_provider")
def test_capture_streams_through_the_endpoints_reader(http: Any, captured: TokenTracker) -> None:
    lines = b'{"text": "a"}\n{"text": "b", "billed": {"in": 5, "out": 2}, "model": "m"}\n'
    llm, _ = client(http, [lines[:9], lines[9:30], lines[30:]], "application/x-ndjson")
    with llm:
        with llm.stream("POST", PATH, json={}) as response:
            for _ in response.iter_raw():
                pass
        with llm.stream("POST", PATH, json={}) as response:  # no usage: the endpoint's reason
            response.close()
    assert calls(captured) == {"m": (5, 2, 1), "fake-1": (0, 0, 0)}
    assert captured.by_model["fake-1"].uncounted_calls == 1  # on the model the request named
    assert captured.uncounted_reasons == {MISSING: 1}


@pytest.mark.usefixtures("fake_provider")
def test_spend_protection_runs_before_a_registered_providers_request(
    http: Any, captured: TokenTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refused(Exception):
        pass

    def refuse(tracker: TokenTracker, endpoint: Endpoint, path: str, body: Any) -> None:
        assert tracker is captured
        assert path.endswith(PATH)
        raise Refused

    monkeypatch.setattr(ATTRIBUTION, "before_request", refuse)
    llm, seen = client(http, [b"{}"])
    with llm:
        with pytest.raises(Refused):
            llm.post(PATH, json={})
        llm.post("/v9/other", json={}).read()
    assert seen == ["/v9/other"]  # the refused request was never sent


@pytest.mark.usefixtures("fake_provider")
def test_record_reads_a_registered_shape_before_a_shared_one() -> None:
    """OpenAI's Responses shape (``usage.input_tokens``) is shared: a provider's own wins."""
    obj = {"billed": {"in": 1, "out": 1}, "usage": {"input_tokens": 50, "output_tokens": 5}}
    found = extract(obj)
    assert found is not None
    assert found.parts[0].usage == make_usage(input_tokens=1, output_tokens=1)
