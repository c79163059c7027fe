"""End-to-end budget tests: each limit kind, marker placement, defaults, run budgets and
warn-only, serial and under ``-n 2`` with identical outcomes and exit codes."""

from __future__ import annotations

import pytest

from runs import DIST, run_report

SUITE = """
import pytest

def use(tracker, inp=0, out=0, calls=1, cost=None, model="gpt-4o-mini"):
    for _ in range(calls):
        tracker.record(input_tokens=inp, output_tokens=out, model=model, cost_usd=cost)

@pytest.mark.token_budget(1000)
def test_tokens_over(token_tracker):
    with token_tracker.operation("summarise"):
        use(token_tracker, 900, 101)

@pytest.mark.token_budget(1000)
def test_tokens_at_limit(token_tracker):
    use(token_tracker, 900, 100)

@pytest.mark.token_budget(max_input_tokens=50)
def test_input_over(token_tracker):
    use(token_tracker, 51)

@pytest.mark.token_budget(max_output_tokens=50)
def test_output_over(token_tracker):
    use(token_tracker, 0, 51)

@pytest.mark.token_budget(max_calls=2)
def test_calls_over(token_tracker):
    use(token_tracker, 1, calls=3)

@pytest.mark.token_budget(max_cost_usd=0.01)
def test_cost_over(token_tracker):
    use(token_tracker, 10, cost=0.006, calls=2)

@pytest.mark.token_budget(max_tokens=100)
class TestClassMarker:
    def test_class_over(self, token_tracker):
        use(token_tracker, 101)

    @pytest.mark.token_budget(max_tokens=500)
    def test_closest_marker_wins(self, token_tracker):
        use(token_tracker, 101)
"""


@pytest.mark.parametrize("dist", DIST)
def test_each_limit_kind_fails_its_test(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=2, failed=6)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "FAILED test_suite.py::test_tokens_over - token budget exceeded: 1,001 tokens*",
        ]
    )
    text = result.stdout.str()
    assert (
        "token budget exceeded: 1,001 tokens > max_tokens 1,000 (marker) — input 900, output 101 "
        'in 1 call; top: gpt-4o-mini 1,001 (operation "summarise")'
    ) in text
    got = {
        (v["nodeid"].split("::")[-1], v["metric"], v["limit"], v["actual"])
        for v in report["violations"]
    }
    assert got == {
        ("test_tokens_over", "total_tokens", 1000, 1001),
        ("test_input_over", "input_tokens", 50, 51),
        ("test_output_over", "output_tokens", 50, 51),
        ("test_calls_over", "calls", 2, 3),
        ("test_cost_over", "cost_usd", 0.01, 0.012),
        ("test_class_over", "total_tokens", 100, 101),
    }
    assert report["passed"] is False
    assert all(v["kind"] == "test_budget" for v in report["violations"])


@pytest.mark.parametrize("dist", DIST)
def test_module_marker_and_default_budget(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makepyfile(
        test_mod="""
        import pytest
        pytestmark = pytest.mark.token_budget(max_calls=1)

        def test_module_marker(token_tracker):
            token_tracker.record(input_tokens=1)
            token_tracker.record(input_tokens=1)
        """,
        test_default="""
        import pytest

        def test_default_over(token_tracker):
            token_tracker.record(input_tokens=301)

        def test_default_ok(token_tracker):
            token_tracker.record(input_tokens=300)

        @pytest.mark.token_budget(max_tokens=1000)
        def test_marker_overrides_default(token_tracker):
            token_tracker.record(input_tokens=999)
        """,
    )
    pytester.makepyprojecttoml("[tool.tokenbudget]\ntest_max_tokens = 300\n")
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        ["*2 calls > max_calls 1 (marker)*", "*301 tokens > max_tokens 300 (default)*"]
    )
    budget = report["tests"]["test_default.py::test_marker_overrides_default"]["budget"]
    assert budget["limits"] == {"max_tokens": 1000}
    # the default per-test budget stays beside a marker that sets other limits
    mod_budget = report["tests"]["test_mod.py::test_module_marker"]["budget"]
    assert mod_budget["limits"] == {"max_calls": 1, "max_tokens": 300}


@pytest.mark.parametrize("dist", DIST)
def test_warn_only_reports_but_fails_nothing(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result, report = run_report(
        pytester, "--tokenbudget-warn-only", "--tokenbudget-max-tokens=10", *dist
    )
    result.assert_outcomes(passed=8)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["budget violations (warn-only: not failing):", "*run budget exceeded*"]
    )
    assert len(report["violations"]) == 7
    assert report["passed"] is False


@pytest.mark.parametrize("dist", DIST)
def test_near_budget_is_listed(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(100)
        def test_near(token_tracker):
            token_tracker.record(input_tokens=80)

        @pytest.mark.token_budget(100)
        def test_far(token_tracker):
            token_tracker.record(input_tokens=79)
        """
    )
    result, _ = run_report(pytester, *dist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["near budget:", "  *::test_near: 80 tokens of max_tokens 100 (marker)"]
    )
    assert "test_far:" not in result.stdout.str()
    pytester.makepyprojecttoml("[tool.tokenbudget]\nwarn_at = 0.5\n")
    result, _ = run_report(pytester, *dist)
    result.stdout.fnmatch_lines(["near budget:", "*test_far: 79 tokens of max_tokens 100*"])


@pytest.mark.parametrize("dist", DIST)
@pytest.mark.parametrize(
    ("option", "exit_code"),
    [
        ("--tokenbudget-max-tokens=599", pytest.ExitCode.TESTS_FAILED),
        ("--tokenbudget-max-tokens=600", pytest.ExitCode.OK),
        ("--tokenbudget-max-cost=0.0059", pytest.ExitCode.TESTS_FAILED),
        ("--tokenbudget-max-cost=0.006", pytest.ExitCode.OK),
    ],
)
def test_run_budget_sets_the_exit_status(
    pytester: pytest.Pytester, dist: list[str], option: str, exit_code: int
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("i", range(3))
        def test_a(token_tracker, i):
            token_tracker.record(input_tokens=150, output_tokens=50, model="m", cost_usd=0.002)
        """
    )
    result, report = run_report(pytester, option, *dist)
    result.assert_outcomes(passed=3)
    assert result.ret == exit_code
    if exit_code:
        result.stdout.fnmatch_lines(["budget violations:", "  run: run budget exceeded: *"])
        (violation,) = report["violations"]
        assert violation["kind"] == "run_budget"
        assert violation["nodeid"] is None
    else:
        assert report["violations"] == []
        result.stdout.fnmatch_lines(["run budget max_*: * of * (*%)"])


def test_run_budget_from_config(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.tokenbudget]\nmax_tokens = 10\n")
    pytester.makepyfile("def test_a(token_tracker): token_tracker.record(input_tokens=11)")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*11 tokens > max_tokens 10 ([[]tool.tokenbudget[]] of *"])


@pytest.mark.parametrize("dist", DIST)
def test_cost_budget_with_unpriced_model_is_not_checkable_for_that_part(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_cost_usd=0.01)
        def test_mixed(token_tracker):
            token_tracker.record(input_tokens=10, model="priced", cost_usd=0.004)
            token_tracker.record(input_tokens=10, model="no-such-model-xyz")
        """
    )
    result, report = run_report(pytester, "--tokenbudget-max-cost=1", *dist)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "note: run max_cost_usd checked on priced calls only ($0.004)*",
            "run budget max_cost_usd: $0.004 of $1.00 (0%)",
            "limits not fully checked:",
            "*test_mixed: max_cost_usd checked on priced calls only ($0.004): "
            "1 unpriced call not checkable",
        ]
    )
    assert report["totals"]["cost_usd"] is None
    assert report["totals"]["unpriced_calls"] == 1


def test_body_failure_stays_visible(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(10)
        def test_both(token_tracker):
            token_tracker.record(input_tokens=100)
            assert 1 == 2, "body failure"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: body failure*",
            "*- tokenbudget -*",
            "token budget exceeded: 100 tokens*",
        ]
    )


def test_usage_in_teardown_counts_toward_the_budget(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def agent(token_tracker):
            yield
            token_tracker.record(input_tokens=60)

        @pytest.mark.token_budget(100)
        def test_a(agent, token_tracker):
            token_tracker.record(input_tokens=60)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a*", "*120 tokens > max_tokens 100*"])


@pytest.mark.parametrize("dist", DIST)
def test_bad_marker_is_a_usage_error_at_collection(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_tokenz=5)
        def test_a():
            pass
        """
    )
    result = pytester.runpytest(*dist)
    assert result.ret != pytest.ExitCode.OK
    assert "unknown keyword 'max_tokenz'" in result.stdout.str() + result.stderr.str()
    assert "test_bad_marker_is_a_usage_error_at_collection.py::test_a" in (
        result.stdout.str() + result.stderr.str()
    )


def test_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(10)
        def test_a():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.token_budget(max_tokens=None, *"])


@pytest.mark.parametrize("dist", DIST)
def test_failed_budget_outcomes_match_between_serial_and_xdist(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result, report = run_report(pytester, "--tokenbudget-max-tokens=100", *dist)
    outcomes = result.parseoutcomes()
    assert (outcomes.get("failed"), outcomes.get("passed"), result.ret) == (6, 2, 1)
    assert len(report["violations"]) == 7


@pytest.mark.parametrize("dist", DIST)
def test_statuses_in_the_report_follow_each_phase_and_the_budget(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    """Each test's status comes from all its phases' reports, and a budget check that fails a
    passing report outranks what the report alone would say (an xpass over budget failed)."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("teardown")

        @pytest.mark.token_budget(10)
        @pytest.mark.xfail(strict=False)
        def test_xpass_over(token_tracker):
            token_tracker.record(input_tokens=100)

        @pytest.mark.xfail(strict=False)
        def test_xpass(token_tracker):
            token_tracker.record(input_tokens=1)

        @pytest.mark.xfail(strict=False)
        def test_xfail(token_tracker):
            token_tracker.record(input_tokens=1)
            assert False

        def test_teardown_error(token_tracker, broken_teardown):
            token_tracker.record(input_tokens=1)

        def test_skipped(token_tracker):
            token_tracker.record(input_tokens=1)
            pytest.skip("no")
        """
    )
    result, report = run_report(pytester, *dist)
    assert result.ret == 1
    statuses = {nodeid.split("::")[1]: t["status"] for nodeid, t in report["tests"].items()}
    assert statuses == {
        "test_xpass_over": "failed",
        "test_xpass": "xpassed",
        "test_xfail": "xfailed",
        "test_teardown_error": "error",
        "test_skipped": "skipped",
    }
