"""What the run's notes say about prices: prompt-caching savings and a stale table (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Mapping, NamedTuple

from ..fmt import usd
from ..usage import PICO_PER_USD, Pricer, Usage


class CacheSavings(NamedTuple):
    """What prompt caching did to the run's input cost, at the price table's rates.

    Cache reads cost less than fresh input; cache writes cost more (Anthropic: 1.25x). The
    figure that matters is the net of both over the whole run: the demo's caching saved a
    little on reads and paid more on writes.
    """

    #: Cache reads at the cache-read rate instead of the input rate.
    reads_saved_pico: int = 0
    #: Cache writes at the cache-write rate instead of the input rate.
    writes_extra_pico: int = 0
    #: The whole run's input at the uncached input rate (the percentage's base); None when a
    #: model of the run is unpriced.
    input_cost_uncached_pico: int | None = 0

    @property
    def saved_pico(self) -> int:
        """Net saving; negative when the writes cost more than the reads saved."""
        return self.reads_saved_pico - self.writes_extra_pico

    @property
    def saved_usd(self) -> float:
        return self.saved_pico / PICO_PER_USD

    @property
    def percent(self) -> float | None:
        """Net saving as a share of the run's uncached input cost; None when not known."""
        if not self.input_cost_uncached_pico:
            return None
        return 100.0 * self.saved_pico / self.input_cost_uncached_pico

    def note(self) -> str | None:
        """The summary's note: what caching saved or cost, net of the write premium."""
        saved = self.saved_pico
        if not saved:
            return None
        share = self.percent
        of_run = f"{abs(share):.1f}% of the run's input cost without caching" if share else ""
        reads = f"cache reads saved {usd(self.reads_saved_pico / PICO_PER_USD)}"
        writes = f"cache writes cost {usd(self.writes_extra_pico / PICO_PER_USD)} extra"
        amount = usd(abs(saved) / PICO_PER_USD)
        if not self.writes_extra_pico:
            return f"prompt caching saved {amount}" + (f" ({of_run})" if of_run else "")
        parts = "; ".join(p for p in (f"{reads}, {writes}", of_run) if p)
        if not self.reads_saved_pico:
            parts = "; ".join(p for p in (writes, of_run) if p)
        if saved > 0:
            return f"prompt caching saved {amount} net ({parts})"
        return f"prompt caching cost {amount} more than no caching ({parts})"


def cache_savings(pricer: Pricer, by_model: Mapping[str, Usage]) -> CacheSavings | None:
    """What prompt caching saved over the run's ``by_model`` usage (any :class:`Pricer`).

    Each model is priced three ways (all input fresh, with its cache writes, with its reads
    too), so the figures follow each model's own rates and long-context tiers. None when a
    model that used the cache cannot be priced: a figure for part of the run would mislead.
    """
    reads = writes = 0
    uncached: int | None = 0
    for model, usage in sorted(by_model.items()):
        fresh = Usage(input_tokens=usage.input_tokens, calls=usage.calls)
        full = pricer.cost_pico(model, fresh)
        uncached = None if full is None or uncached is None else uncached + full
        if not usage.cache_read_tokens and not usage.cache_write_tokens:
            continue
        with_writes = replace(fresh, cache_write_tokens=usage.cache_write_tokens)
        written = pricer.cost_pico(model, with_writes)
        with_reads = replace(with_writes, cache_read_tokens=usage.cache_read_tokens)
        paid = pricer.cost_pico(model, with_reads)
        if full is None or written is None or paid is None:
            return None
        writes += written - full
        reads += written - paid
    return CacheSavings(reads, writes, uncached)


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
