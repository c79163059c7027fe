"""What could explain a change that is not ours, end to end (serial and ``-n 2``, the real openai
SDK against the fake server): the report keeps the served model ids with their
``system_fingerprint``, the SDK versions and the price table's version; the baseline keeps the
environment it was recorded in; a regression whose served model changed says so, and the
comparison names every change of environment, in the terminal, the JSON and the Markdown."""

from __future__ import annotations

import importlib.metadata

import pytest

from fakellm import FakeLLM
from runs import DIST, read_json, run_report

openai = pytest.importorskip("openai")

SUITE = """
import json, os
import openai

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
MSGS = [{"role": "user", "content": "hi"}]

def ask(output_tokens, stream=False):
    reply = {"model": os.environ["SERVED"], "fingerprint": os.environ["FINGERPRINT"],
             "output_tokens": output_tokens}
    with openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0) as client:
        made = client.chat.completions.create(
            model="gpt-4o", messages=MSGS, stream=stream,
            extra_headers={"x-fake-reply": json.dumps(reply)},
            **({"stream_options": {"include_usage": True}} if stream else {}),
        )
        if stream:
            for _ in made:
                pass

def test_agent():
    ask(int(os.environ["OUTPUT"]), stream=True)

def test_steady():
    ask(5)
"""


def run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    served: str,
    fp: str,
    out: int,
    *args: str,
) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    monkeypatch.setenv("SERVED", served)
    monkeypatch.setenv("FINGERPRINT", fp)
    monkeypatch.setenv("OUTPUT", str(out))
    return run_report(pytester, "--tokenbudget-markdown=r.md", *args)


@pytest.mark.parametrize("dist", DIST)
def test_a_changed_served_model_is_named_in_the_regression_and_the_comparison(
    pytester: pytest.Pytester, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch, dist: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    old, new = "gpt-4o-2024-05-13", "gpt-4o-2024-08-06"
    result, report = run(
        pytester, monkeypatch, old, "fp_1", 5, "--tokenbudget-update-baseline", *dist
    )
    result.assert_outcomes(passed=2)
    environment = report["environment"]
    assert environment["served_models"] == {old: ["fp_1"]}  # the reply's model, not the request's
    assert environment["sdks"]["openai"] == importlib.metadata.version("openai")
    assert environment["price_table"] == report["pricing"]["version"]
    assert read_json(pytester, "tokenbudget-baseline.json")["environment"] == environment

    result, report = run(pytester, monkeypatch, new, "fp_2", 50, *dist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert report["environment"]["served_models"] == {new: ["fp_2"]}
    comparison = report["baseline"]
    assert comparison["environment"] == [f"served {old} -> {new}"]
    (regression,) = comparison["regressions"]
    assert regression["nodeid"] == "test_suite.py::test_agent"
    assert regression["details"][0] == f"served model changed: {old} -> {new}"
    result.stdout.fnmatch_lines(
        [
            f"regression: test_suite.py::test_agent: *served model changed: {old} -> {new}*",
            f"environment changed since the baseline: served {old} -> {new}",
        ]
    )
    markdown = (pytester.path / "r.md").read_text(encoding="utf-8")
    assert f"Environment changed since the baseline: served {old} -> {new}" in markdown

    # the same served model with another fingerprint: named, and nothing regressed
    result, report = run(pytester, monkeypatch, old, "fp_9", 5, *dist)
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    assert report["baseline"]["environment"] == [f"system_fingerprint fp_1 -> fp_9 ({old})"]


def test_a_baseline_without_environment_compares_as_before(
    pytester: pytest.Pytester, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    pytester.makepyfile(test_suite=SUITE)
    run(pytester, monkeypatch, "gpt-4o", "fp_1", 5, "--tokenbudget-update-baseline")
    path = pytester.path / "tokenbudget-baseline.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    del doc["environment"]  # a baseline of an earlier version
    path.write_text(json.dumps(doc), encoding="utf-8")
    result, report = run(pytester, monkeypatch, "gpt-4o-2024-08-06", "fp_2", 5)
    result.assert_outcomes(passed=2)
    assert report["baseline"]["environment"] == []
    assert "environment changed" not in result.stdout.str()
