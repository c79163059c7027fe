"""A tiny support agent: retrieve with OpenAI, answer with Anthropic, summarise with a stream.

No test mentions token counting: pytest-tokenbudget captures every SDK call by itself. The
markers put budgets on the tests; the summary at the end shows tokens and cost per test,
model and operation.
"""

from __future__ import annotations

from typing import Any

import pytest

from fakellm import Reply

SYSTEM_PROMPT = "You are a helpful support agent. " * 40


def retrieve(openai_client: Any, question: str) -> str:
    reply = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ],
        extra_headers=Reply(input_tokens=1800, cache_read_tokens=1024, output_tokens=120).header(),
    )
    return str(reply.choices[0].message.content)


def answer(anthropic_client: Any, context: str) -> str:
    message = anthropic_client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=512,
        system=SYSTEM_PROMPT,
        messages=[{"role": "user", "content": context}],
        extra_headers=Reply(input_tokens=2600, cache_write_tokens=2048, output_tokens=380).header(),
    )
    return str(message.content[0].text)


def summarise(openai_client: Any, text: str) -> str:
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"Summarise: {text}"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=Reply(input_tokens=450, output_tokens=60).header(),
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


@pytest.mark.token_budget(max_tokens=8_000, max_calls=4)
def test_answers_a_billing_question(
    openai_client: Any, anthropic_client: Any, token_tracker: Any
) -> None:
    with token_tracker.operation("retrieve"):
        context = retrieve(openai_client, "Why was I billed twice?")
    with token_tracker.operation("answer"):
        reply = answer(anthropic_client, context)
    with token_tracker.operation("summarise"):
        summary = summarise(openai_client, reply)
    assert summary
    assert token_tracker.usage.calls == 3


@pytest.mark.token_budget(max_cost_usd=0.05)
def test_escalates_with_one_answer(anthropic_client: Any, token_tracker: Any) -> None:
    with token_tracker.operation("answer"):
        assert answer(anthropic_client, "My order never arrived.")
    assert token_tracker.by_model["claude-sonnet-4-6"].input_tokens == 2600


def test_counts_the_system_prompt(token_tracker: Any) -> None:
    tokens = token_tracker.count(SYSTEM_PROMPT, model="gpt-4o-mini")
    assert 200 < tokens < 400
