"""Projected spend (pure): exact in picodollars, unknown where a call is unpriced, and the
words every view uses; analyze's monthly figures for each recommendation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tokenbudget.cli.analyze import recommendations, spend_lines
from pytest_tokenbudget.config import SettingsError, resolve
from pytest_tokenbudget.files.baseline import report_from_dict
from pytest_tokenbudget.pricing import load_pricer
from pytest_tokenbudget.projection import a_month, cost_pico, monthly, per_run, project
from pytest_tokenbudget.records import figures
from pytest_tokenbudget.usage import PICO_PER_USD, Usage
from reportfactory import as_json, make_test, report_doc, simple


@given(
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=20),
    st.integers(min_value=1, max_value=10**6),
)
def test_a_month_is_the_runs_added_up_exactly(costs: list[int], runs: int) -> None:
    # a run of several tests projected is the sum of each test projected: no rounding between
    total = sum(costs)
    assert monthly(total, runs) == sum(c * runs for c in costs) / PICO_PER_USD
    assert monthly(total, runs) == pytest.approx(sum(monthly(c, runs) or 0 for c in costs))


def test_the_brief_s_example_and_unknown_costs() -> None:
    four_tenths_of_a_cent = 4 * 10**9  # $0.004
    assert per_run(four_tenths_of_a_cent, 900, signed=True) == (
        "+$0.004 per run, about $3.60 a month at 900 runs"
    )
    assert per_run(-four_tenths_of_a_cent, 900, signed=True) == (
        "-$0.004 per run, about -$3.60 a month at 900 runs"
    )
    # printed to 8 decimals a run, but the month is the exact run cost times 1,000
    assert per_run(10**12 // 3, 1_000) == (
        "$0.33333333 per run, about $333.33 a month at 1,000 runs"
    )
    assert a_month(None, 900) == "cost a month unknown at 900 runs (a call is unpriced)"
    assert monthly(None, 900) is None


def test_unpriced_calls_make_a_cost_unknown_never_zero() -> None:
    assert cost_pico(Usage(10, calls=1, unpriced_calls=1, cost_pico=0)) is None
    assert cost_pico(figures(Usage(10, calls=2, unpriced_calls=1, cost_pico=5))) is None
    assert cost_pico(figures(Usage(10, calls=1, cost_pico=1_500_000))) == 1_500_000


def test_project_fills_the_report_and_no_setting_leaves_it_absent() -> None:
    report = report_from_dict(report_doc({"t::a": simple(1000, 500)}))
    assert "projection" not in as_json(report)
    project(report, 900)
    # 1,000 x $0.15 + 500 x $0.60 a million = $0.00045 a run, x900 = $0.405
    assert (report.projection.runs_per_month, report.projection.cost_usd) == (900, 0.405)


@pytest.mark.parametrize(("given_value", "expected"), [("900", 900), (30, 30), ("1_000", 1000)])
def test_runs_per_month_setting(given_value: object, expected: int) -> None:
    assert resolve({}, {"runs_per_month": given_value}, "p.toml")["runs_per_month"] == expected
    assert resolve({}, {}, "p.toml")["runs_per_month"] is None


@pytest.mark.parametrize("bad", [0, -1, "x", True, 1.5])
def test_runs_per_month_rejects(bad: object) -> None:
    with pytest.raises(SettingsError, match=r"bad value for runs_per_month = .* in .*p\.toml"):
        resolve({}, {"runs_per_month": bad}, "p.toml")


def test_each_recommendation_quotes_its_month() -> None:
    pricer = load_pricer(None, use_genai_prices=False)
    tests = {f"t::small{i}": simple(100) for i in range(4)}
    # 12 calls, 9,700 input + 300 output: $0.001455 + $0.00018 = $0.001635 a run
    tests["t::agent"] = simple(9_700, 300, calls=12)
    tests["t::local"] = make_test([("(none)", "my-llm", 5_000, 5, 1)])
    report = report_from_dict(report_doc(tests))
    found = {f.kind: f.text for f in recommendations(report, pricer, runs=100)}
    # x100 = $0.1635; the cap of 15 calls at $0.00013625 a call: $0.00204375 a run, x100
    assert found["loop"].endswith(
        "; it costs $0.001635 per run, about $0.1635 a month at 100 runs; at $0.00013625 a call "
        "the cap holds it under about $0.204375 a month at 100 runs"
    )
    # the three biggest are t::agent, t::local and a small one; t::local's model has no
    # price: their cost a month is unknown, not $0
    assert found["concentration"].endswith(
        "; cost unknown (a call is unpriced): no monthly projection"
    )
    (local,) = [f.text for f in recommendations(report, pricer, 100) if "t::local uses" in f.text]
    assert local.endswith("; cost unknown (a call is unpriced): no monthly projection")
    without = {f.kind: f.text for f in recommendations(report, pricer)}
    assert "a month" not in " ".join(without.values())
    lines = spend_lines(report, 100)
    assert lines[0].endswith("cost a month unknown at 100 runs (a call is unpriced)")
    assert lines[1:3] == ["by test:", "  $0.1635 a month  t::agent  ($0.001635 per run)"]
    assert "  unknown a month  t::local  (a call is unpriced)" in lines
