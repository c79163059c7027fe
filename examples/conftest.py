"""Demo set-up: a loopback fake LLM server and real OpenAI/Anthropic clients pointed at it.

The fake answers in each provider's real wire format, with the usage figures the demo scripts,
so the token report below is what pytest-tokenbudget would print against the real APIs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakellm import FakeLLM, Reply, running


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    with running() as fake:
        yield fake


@pytest.fixture
def openai_client(fake_llm: FakeLLM) -> Iterator[Any]:
    import openai

    with openai.OpenAI(base_url=fake_llm.openai_url, api_key="demo-key") as client:
        yield client


@pytest.fixture
def anthropic_client(fake_llm: FakeLLM) -> Iterator[Any]:
    import anthropic

    with anthropic.Anthropic(base_url=fake_llm.url, api_key="demo-key") as client:
        yield client


__all__ = ["Reply"]
