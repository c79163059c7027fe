"""Hostile names (a reply's model, an operation label, a node id) never act: no workflow command
in what the plugin prints, nothing live in the Markdown (the Action's steps are scanned in
test_github_action.py)."""

from __future__ import annotations

import re

import pytest

from fakellm import FakeLLM
from pytest_tokenbudget.inert import inert, one_line
from runs import DIST

pytest.importorskip("openai")

#: A model name a reply could carry, and an operation label from a config or a test's code.
MODEL = "x\n::error title=INJECTED::model <img src=x onerror=alert(1)> @octocat ##[error]v1"
OPERATION = "op\r\n::warning::INJECTED `` ` [link](https://evil.example) @team"

HOSTILE_SUITE = f"""
import json, os
import openai
import pytest

URL = os.environ["TOKENBUDGET_FAKE_LLM"]

@pytest.mark.token_budget(max_tokens=10)
@pytest.mark.parametrize("case", ["::error::id", "##[error]id"])
def test_hostile(token_tracker, case):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
    reply = {{"x-fake-reply": json.dumps({{"input_tokens": 40, "model": {MODEL!r}}})}}
    with token_tracker.operation({OPERATION!r}):
        client.chat.completions.create(model="gpt-4o-mini", messages=[], extra_headers=reply)
    client.close()
"""


def workflow_commands(lines: list[str]) -> list[str]:
    """Lines the Actions runner would read as workflow commands (v2 ``::``, v1 ``##[``)."""
    return [line for line in lines if line.lstrip().startswith("::") or "##[" in line]


def tokenbudget_section(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ tokenbudget =+", line))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("=" * 5))
    return lines[start + 1 : end]


def test_inert_text() -> None:
    assert one_line("a\nb\r\x1b[31m\u2028") == "a\\nb\\r\\x1b[31m\\u2028"
    assert one_line("naïve — ok") == "naïve — ok"
    assert inert("x\n::error::y") == "x\\n::error::y"
    assert inert("  ::error::y") == "  \\::error::y"
    assert inert("\xa0::error::y") == "\\xa0::error::y"
    assert inert("a ##[error]b") == "a ##\\[error]b"
    assert inert(inert("::a ##[b")) == inert("::a ##[b")


@pytest.mark.parametrize("dist", DIST)
def test_terminal_gives_no_workflow_command(
    pytester: pytest.Pytester,
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    dist: list[str],
) -> None:
    """Under GITHUB_ACTIONS pytest prints whole failure messages (no cut at the line's end):
    neither they nor the ``tokenbudget`` section may start a workflow command."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(test_names=HOSTILE_SUITE)
    result = pytester.runpytest("-p", "no:recording", "-p", "no:anyio", "-rf", *dist)
    result.assert_outcomes(failed=2)
    section = tokenbudget_section(result.outlines)
    assert len(section) > 5
    assert workflow_commands(section) == []
    # pytest prints the node ids itself (not ours to change); every other line is clean
    ours = [line for line in result.outlines if "test_names.py::test_hostile[" not in line]
    assert [line for line in ours if line.lstrip().startswith("::")] == []
    assert "INJECTED" in result.stdout.str()  # the names are shown, made inert
    assert any("x\\n::error title=INJECTED::model" in line for line in section)
