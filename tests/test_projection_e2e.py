"""Projected spend (PRODUCT.md "Projected spend"), end to end, serial and ``-n 2``: the
summary, the verdict, the JSON report's ``projection`` fields, the Markdown headline and
``tokenbudget analyze``, every figure computed by hand from gpt-4o-mini's table prices ($0.15
input, $0.60 output per million tokens); an unpriced model makes a projection unknown, and
without ``runs_per_month`` nothing of it appears."""

from __future__ import annotations

import re

import pytest

from pytest_tokenbudget.cli import main
from pytest_tokenbudget.files.baseline import load_report
from pytest_tokenbudget.render.markdown import render_markdown
from runs import DIST, read_json, run_report

# test_agent grows 1,500 -> 2,500 tokens: $0.00045 -> $0.0006 a run (+$0.00015, x900 = $0.135)
# test_shrink falls 4,000 -> 1,000 input: $0.0006 -> $0.00015 (-$0.00045, x900 = -$0.405)
# test_tool stays 100 + 10: $0.000021. Totals: $0.001071 -> $0.000771 (-$0.0003, x900 = -$0.27)
SUITE = """
import os

def test_agent(token_tracker):
    token_tracker.record(input_tokens=int(os.environ["AGENT"]), output_tokens=500,
                         model="gpt-4o-mini")

def test_shrink(token_tracker):
    token_tracker.record(input_tokens=int(os.environ["SHRINK"]), model="gpt-4o-mini")

def test_tool(token_tracker):
    token_tracker.record(input_tokens=100, output_tokens=10, model=os.environ["TOOL_MODEL"])
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The suite with a baseline of its first version (agent 1,000, shrink 4,000 input)."""
    pytester.makepyfile(test_x=SUITE)
    monkeypatch.setenv("TOOL_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("AGENT", "1000")
    monkeypatch.setenv("SHRINK", "4000")
    pytester.runpytest("--tokenbudget-update-baseline").assert_outcomes(passed=3)
    monkeypatch.setenv("AGENT", "2000")
    monkeypatch.setenv("SHRINK", "1000")
    return pytester


def _lines(output: str) -> list[str]:
    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.splitlines()]


@pytest.mark.parametrize("dist", DIST)
def test_summary_json_and_markdown_carry_the_month(suite: pytest.Pytester, dist: list[str]) -> None:
    result, report = run_report(
        suite, "--tokenbudget-runs-per-month=900", "--tokenbudget-markdown=r.md", *dist
    )
    assert result.ret == 1  # test_agent regressed
    lines = _lines(result.stdout.str())
    for expected in (
        "projected spend: $0.000771 per run, about $0.6939 a month at 900 runs (this run's prices)",
        "regression: test_x.py::test_agent: 1,500 -> 2,500 tokens (+67%): +1,000 input "
        "(gpt-4o-mini) — +$0.00015 per run, about $0.135 a month at 900 runs",
        "improved: 1 test(s) saved 3,000 tokens, $0.00045 (about $0.405 a month at 900 runs) "
        "(test_x.py::test_shrink); update the baseline to keep the gain",
        "cost of the tests in both: -$0.0003 per run, about -$0.27 a month at 900 runs",
        "token gate: FAILED — 1 regression; -$0.0003 per run, about -$0.27 a month at 900 runs",
    ):
        assert expected in lines
    assert report["projection"] == {"runs_per_month": 900, "cost_usd": 0.6939}
    comparison = report["baseline"]
    (regression,) = comparison["regressions"]
    assert regression["projection"] == {
        "runs_per_month": 900,
        "cost_usd": 0.54,
        "change_usd": 0.135,
    }
    (improvement,) = comparison["improvements"]
    assert improvement["projection"] == {
        "runs_per_month": 900,
        "cost_usd": 0.135,
        "change_usd": -0.405,
    }
    assert comparison["total"]["projection"] == {
        "runs_per_month": 900,
        "cost_usd": 0.6939,
        "change_usd": -0.27,
    }
    markdown = (suite.path / "r.md").read_text(encoding="utf-8").splitlines()
    assert markdown[1] == (
        "### 🔽 This run lowers token use by 35.7% (-2,000 tokens, -$0.0003 per run, "
        "about -$0.27 a month at 900 runs)"
    )
    rows = "\n".join(markdown)
    assert "+1,000 input (gpt-4o-mini) · about $0.135 a month at 900 runs |" in rows
    assert "saved $0.00045, about $0.405 a month at 900 runs |" in rows
    assert "| cost a month (900 runs) | $0.9639 | $0.6939 | -$0.27 |" in rows


@pytest.mark.parametrize("dist", DIST)
def test_an_unpriced_model_makes_the_projection_unknown(
    suite: pytest.Pytester, dist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOL_MODEL", "my-llm")  # no price: test_tool's cost is unknown
    result, report = run_report(
        suite, "--tokenbudget-runs-per-month=900", "--tokenbudget-markdown=r.md", *dist
    )
    lines = _lines(result.stdout.str())
    assert "projected spend: cost a month unknown at 900 runs (a call is unpriced)" in lines
    # the gate's figure (all tests on both sides) includes test_tool: unknown, never $0
    assert (
        "token gate: FAILED — 1 regression; cost a month unknown at 900 runs (a call is unpriced)"
        in lines
    )
    assert report["projection"] == {"runs_per_month": 900, "cost_usd": None}
    assert report["baseline"]["total"]["projection"] == {
        "runs_per_month": 900,
        "cost_usd": None,
        "change_usd": None,
    }
    # test_agent is priced on both sides: its own projection is known
    (regression,) = report["baseline"]["regressions"]
    assert regression["projection"]["change_usd"] == 0.135
    headline = (suite.path / "r.md").read_text(encoding="utf-8").splitlines()[1]
    assert headline == (
        "### 🔽 This run lowers token use by 35.7% (-2,000 tokens per run, "
        "cost a month unknown at 900 runs (a call is unpriced))"
    )


@pytest.mark.parametrize("dist", DIST)
def test_without_runs_per_month_nothing_is_projected(
    suite: pytest.Pytester, dist: list[str]
) -> None:
    result, report = run_report(suite, *dist)
    assert "a month" not in result.stdout.str()
    assert "projection" not in str(report)
    assert "token gate: FAILED — 1 regression" in _lines(result.stdout.str())
    assert "a month" not in render_markdown(load_report(str(suite.path / "r.json")))


def test_config_key_and_a_first_run_without_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_one(token_tracker):
            token_tracker.record(input_tokens=1000, output_tokens=500, model="gpt-4o-mini")
        """
    )
    pytester.makepyprojecttoml("[tool.tokenbudget]\nruns_per_month = 30\n")
    result, report = run_report(pytester, "--tokenbudget-markdown=r.md")
    # $0.00045 a run x 30 = $0.0135
    assert report["projection"] == {"runs_per_month": 30, "cost_usd": 0.0135}
    assert (
        "token gate: passed — no budget exceeded, no baseline compared; $0.00045 per run, "
        "about $0.0135 a month at 30 runs"
    ) in _lines(result.stdout.str())
    headline = (pytester.path / "r.md").read_text(encoding="utf-8").splitlines()[1]
    assert headline == (
        "### 📊 This run used 1,500 tokens ($0.00045, about $0.0135 a month at 30 runs) in 1 "
        "call: no baseline to compare with"
    )
    # the command line wins over the file
    _, report = run_report(pytester, "--tokenbudget-runs-per-month=1000")
    assert report["projection"] == {"runs_per_month": 1000, "cost_usd": 0.45}


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("option", "0", "must be a positive whole number, got 0"),
        ("option", "often", "must be a positive whole number, got 'often'"),
        ("config", "-5", "bad value for runs_per_month = -5 in [tool.tokenbudget]"),
        ("config", "true", "bad value for runs_per_month = True in [tool.tokenbudget]"),
    ],
)
def test_a_bad_value_is_a_usage_error(
    pytester: pytest.Pytester, where: str, value: str, message: str
) -> None:
    pytester.makepyfile("def test_one(): pass")
    if where == "config":
        pytester.makepyprojecttoml(f"[tool.tokenbudget]\nruns_per_month = {value}\n")
        result = pytester.runpytest()
    else:
        result = pytester.runpytest(f"--tokenbudget-runs-per-month={value}")
    assert result.ret == 4
    err = result.stderr.str()
    assert message in err
    if where == "option":
        assert "--tokenbudget-runs-per-month" in err


@pytest.mark.parametrize("dist", DIST)
def test_analyze_projects_spend_and_savings(
    suite: pytest.Pytester, dist: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_report(suite, "--tokenbudget-runs-per-month=900", *dist)
    capsys.readouterr()
    path = str(suite.path / "r.json")
    assert main(["analyze", path, "--runs-per-month", "1000"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("projected spend at 1,000 runs a month (the report's prices: ")
    assert out[0].endswith("): $0.000771 per run, about $0.771 a month at 1,000 runs")
    assert out[1:6] == [
        "by test:",
        "   $0.60 a month  test_x.py::test_agent  ($0.0006 per run)",
        "   $0.15 a month  test_x.py::test_shrink  ($0.00015 per run)",
        "  $0.021 a month  test_x.py::test_tool  ($0.000021 per run)",
        "by model:",
    ]
    assert out[6] == "  $0.771 a month  gpt-4o-mini  ($0.000771 per run)"
    assert out[7] == "recommendations:"
    # caching: 3,100 uncached input in 3 calls, 2 of 3 could be read at $0.075 less a million:
    # 2,066 tokens x 75,000 picodollars = $0.00015495 a run, x1,000 = $0.15495
    (caching,) = [line for line in out if "[caching]" in line]
    assert caching.endswith("save up to $0.00015495 a run, about $0.15495 a month at 1,000 runs")
    (agent,) = [line for line in out if "[budget] test_x.py::test_agent" in line]
    assert agent.endswith("; it costs $0.0006 per run, about $0.60 a month at 1,000 runs")
    # without the option the report's own runs_per_month (900) is used
    assert main(["analyze", path]) == 0
    assert "about $0.6939 a month at 900 runs" in capsys.readouterr().out
    report = read_json(suite)
    assert report["projection"]["runs_per_month"] == 900
