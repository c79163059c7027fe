from __future__ import annotations

from typing import Iterator

import pytest

from fakellm import ENV, FakeLLM, start
from pytest_tokenbudget import capture
from pytest_tokenbudget.tracker import ATTRIBUTION, TokenTracker


@pytest.fixture(scope="session")
def _fake_llm_server() -> Iterator[FakeLLM]:
    fake, server = start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_llm(_fake_llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    """The loopback fake LLM server, log cleared; its URL is in $TOKENBUDGET_FAKE_LLM."""
    _fake_llm_server.clear()
    monkeypatch.setenv(ENV, _fake_llm_server.url)
    return _fake_llm_server


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
