from __future__ import annotations

from typing import Any

import pytest

from pytest_tokenbudget.files.baseline import Baseline, baseline_from_report, report_from_dict
from pytest_tokenbudget.gate.explain import explain
from pytest_tokenbudget.gate.regression import compare, is_regression
from pytest_tokenbudget.parsers import parse_percent
from pytest_tokenbudget.records import make_record
from pytest_tokenbudget.usage import Usage
from reportfactory import as_json, make_test, report_doc, simple


def report(tests: dict[str, Any]) -> Any:
    return report_from_dict(report_doc(tests))


def base(tests: dict[str, Any]) -> Baseline:
    return baseline_from_report(report(tests))


@pytest.mark.parametrize(
    ("text", "value"),
    [("10%", 0.1), ("0%", 0.0), ("0.1", 0.1), (" 12.5 % ", 0.125), ("0", 0.0), (0.25, 0.25)],
)
def test_parse_percent(text: object, value: float) -> None:
    assert parse_percent(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["ten", "10%%", "-5%", "", "%", "nan", "inf", True, None])
def test_parse_percent_rejects(text: object) -> None:
    with pytest.raises(ValueError, match=r"invalid percentage .*'10%'.*0\.1") as info:
        parse_percent(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("before", "after", "pct", "floor", "expected"),
    [
        (1000, 1100, 0.1, 0, False),  # exactly +10% is not more than 10%
        (1000, 1101, 0.1, 0, True),
        (1000, 1101, 0.1, 102, False),  # under the noise floor
        (1000, 1101, 0.1, 101, True),  # floor is inclusive
        (1000, 1001, 0.0, 0, True),  # 0%: any growth
        (1000, 1000, 0.0, 0, False),
        (0, 1, 0.1, 0, True),  # from nothing
        (1000, 900, 0.1, 0, False),
    ],
)
def test_rule(before: int, after: int, pct: float, floor: int, expected: bool) -> None:
    assert is_regression(Usage(before), Usage(after), "total_tokens", pct, floor) is expected


def test_example_message_from_the_contract() -> None:
    old = base(
        {
            "test_agent": make_test(
                [("retrieve", "gpt-4o-mini", 3000, 100, 2), ("answer", "gpt-4o", 1900, 100, 1)]
            )
        }
    )
    new = report(
        {
            "test_agent": make_test(
                [("retrieve", "gpt-4o-mini", 5100, 100, 6), ("answer", "gpt-4o", 1900, 350, 1)]
            )
        }
    )
    result = compare(old, new)
    assert result.regressed
    (change,) = result.regressions
    assert change.message == (
        'test_agent: 5,100 -> 7,450 tokens (+46%): operation "retrieve" +2,100 input '
        '(gpt-4o-mini), operation "answer" +250 output (gpt-4o), calls 3 -> 7'
    )
    violations = result.violations()
    assert violations[0].kind == "regression"
    assert violations[0].nodeid == "test_agent"
    assert violations[0].limit == 5610
    assert violations[0].actual == 7450
    assert violations[1].nodeid is None  # the total
    assert "total of the tests in both" in violations[1].message


def test_improvements_new_missing_and_total_over_common_tests() -> None:
    old = base({"t::a": simple(1000), "t::b": simple(2000, 500), "t::gone": simple(10_000)})
    new = report({"t::a": simple(1000), "t::b": simple(1000, 300), "t::new": simple(50_000)})
    result = compare(old, new)
    assert not result.regressed  # the new test is not a regression, nor is a missing one
    assert result.new == ["t::new"]
    assert result.missing == ["t::gone"]
    (imp,) = result.improvements
    assert imp.nodeid == "t::b"
    assert imp.change_pct == pytest.approx(-48.0)
    assert result.saved_tokens == 1200
    assert result.saved_usd == pytest.approx((1000 * 0.15 + 200 * 0.6) / 1e6)
    data = as_json(result.record())
    assert data["total"]["before"] == 3500
    assert data["total"]["after"] == 2300
    assert data["baseline_totals"]["total_tokens"] == 13_500
    assert data["current_totals"]["total_tokens"] == 52_300
    assert data["improvements"][0]["saved_tokens"] == 1200


def test_many_small_growths_fail_the_total() -> None:
    old = base({f"t::{i}": simple(1000) for i in range(10)})
    new = report({f"t::{i}": simple(1080 if i < 9 else 2000) for i in range(10)})
    result = compare(old, new, regression=0.1)
    assert [c.nodeid for c in result.regressions] == ["t::9"]
    assert result.total_regressed
    assert "most growth in t::9" in result.total_change.message
    lenient = compare(old, new, regression=0.5)
    assert not lenient.total_regressed
    assert [c.nodeid for c in lenient.regressions] == ["t::9"]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("input_tokens", False), ("output_tokens", True), ("total_tokens", True), ("calls", False)],
)
def test_metric_choice(metric: str, expected: bool) -> None:
    # live noise: output varies, input (fixed prompts) does not
    old = base({"t::a": simple(1000, 100)})
    new = report({"t::a": simple(1000, 300)})
    assert compare(old, new, metric=metric).regressed is expected


def test_calls_metric_ignores_token_floor() -> None:
    old = base({"t::a": simple(100, 0, 2)})
    new = report({"t::a": simple(100, 0, 5)})
    result = compare(old, new, metric="calls", min_tokens=1000)
    assert result.regressed
    assert result.regressions[0].message.startswith("t::a: 2 -> 5 calls (+150%)")


class Flat:
    """A price table: the same price per token for every model, None for 'secret'."""

    def __init__(self, pico_per_token: int) -> None:
        self.rate = pico_per_token

    def cost_pico(
        self, model: str | None, usage: Usage, *, cache_write_1h_tokens: int = 0
    ) -> int | None:
        if model == "secret":
            return None
        return usage.total_tokens * self.rate


def test_price_change_is_not_a_regression_when_repriced() -> None:
    # Recorded costs doubled (provider price change), tokens unchanged.
    old_doc = simple(1000, 100)
    new_doc = simple(1000, 100)
    new_doc["cost_usd"] = old_doc["cost_usd"] * 2
    new_doc["by_model"]["gpt-4o-mini"]["cost_usd"] = new_doc["cost_usd"]
    old, new = base({"t::a": old_doc}), report({"t::a": new_doc})
    assert compare(old, new, metric="cost_usd").regressed
    repriced = compare(old, new, metric="cost_usd", pricer=Flat(1000))
    assert not repriced.regressed
    assert not repriced.improvements
    assert repriced.costs == "recomputed"
    assert repriced.common_after.cost_pico == 1100 * 1000


def test_cost_metric_floor_uses_tokens_and_unpriced_is_not_compared() -> None:
    old = base({"t::a": simple(1000), "t::s": make_test([("(none)", "secret", 10, 0, 1)])})
    new = report({"t::a": simple(1050), "t::s": make_test([("(none)", "secret", 99, 0, 1)])})
    pricer = Flat(10**6)
    assert compare(old, new, metric="cost_usd", pricer=pricer, regression=0.01).regressed
    quiet = compare(old, new, metric="cost_usd", pricer=pricer, regression=0.01, min_tokens=51)
    assert not quiet.regressions
    assert quiet.unpriced == ["t::s"]


def test_explain_without_breakdowns_and_new_model() -> None:
    old = make_record(Usage(100, 10, calls=1))
    new = make_record(Usage(300, 10, calls=1))
    assert explain(old, new) == ("+200 input ((unknown))",)
    old2 = make_record(Usage(100, 0, calls=1), {"a": Usage(100, 0, calls=1)})
    new2 = make_record(
        Usage(150, 0, calls=2), {"a": Usage(100, 0, calls=1), "b": Usage(50, 0, calls=1)}
    )
    assert explain(old2, new2) == ("+50 input (b) (new)", "calls 1 -> 2")


def test_to_dict_is_json_ready() -> None:
    import json

    old = base({"t::a": simple(1000)})
    new = report({"t::a": simple(5000)})
    data = as_json(compare(old, new).record())
    assert json.loads(json.dumps(data)) == data
    assert data["regressed"] is True
    assert data["rule"] == "total_tokens grows more than 10%"
    assert compare(old, new, min_tokens=5).rule() == (
        "total_tokens grows more than 10% and by at least 5 tokens"
    )


def test_buckets_are_never_compared_new_missing_or_in_any_total() -> None:
    # a baseline as earlier versions wrote it, <session> stored among the tests
    old = Baseline(dict(report({"t::a": simple(100), "<session>": simple(10)}).tests))
    grown = report(
        {
            "t::a": simple(100),
            "<session>": simple(1000, status="session"),
            "<fixture db>": simple(500, status="bucket"),
            "<reruns>": simple(100, status="bucket"),
        }
    )
    for run in (grown, report({"t::a": simple(100)})):
        c = compare(old, run)
        assert (c.regressions, c.improvements, c.new, c.missing) == ([], [], [], [])
        assert not c.regressed
        assert c.baseline_totals.input_tokens == c.current_totals.input_tokens == 100
        assert c.common_before.input_tokens == c.common_after.input_tokens == 100
