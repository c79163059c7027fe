"""The README's examples run as written: its Python blocks as tests against the fake LLM server
(the OpenAI SDK configured from the environment, as the README says), its TOML blocks as
accepted configuration, and the quick start's commands in order."""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

import pytest

from fakellm import FakeLLM, Reply
from runs import read_json

pytest.importorskip("openai")

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
QUICK_START = README[README.index("## Quick start") : README.index("## In a test")]


def blocks(language: str, text: str = README) -> list[str]:
    return [textwrap.dedent(m[3]) for m in FENCE.finditer(text) if m[2] == language]


def commands(text: str) -> list[tuple[dict[str, str], list[str]]]:
    """The pytest command lines of the bash blocks in ``text``: (environment, arguments)."""
    found = []
    for block in blocks("bash", text):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
            words = words[len(env) :]
            if words and words[0] == "pytest":
                found.append((env, words[1:]))
    return found


@pytest.fixture
def openai_env(fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    """The environment the README's tests read: the fake server as OpenAI, with a key."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.openai_url)
    monkeypatch.setenv("OPENAI_API_KEY", "readme-key")
    return fake_llm


def test_the_readme_has_what_these_tests_run() -> None:
    assert len(blocks("python")) == 5  # the fifth: the hooks, a conftest.py of no test
    assert len(blocks("toml")) >= 3
    assert [args for _, args in commands(QUICK_START)] == [
        ["--tokenbudget-update-baseline"],
        ["--record-mode=once"],
        ["--record-mode=none"],
    ]


@pytest.mark.usefixtures("openai_env")
def test_every_python_example_runs_as_written(pytester: pytest.Pytester) -> None:
    tests = [b for b in blocks("python") if "def test_" in b]
    for i, code in enumerate(tests):
        pytester.makepyfile(**{f"test_readme_{i}": code})
    result = pytester.runpytest("-p", "no:recording")
    result.assert_outcomes(passed=sum(code.count("def test_") for code in tests))
    result.stdout.fnmatch_lines(["token gate: passed — no budget exceeded, no baseline compared"])


@pytest.mark.parametrize("config", blocks("toml"), ids=lambda c: c.split("\n")[0])
def test_every_toml_example_is_accepted(pytester: pytest.Pytester, config: str) -> None:
    (pytester.path / "prompts").mkdir()
    (pytester.path / "prompts" / "system.md").write_text("You are terse.", encoding="utf-8")
    pytester.makefile(".toml", pyproject=config)
    pytester.makepyfile("def test_a(token_tracker): token_tracker.record(input_tokens=1)")
    result = pytester.runpytest("-p", "no:recording")
    assert result.ret == 0, result.stderr.str()
    result.assert_outcomes(passed=1)


def test_quick_start_baseline_then_gate(pytester: pytest.Pytester, openai_env: FakeLLM) -> None:
    pytester.makepyfile(test_order=blocks("python", QUICK_START)[0])
    (record,) = [args for _, args in commands(QUICK_START) if "--record-mode" not in args[0]]
    pytester.runpytest("-p", "no:recording", *record).assert_outcomes(passed=1)
    assert read_json(pytester, "tokenbudget-baseline.json")["totals"]["total_tokens"] == 17

    same = pytester.runpytest("-p", "no:recording")
    assert same.ret == 0
    same.stdout.fnmatch_lines(["token gate: passed — no budget exceeded, no regression"])

    openai_env.queue(Reply(input_tokens=120, output_tokens=5))  # the prompt grew
    grown = pytester.runpytest("-p", "no:recording")
    assert grown.ret == 1
    grown.stdout.fnmatch_lines(
        [
            "regression: test_order.py::test_reply_mentions_the_order: 17 -> 125 tokens*",
            "token gate: FAILED — 2 regressions (1 test and the total)",
            "*= 1 passed, 2 token regressions in *",
        ]
    )


def test_quick_start_cassettes_replay_without_a_key(
    pytester: pytest.Pytester, openai_env: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pytest_recording")
    test, conftest = blocks("python", QUICK_START)[0], blocks("python", QUICK_START)[2]
    pytester.makepyfile(test_order="import pytest\npytestmark = pytest.mark.vcr\n" + test)
    pytester.makeconftest(conftest)
    (_, once), (env, none) = [c for c in commands(QUICK_START) if "--record-mode" in c[1][0]]
    # subprocesses: vcrpy cannot load a cassette in a second in-process run
    live = pytester.runpytest_subprocess(*once, "--tokenbudget-json=live.json")
    live.assert_outcomes(passed=1)
    served = len(openai_env.log)
    cassettes = list(pytester.path.rglob("cassettes/**/*.yaml"))
    assert cassettes
    assert "readme-key" not in cassettes[0].read_text(encoding="utf-8")

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    replay = pytester.runpytest_subprocess(*none, "--tokenbudget-json=replay.json")
    replay.assert_outcomes(passed=1)
    assert len(openai_env.log) == served  # nothing reached the server
    assert (
        read_json(pytester, "replay.json")["totals"] == read_json(pytester, "live.json")["totals"]
    )
