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


def test_a_repeated_record_is_priced_once_and_a_new_price_hook_prices_it_again() -> None:
    from pytest_tokenbudget.pricing import LazyPricer

    pricer = LazyPricer(None, "test")
    tracker = TokenTracker("t", pricer)
    calls: list[Usage] = []
    for _ in range(3):
        calls.append(tracker.record(input_tokens=120, output_tokens=30, model="gpt-4o-mini"))
    other = tracker.record(input_tokens=121, output_tokens=30, model="gpt-4o-mini")
    # the same figures at the same (flat) rates: the same frozen Usage given again, not rebuilt
    assert calls[2] is calls[1]
    assert other is not calls[1]
    assert calls[0] == calls[1] == Usage(120, 30, calls=1, cost_pico=36_000_000)
    assert other == Usage(121, 30, calls=1, cost_pico=36_150_000)
    pricer.price_hook = lambda model, usage: 7  # a new price: nothing priced before is reused
    assert tracker.record(input_tokens=120, output_tokens=30, model="gpt-4o-mini") == Usage(
        120, 30, calls=1, cost_pico=7
    )
    assert tracker.usage == Usage(601, 150, calls=5, cost_pico=3 * 36_000_000 + 36_150_000 + 7)
