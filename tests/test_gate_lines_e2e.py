"""What the gate reports, line by line: one line per violation, the same counts in the
terminal, the JSON, the Markdown, the HTML and the Action's outputs; ``max_calls=0``; the
summary's ``top``; refused calls under the model they asked for (serial and ``-n 2``)."""

from __future__ import annotations

import re

import pytest

from fakellm import FakeLLM
from pytest_tokenbudget.files.baseline import load_report
from pytest_tokenbudget.github.findings import outputs
from runs import DIST, run_report

SUITE = """
import pytest

def test_grows(token_tracker):
    token_tracker.record(input_tokens={grows}, output_tokens=10, model="gpt-4o-mini")

@pytest.mark.token_budget(max_tokens=100, max_calls=1)
def test_two_limits(token_tracker):
    token_tracker.record(input_tokens=10, output_tokens=10, model="gpt-4o-mini")
    if {over}:
        token_tracker.record(input_tokens=200, output_tokens=10, model="gpt-4o-mini")
"""


@pytest.mark.parametrize("dist", DIST)
def test_one_line_per_violation_and_the_same_counts_everywhere(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE.format(grows=100, over=False))
    pytester.runpytest("--tokenbudget-update-baseline").assert_outcomes(passed=2)
    pytester.makepyfile(test_suite=SUITE.format(grows=500, over=True))

    result, report = run_report(
        pytester,
        "--tokenbudget-max-tokens=300",
        "--tokenbudget-markdown=r.md",
        "--tokenbudget-html=r.html",
        *dist,
    )

    assert result.ret == 1
    kinds = [v["kind"] for v in report["violations"]]
    assert sorted(kinds) == ["regression"] * 3 + ["run_budget"] + ["test_budget"] * 2
    # the test over two limits: two violations, each its own line naming its own limit
    over = [v["message"] for v in report["violations"] if v["kind"] == "test_budget"]
    assert [m.split(" — ")[0] for m in over] == [
        "token budget exceeded: 230 tokens > max_tokens 100 (marker)",
        "token budget exceeded: 2 calls > max_calls 1 (marker)",
    ]
    out = result.stdout.lines
    start = out.index("budget violations:")
    listed = out[start + 1 : out.index("near budget:") if "near budget:" in out else None]
    listed = [line for line in listed if line.startswith("  ")]
    assert listed == [
        f"  test_suite.py::test_two_limits: {over[0]}",
        f"  test_suite.py::test_two_limits: {over[1]}",
        f"  run: {next(v['message'] for v in report['violations'] if v['kind'] == 'run_budget')}",
    ]
    # the same counts: verdict, final line, JSON, Markdown, HTML, Action outputs
    result.stdout.fnmatch_lines(
        [
            "token gate: FAILED — 3 regressions (2 tests and the total), 1 test over budget, "
            "run over budget (max_tokens)",
            "*= 1 failed, 1 passed, 3 token regressions, 1 run over token budget in *",
        ]
    )
    assert (
        "Gate: **failed**: 3 regressions (2 tests and the total), 1 test over budget, "
        "run over budget (max\\_tokens)"
    ) in (pytester.path / "r.md").read_text(encoding="utf-8")
    assert "Violations (6)</h2>" in (pytester.path / "r.html").read_text(encoding="utf-8")
    action = outputs(load_report(pytester.path / "r.json"))
    assert (action["violations"], action["regressions"]) == ("6", "3")

    # `tokenbudget report` lists each regression once (in the comparison), each other
    # violation once with its test, and ends with the same verdict
    from pytest_tokenbudget.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(pytester.path)
        import io
        import sys

        captured = io.StringIO()
        mp.setattr(sys, "stdout", captured)
        assert main(["report", "r.json"]) == 0
    text = captured.getvalue()
    assert text.count("test_suite.py::test_grows: 110 -> 510 tokens") == 1
    assert len(re.findall(r"^violation: ", text, re.M)) == 3
    assert text.endswith(
        "token gate: FAILED — 3 regressions (2 tests and the total), 1 test over budget, "
        "run over budget (max_tokens)\n"
    )


@pytest.mark.parametrize("dist", DIST)
def test_max_calls_zero_means_no_llm_call(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_calls=0)
        def test_needs_no_llm(token_tracker):
            pass

        @pytest.mark.token_budget(max_calls=0)
        def test_calls_one_anyway(token_tracker):
            token_tracker.record(input_tokens=5, model="gpt-4o-mini")
        """
    )
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*1 call > max_calls 0 (marker)*"])
    tests = report["tests"]
    assert tests["test_max_calls_zero_means_no_llm_call.py::test_needs_no_llm"]["budget"] == {
        "limits": {"max_calls": 0},
        "near": [],
        "note": None,
        "sources": {"max_calls": "marker"},
        "violations": [],
    }


def test_max_calls_zero_refuses_every_request_when_enforced(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    pytest.importorskip("openai")
    pytester.makepyfile(
        """
        import os
        import openai
        import pytest

        @pytest.mark.token_budget(max_calls=0, enforce=True)
        def test_no_call_allowed():
            client = openai.OpenAI(
                base_url=os.environ["TOKENBUDGET_FAKE_LLM"] + "/v1", api_key="k", max_retries=0
            )
            client.chat.completions.create(model="gpt-4o-mini", messages=[])
        """
    )
    result, report = run_report(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["tokenbudget refused an LLM request: test budget reached, 0 calls >= max_calls 0 *"]
    )
    assert not fake_llm.log  # never sent
    (test,) = report["tests"].values()
    # the refused call is listed under the model the request asked for, not "(unknown)"
    assert list(test["by_model"]) == ["gpt-4o-mini"]
    assert test["by_model"]["gpt-4o-mini"]["refused_calls"] == 1


@pytest.mark.parametrize("dist", DIST)
def test_top_lists_that_many_tests_or_all(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makepyfile(
        "\n".join(
            f"def test_{i:02}(token_tracker): token_tracker.record(input_tokens={100 + i})"
            for i in range(12)
        )
    )
    default = pytester.runpytest(*dist)
    default.stdout.fnmatch_lines(
        ["top tests by tokens (12 with usage):", "  ... and 2 more (--tokenbudget-top=0 lists all)"]
    )
    every = pytester.runpytest("--tokenbudget-top=0", *dist).stdout.str()
    assert all(f"::test_{i:02}" in every for i in range(12))
    assert "... and" not in every
    pytester.makepyprojecttoml("[tool.tokenbudget]\ntop = 3\n")
    three = pytester.runpytest(*dist)
    three.stdout.fnmatch_lines(
        ["*::test_11 *", "*::test_10 *", "*::test_09 *", "  ... and 9 more*"]
    )
    bad = pytester.runpytest("--tokenbudget-top=-1")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--tokenbudget-top*must be a whole number >= 0, got '-1'*"])
