"""End-to-end (each run in its own process, as CI runs them): a baseline of 5 noisy runs,
then verdicts within the noise, past it and confirmed by re-runs (``--tokenbudget-confirm``),
serially and under ``-n 2``.

Each test asks the fake LLM for one chat completion; its output count is the next of a
scripted sequence (a counter file per test, shared by every process): 5 baseline runs that
vary like a live model's, then the head run and any confirmation runs.
"""

from __future__ import annotations

import json

import pytest

from fakellm import FakeLLM
from pytest_tokenbudget.cli import main as tokenbudget
from runs import DIST, run_report

SUITE = """
import json, os, pathlib, openai, pytest

HERE = pathlib.Path(__file__).parent
OUTPUTS = json.loads((HERE / "outputs.json").read_text())

@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_reply(name):
    counter = HERE / f"count-{name}"
    i = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(i + 1))
    url = os.environ["TOKENBUDGET_FAKE_LLM"] + "/v1"
    client = openai.OpenAI(base_url=url, api_key="sk-fake", max_retries=0)
    reply = {"input_tokens": 100, "output_tokens": OUTPUTS[name][i]}
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-fake-reply": json.dumps(reply)},
    )
"""

BASE = {"steady": [100, 110, 95, 105, 100], "noisy": [200, 220, 190, 210, 205]}
BASE["grown"] = [300, 320, 290, 310, 305]
NODE = "test_noise.py::test_reply[{}]"


def record_baseline(pytester: pytest.Pytester, heads: dict[str, list[int]]) -> None:
    """The suite, 5 runs of it and a baseline of their samples (``--stat median``)."""
    pytester.makepyfile(test_noise=SUITE)
    outputs = {name: BASE[name] + heads[name] for name in BASE}
    (pytester.path / "outputs.json").write_text(json.dumps(outputs))
    for run in range(5):
        result = pytester.runpytest_subprocess(f"--tokenbudget-json=run{run}.json")
        assert result.ret == pytest.ExitCode.OK
    reports = [str(pytester.path / f"run{run}.json") for run in range(5)]
    baseline = str(pytester.path / "tokenbudget-baseline.json")
    assert (
        tokenbudget(["baseline", "update", *reports, "--stat", "median", "--baseline", baseline])
        == 0
    )
    stored = json.loads((pytester.path / "tokenbudget-baseline.json").read_text())
    grown = stored["tests"][NODE.format("grown")]
    assert grown["output_tokens"] == 305  # the upper median
    assert grown["samples"] == {
        "n": 5,
        "input_tokens": [100] * 5,
        "output_tokens": BASE["grown"],
        "calls": [1] * 5,
    }
    pytester.makepyprojecttoml(
        '[tool.tokenbudget]\nregression_metric = "input_tokens,output_tokens"\n'
    )


def verdicts(report: dict) -> dict[str, str]:
    return {n: v["verdict"] for n, v in report["baseline"]["tests"].items()}


@pytest.mark.parametrize("dist", DIST)
def test_within_the_noise_unchanged_doubled_regressed_borderline_inconclusive(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    record_baseline(pytester, {"steady": [104], "noisy": [230], "grown": [600]})
    result, report = run_report(pytester, *dist, subprocess=True)
    assert verdicts(report) == {
        NODE.format("grown"): "regressed",
        NODE.format("noisy"): "inconclusive",
        NODE.format("steady"): "unchanged",
    }
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # only the regression fails the run
    # a total of noisy figures is as noisy as they are: their tests are judged one by one
    assert [v["nodeid"] for v in report["violations"]] == [NODE.format("grown")]
    assert report["baseline"]["total"]["regressed"] is False
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "regression: test_noise.py::test_reply[[]grown[]]: output_tokens 305 -> 600 "
            "(medians of 5 baseline and 1 run sample, p = *)",
            "inconclusive (within the noise, not failing): test_noise.py::test_reply[[]noisy[]]: "
            "output_tokens 205 -> 230 *",
            "token gate: FAILED — 1 regression",
        ]
    )
    assert report["baseline"]["metrics"] == ["input_tokens", "output_tokens"]
    assert [c["nodeid"] for c in report["baseline"]["inconclusive"]] == [NODE.format("noisy")]


@pytest.mark.parametrize("dist", DIST)
def test_confirmation_reruns_the_grown_test_which_still_fails_the_noisy_one_passes(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    heads = {"steady": [104], "noisy": [230, 200], "grown": [345, 600, 620, 590]}
    record_baseline(pytester, heads)
    result, report = run_report(pytester, "--tokenbudget-confirm=3", *dist, subprocess=True)
    assert verdicts(report) == {
        NODE.format("grown"): "regressed",
        NODE.format("noisy"): "unchanged",
        NODE.format("steady"): "unchanged",
    }
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3)  # the re-runs are no test outcomes
    tests = report["tests"]
    assert tests[NODE.format("grown")]["samples"]["output_tokens"] == [345, 600, 620, 590]
    assert tests[NODE.format("noisy")]["samples"]["output_tokens"] == [230, 200]
    assert "samples" not in tests[NODE.format("steady")]  # never re-run
    # the test keeps its first run; the 4 extra runs are billed to the run, in their bucket
    assert tests[NODE.format("grown")]["output_tokens"] == 345
    bucket = tests["<confirmation>"]
    assert (bucket["calls"], bucket["output_tokens"]) == (4, 600 + 620 + 590 + 200)
    assert report["totals"]["output_tokens"] == 104 + 230 + 345 + 2010
    assert report["baseline"]["confirm"] == 3
    result.stdout.fnmatch_lines(
        [
            "regression: test_noise.py::test_reply[[]grown[]]: output_tokens 305 -> 590 "
            "(medians of 5 baseline and 4 run samples, p = *)"
        ]
    )
    for name in heads:  # every scripted reply was asked for, none more
        assert (pytester.path / f"count-{name}").read_text() == str(5 + len(heads[name]))
