"""What the run's notes say about prices: prompt-caching savings and a stale table (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Mapping

from ..usage import PICO_PER_USD, Pricer, Usage


@dataclass(frozen=True)
class CacheSavings:
    """What cache reads saved, against paying the full input rate for those tokens."""

    saved_pico: int = 0
    #: All input tokens at the uncached input rate: the denominator of ``percent``.
    input_cost_uncached_pico: int = 0
    #: Models with cache reads that could not be priced (left out of both figures).
    unpriced_models: tuple[str, ...] = ()

    @property
    def saved_usd(self) -> float:
        return self.saved_pico / PICO_PER_USD

    @property
    def percent(self) -> float | None:
        """Share of the uncached input cost that cache reads saved, or None without input cost."""
        if not self.input_cost_uncached_pico:
            return None
        return 100.0 * self.saved_pico / self.input_cost_uncached_pico


def cache_savings(pricer: Pricer, by_model: Mapping[str, Usage]) -> CacheSavings:
    """Dollars saved by prompt-cache reads over ``by_model`` usage (any :class:`Pricer`).

    Computed as the price difference with and without the reads, so it follows each model's
    own rates and long-context tiers whatever source priced it.
    """
    saved = uncached_cost = 0
    unpriced: list[str] = []
    for model, usage in sorted(by_model.items()):
        if not usage.cache_read_tokens:
            continue
        inputs = Usage(
            input_tokens=usage.input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            calls=usage.calls,
        )
        with_reads = replace(inputs, cache_read_tokens=usage.cache_read_tokens)
        full = pricer.cost_pico(model, Usage(input_tokens=usage.input_tokens, calls=usage.calls))
        paid = pricer.cost_pico(model, with_reads)
        unread = pricer.cost_pico(model, inputs)
        if full is None or paid is None or unread is None:
            unpriced.append(model)
            continue
        saved += unread - paid
        uncached_cost += full
    return CacheSavings(saved, uncached_cost, tuple(unpriced))


STALE_AFTER_DAYS = 180


def staleness_note(version: str, today: date) -> str | None:
    """Providers change prices: say so when the shipped table is old (costs may be off)."""
    try:
        dated = date.fromisoformat(version[:10])
    except ValueError:
        return None
    age = (today - dated).days
    if age <= STALE_AFTER_DAYS:
        return None
    return (
        f"price table dated {dated} is {age} days old: costs may not match today's prices; "
        'upgrade pytest-tokenbudget or set [tool.tokenbudget.prices."MODEL"]'
    )
