"""End-to-end: baseline update, regression gate, savings, partial runs and CI shards."""

from __future__ import annotations

import json

import pytest

from pytest_tokenbudget.cli import main as tokenbudget
from runs import DIST, read_json, run_report

SUITE = """
import json, pathlib, pytest

SIZES = json.loads(pathlib.Path(__file__).with_name("sizes.json").read_text())

@pytest.mark.parametrize("name", sorted(SIZES))
def test_agent(token_tracker, name):
    with token_tracker.operation("retrieve"):
        for _ in range(SIZES[name]):
            token_tracker.record(input_tokens=1000, output_tokens=50, model="gpt-4o-mini")
    token_tracker.record(input_tokens=200, output_tokens=20, model="gpt-4o-mini")
"""


def setup_suite(pytester: pytest.Pytester, sizes: dict[str, int]) -> None:
    pytester.makepyfile(test_agents=SUITE)
    (pytester.path / "sizes.json").write_text(json.dumps(sizes))


@pytest.mark.parametrize("dist", DIST)
def test_grow_fails_shrink_passes_with_the_saving(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    setup_suite(pytester, {"a": 2, "b": 2})
    result = pytester.runpytest("--tokenbudget-update-baseline", *dist)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["baseline: none at *tokenbudget-baseline.json*", "baseline updated: *(2 tests)"]
    )
    baseline = read_json(pytester, "tokenbudget-baseline.json")
    assert baseline["schema"] == "pytest-tokenbudget/baseline@1"
    assert baseline["totals"]["total_tokens"] == 2 * (2 * 1050 + 220)

    setup_suite(pytester, {"a": 3, "b": 2})
    result, report = run_report(pytester, *dist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "regression: test_agents.py::test_agent[[]a[]]: 2,320 -> 3,370 tokens (+45%): "
            'operation "retrieve" +1,000 input, +50 output (gpt-4o-mini), calls 3 -> 4',
        ]
    )
    assert report["passed"] is False
    kinds = sorted((v["kind"], v["nodeid"] or "") for v in report["violations"])
    assert kinds == [("regression", ""), ("regression", "test_agents.py::test_agent[a]")]

    setup_suite(pytester, {"a": 1, "b": 2})
    result, report = run_report(pytester, *dist)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["improved: 1 test(s) saved 1,050 tokens, $* (test_agents.py::test_agent[[]a[]])*"]
    )
    improvements = report["baseline"]["improvements"]
    assert [(c["nodeid"], c["saved_tokens"]) for c in improvements] == [
        ("test_agents.py::test_agent[a]", 1050)
    ]


@pytest.mark.parametrize("dist", DIST)
def test_updating_the_baseline_accepts_a_regression(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    setup_suite(pytester, {"a": 2})
    pytester.runpytest("--tokenbudget-update-baseline", *dist)
    setup_suite(pytester, {"a": 5})
    result, report = run_report(pytester, "--tokenbudget-update-baseline", *dist)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*test_agent[[]a[]]: 2,320 -> 5,470 tokens (+136%)*"])
    assert report["passed"] is True
    assert report["violations"] == []
    assert [c["nodeid"] for c in report["baseline"]["regressions"]] == [
        "test_agents.py::test_agent[a]"
    ]
    baseline = read_json(pytester, "tokenbudget-baseline.json")
    assert baseline["totals"]["total_tokens"] == 5 * 1050 + 220
    # the next run compares with the accepted figures: no regression
    assert pytester.runpytest(*dist).ret == pytest.ExitCode.OK


def test_warn_only_and_regression_options(pytester: pytest.Pytester) -> None:
    setup_suite(pytester, {"a": 10})
    pytester.runpytest("--tokenbudget-update-baseline")
    setup_suite(pytester, {"a": 11})  # +1,050 of 10,720: +9.8%
    assert pytester.runpytest().ret == pytest.ExitCode.OK
    assert pytester.runpytest("--tokenbudget-regression=5%").ret == pytest.ExitCode.TESTS_FAILED
    assert pytester.runpytest("--tokenbudget-regression=0.05", "--tokenbudget-warn-only").ret == 0
    args = ("--tokenbudget-regression=0%", "--tokenbudget-regression-min=2000")
    assert pytester.runpytest(*args).ret == pytest.ExitCode.OK
    result = pytester.runpytest(
        "--tokenbudget-regression=0%", "--tokenbudget-regression-metric=calls"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*rule: calls grows more than 0%*"])


def test_partial_run_updates_only_what_ran(pytester: pytest.Pytester) -> None:
    setup_suite(pytester, {"alpha": 1, "bravo": 1})
    pytester.runpytest("--tokenbudget-update-baseline")
    setup_suite(pytester, {"alpha": 5, "bravo": 5})
    pytester.runpytest("--tokenbudget-update-baseline", "-k", "alpha").assert_outcomes(passed=1)
    tests = read_json(pytester, "tokenbudget-baseline.json")["tests"]
    assert tests["test_agents.py::test_agent[alpha]"]["calls"] == 6
    assert tests["test_agents.py::test_agent[bravo]"]["calls"] == 2


def test_missing_baseline_is_a_note_corrupt_one_a_usage_error(pytester: pytest.Pytester) -> None:
    setup_suite(pytester, {"a": 1})
    result = pytester.runpytest("--tokenbudget-baseline=nope.json")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["baseline: none at *nope.json (nothing to compare*"])
    (pytester.path / "bad.json").write_text(
        '{"schema": "pytest-tokenbudget/report@1", "tests": {}}'
    )
    result = pytester.runpytest("--tokenbudget-baseline=bad.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: tokenbudget: *bad.json*"])
    (pytester.path / "bad.json").write_text("{not json")
    result = pytester.runpytest("--tokenbudget-baseline=bad.json", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: tokenbudget: *bad.json: not valid JSON*--tokenbudget-update-baseline*"]
    )


def test_shards_merged_equal_the_unsplit_run(pytester: pytest.Pytester) -> None:
    setup_suite(pytester, {"alpha": 1, "bravo": 4, "charlie": 2, "delta": 7})
    unsplit, full = run_report(pytester, "-n", "2", json="full.json")
    unsplit.assert_outcomes(passed=4)
    shard1 = pytester.runpytest("--tokenbudget-json=s1.json", "-k", "alpha or bravo")
    shard1.assert_outcomes(passed=2)
    shard2 = pytester.runpytest("--tokenbudget-json=s2.json", "-k", "charlie or delta", "-n", "2")
    shard2.assert_outcomes(passed=2)
    root = pytester.path
    code = tokenbudget(
        ["merge", str(root / "s1.json"), str(root / "s2.json"), "-o", str(root / "m.json")]
    )
    assert code == 0
    merged = read_json(pytester, "m.json")
    assert merged["totals"] == full["totals"]
    assert merged["tests"] == full["tests"]
