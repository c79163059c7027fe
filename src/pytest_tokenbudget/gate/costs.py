"""Costs in a comparison: recorded, or recomputed with one price table on both sides (pure).

Recomputing the costs from the tokens with the current table means a provider's price change
never shows as a regression.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from ..pricing import LazyPricer, PriceTable
from ..records import TestRecord
from ..report import sum_counts
from ..usage import NO_MODEL, Pricer, TokenCounts, Usage, with_cost

Cost = tuple[int, int]  # (picodollars of the priced calls, unpriced calls)


def recorded_cost(rec: TestRecord) -> Cost:
    return rec.cost_pico, rec.unpriced_calls


class Repricer:
    """Tests' costs recomputed per model by ``pricer``, each model's rates looked up once.

    The files do not keep Anthropic 1-hour cache writes apart, so they are priced as ordinary
    cache writes here. A model that cannot be priced makes its calls unpriced (never $0).
    """

    def __init__(self, pricer: Pricer) -> None:
        if isinstance(pricer, LazyPricer) and pricer.price_hook is None:
            pricer = pricer.get()  # the table itself: each model's rates looked up once
        self._pricer = pricer
        self._of: dict[str, Callable[[TokenCounts], int | None]] = {}

    def _price_of(self, model: str) -> Callable[[TokenCounts], int | None]:
        name = None if model == NO_MODEL else model
        pricer = self._pricer
        rates = pricer.rates(name) if name and isinstance(pricer, PriceTable) else None
        price = rates.cost_pico if rates is not None else partial(pricer.cost_pico, name)
        self._of[model] = price
        return price

    def __call__(self, rec: TestRecord) -> Cost:
        cost = unpriced = 0
        of = self._of
        for model, u in (rec.by_model or {NO_MODEL: rec}).items():
            if u.calls:
                pico = (of.get(model) or self._price_of(model))(u)
                if pico is None:
                    unpriced += u.calls
                else:
                    cost += pico
        return cost, unpriced


def with_test_cost(rec: TestRecord, cost: Cost) -> Usage:
    """The test's usage with ``cost``."""
    return with_cost(rec.usage, cost[0], cost[1])


def total_with_costs(recs: list[TestRecord], costs: list[Cost]) -> Usage:
    """Exact sum of ``recs`` with their (recomputed) costs, without a Usage per test."""
    counts = sum_counts(recs)
    counts["unpriced_calls"] = sum(unpriced for _, unpriced in costs)
    return Usage(**counts, cost_pico=sum(pico for pico, _ in costs))
