"""conftest.py of the golden suite (copied into a pytester dir; never collected from here).

A loopback fake LLM server and real OpenAI/Anthropic clients pointed at it, as in examples/,
plus usage recorded outside any test (the ``<session>`` bucket): once per process that
collects, so once in a serial run and once per worker under ``-n 2``.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from fakellm import FakeLLM, running
from pytest_tokenbudget.attribution import current_tracker


def pytest_collection_finish(session: pytest.Session) -> None:
    current_tracker().record(
        input_tokens=640, output_tokens=32, model="gpt-4o-mini", operation="warm-up"
    )


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    with running() as fake:
        yield fake


@pytest.fixture
def openai_client(fake_llm: FakeLLM) -> Iterator[Any]:
    import openai

    with openai.OpenAI(base_url=fake_llm.openai_url, api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture
def anthropic_client(fake_llm: FakeLLM) -> Iterator[Any]:
    import anthropic

    with anthropic.Anthropic(base_url=fake_llm.url, api_key="k", max_retries=0) as client:
        yield client
