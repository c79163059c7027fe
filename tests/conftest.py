from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest

import fakegithub
import fakeproviders  # noqa: F401 - the fake server serves the other providers too
from fakellm import ENV, FakeLLM, running
from pytest_tokenbudget import capture, tokenizer
from pytest_tokenbudget.attribution import ATTRIBUTION
from pytest_tokenbudget.tracker import TokenTracker


@pytest.fixture(scope="session")
def _fake_llm_server() -> Iterator[FakeLLM]:
    with running() as fake:
        yield fake


@pytest.fixture
def fake_llm(_fake_llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    """The loopback fake LLM server, log cleared; its URL is in $TOKENBUDGET_FAKE_LLM."""
    _fake_llm_server.clear()
    monkeypatch.setenv(ENV, _fake_llm_server.url)
    return _fake_llm_server


@pytest.fixture
def github() -> Iterator[fakegithub.FakeGitHub]:
    """A loopback fake GitHub REST API of its own, with no comments yet."""
    with fakegithub.running() as fake:
        yield fake


@pytest.fixture
def captured() -> Iterator[TokenTracker]:
    """Capture installed, into a fresh tracker made the running test's (plugin or not)."""
    uninstall = capture.install()
    saved = ATTRIBUTION.current
    tracker = ATTRIBUTION.current = TokenTracker("captured")
    try:
        yield tracker
    finally:
        ATTRIBUTION.current = saved
        uninstall()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails at once (a download would otherwise hang)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def empty_tiktoken_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh tiktoken cache, and no encoding loaded yet by us or by tiktoken."""
    import tiktoken.registry

    cache = tmp_path / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    tokenizer.clear_caches()
    yield cache
    tokenizer.clear_caches()
