"""Unit tests for budget verdicts and messages (pure)."""

from __future__ import annotations

import pickle

import pytest

from pytest_tokenbudget.gate.budget import (
    BudgetExceeded,
    Limits,
    check,
    marker_limits,
    message,
    reached,
    unpriced_note,
)
from pytest_tokenbudget.usage import Usage


def test_marker_positional_is_max_tokens_and_default_is_overridden() -> None:
    limits = marker_limits((5000,), {}, default_max_tokens=100)
    assert limits.values == {"max_tokens": 5000}
    assert limits.sources == {"max_tokens": "marker"}
    limits = marker_limits((), {"max_calls": 3}, default_max_tokens=100)
    assert limits.values == {"max_tokens": 100, "max_calls": 3}
    assert limits.sources == {"max_tokens": "default", "max_calls": "marker"}


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((), {"max_tokenz": 5}, "unknown keyword 'max_tokenz'; did you mean 'max_tokens'?"),
        ((1, 2), {}, "one positional argument"),
        ((5,), {"max_tokens": 5}, "both as positional and as keyword"),
        ((), {"max_tokens": 0}, "max_tokens=0: must be a positive whole number"),
        ((), {"max_calls": -1}, "max_calls=-1"),
        ((), {"max_cost_usd": "abc"}, "max_cost_usd='abc': must be a positive number"),
        ((), {"max_input_tokens": 1.5}, "max_input_tokens=1.5"),
        ((), {"enforce": "maybe"}, "enforce='maybe'"),
    ],
)
def test_bad_markers_name_the_problem(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        marker_limits(args, kwargs, None)


def test_exactly_at_the_limit_passes_one_over_fails() -> None:
    limits = Limits({"max_tokens": 100}, {"max_tokens": "marker"})
    assert check(Usage(input_tokens=60, output_tokens=40, calls=1), limits) == []
    (verdict,) = check(Usage(input_tokens=61, output_tokens=40, calls=1), limits)
    assert (verdict.metric, verdict.limit, verdict.actual) == ("total_tokens", 100, 101)


def test_near_budget_from_warn_at() -> None:
    limits = Limits({"max_calls": 10}, {"max_calls": "default"})
    (near,) = check(Usage(calls=8), limits, warn_at=0.8)
    assert not near.exceeded
    assert check(Usage(calls=7), limits, warn_at=0.8) == []


def test_message_names_limit_actual_and_top_contributors() -> None:
    usage = Usage(input_tokens=4000, output_tokens=1321, calls=3)
    cells = {
        ("gpt-4o-mini", "summarise"): Usage(input_tokens=3900, output_tokens=1200, calls=2),
        ("gpt-4o", "(none)"): Usage(input_tokens=100, output_tokens=121, calls=1),
    }
    limits = Limits({"max_tokens": 5000}, {"max_tokens": "marker"})
    text = message(check(usage, limits), usage, cells)
    assert text == (
        "token budget exceeded: 5,321 tokens > max_tokens 5,000 (marker) — input 4,000, "
        'output 1,321 in 3 calls; top: gpt-4o-mini 5,100 (operation "summarise"), gpt-4o 221'
    )


def test_cost_limit_uses_priced_calls_and_says_what_is_unpriced() -> None:
    limits = Limits({"max_cost_usd": 10**12}, {"max_cost_usd": "marker"})  # $1
    usage = Usage(calls=3, unpriced_calls=2, cost_pico=5 * 10**11)
    assert check(usage, limits) == []
    note = unpriced_note(usage, limits)
    assert note is not None
    assert "2 unpriced calls not checkable" in note
    assert "$0.5" in note
    (verdict,) = check(Usage(calls=2, unpriced_calls=1, cost_pico=2 * 10**12), limits)
    assert (verdict.metric, verdict.limit_value(), verdict.actual_value()) == ("cost_usd", 1, 2)


def test_reached_stops_at_the_limit_and_exception_carries_it() -> None:
    limits = Limits({"max_calls": 2}, {"max_calls": "marker"})
    assert reached(Usage(calls=1), limits) is None
    verdict = reached(Usage(calls=2), limits)
    assert verdict is not None
    exc = BudgetExceeded("test", verdict)
    assert (exc.scope, exc.metric, exc.limit, exc.actual) == ("test", "calls", 2, 2)
    assert "test budget reached" in str(exc)


def test_budget_exceeded_is_no_exception_and_survives_pickling() -> None:
    """Not an ``Exception``: the SDKs' retry loops and ``except Exception`` pass it on."""
    verdict = reached(Usage(calls=1), Limits({"max_calls": 1}, {"max_calls": "marker"}))
    assert verdict is not None
    exc = BudgetExceeded("run", verdict)
    assert not isinstance(exc, Exception)
    assert f"{type(exc).__module__}.{type(exc).__name__}" == "pytest_tokenbudget.BudgetExceeded"
    assert str(exc) == (
        "tokenbudget refused an LLM request: run budget reached, 1 call >= max_calls 1 (marker)"
    )
    again = pickle.loads(pickle.dumps(exc))
    assert (again.scope, again.metric, again.limit, again.actual, str(again)) == (
        "run",
        "calls",
        1,
        1,
        str(exc),
    )
