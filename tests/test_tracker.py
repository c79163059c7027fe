"""Unit tests for the per-test tracker (pure: no pytest run)."""

from __future__ import annotations

from pytest_tokenbudget.tracker import TokenTracker
from pytest_tokenbudget.usage import Extracted, Part, Usage, make_usage


class OnlyModelA:
    def cost_pico(
        self, model: str | None, usage: Usage, *, cache_write_1h_tokens: int = 0
    ) -> int | None:
        return usage.total_tokens * 1000 if model == "a" else None


def test_an_unpriced_secondary_pass_makes_the_cost_unknown_not_zero() -> None:
    tracker = TokenTracker("t", OnlyModelA())
    found = Extracted(
        (
            Part(make_usage(input_tokens=100, output_tokens=10), "a"),
            Part(make_usage(input_tokens=50, output_tokens=5, calls=0), "advisor-b"),
        ),
        "msg_1",
    )
    counted = tracker.add_extracted(found)
    assert counted.calls == 1
    assert counted.total_tokens == 165
    assert counted.cost_usd is None  # part of the response could not be priced
    assert counted.priced_cost_usd == 110 * 1000 / 10**12
    assert tracker.by_model["a"].cost_usd == 110 * 1000 / 10**12
    assert tracker.by_model["advisor-b"].cost_usd is None
    assert tracker.add_extracted(found) == Usage()  # same response id: counted once
