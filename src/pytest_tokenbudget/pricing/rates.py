"""Rates: what one model costs per token, parsed from the table or from config (pure).

Rates are integer picodollars per token (USD per million x 1e6), so every cost is an exact
integer and adding costs up never depends on order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from ..usage import PICO_PER_USD, TokenCounts

RATE_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
#: Picodollars per token for 1 USD per million tokens.
_PICO_PER_MTOK_USD = Decimal(PICO_PER_USD) / Decimal(1_000_000)


class Rates(NamedTuple):
    """One model's prices in picodollars per token; None where the provider gives none.

    A NamedTuple: immutable, and defined for a tenth of a frozen dataclass's cost (loaded by
    every run that prices a call)."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    cache_write_1h: int | None = None
    #: Rates for a whole call whose input exceeds ``long_context_above`` tokens.
    long_context: Rates | None = None
    long_context_above: int | None = None

    def for_usage(self, usage: TokenCounts) -> Rates:
        """The long-context rates when a call's input is over the threshold.

        For usage summed over several calls the average input per call decides.
        """
        lc, above = self.long_context, self.long_context_above
        if (
            lc is not None
            and above is not None
            and usage.input_tokens > above * max(usage.calls, 1)
        ):
            return lc
        return self

    def cost_pico(self, usage: TokenCounts, *, cache_write_1h_tokens: int = 0) -> int | None:
        """Exact cost of ``usage``, or None when it needs a rate this entry does not have.

        This runs once per call captured, and once per test and model when a comparison
        reprices 100,000-test files.
        """
        rates = self if self.long_context is None else self.for_usage(usage)
        read, write, output = usage.cache_read_tokens, usage.cache_write_tokens, usage.output_tokens
        write_1h = min(cache_write_1h_tokens, write) if cache_write_1h_tokens else 0
        uncached = usage.input_tokens - read - write
        # Part by part, written out: twice as fast as a loop over (tokens, rate) pairs.
        total = 0
        if uncached:
            if rates.input is None:
                return None
            total += uncached * rates.input
        if read:
            if rates.cache_read is None:
                return None
            total += read * rates.cache_read
        if write - write_1h:
            if rates.cache_write is None:
                return None
            total += (write - write_1h) * rates.cache_write
        if write_1h:
            if rates.cache_write_1h is None:
                return None
            total += write_1h * rates.cache_write_1h
        if output:
            if rates.output is None:
                return None
            total += output * rates.output
        return total

    def to_usd_per_mtok(self) -> dict[str, float]:
        return {
            key: float(Decimal(value) / _PICO_PER_MTOK_USD)
            for key in RATE_KEYS
            if (value := getattr(self, key)) is not None
        }


# -- parsing prices ---------------------------------------------------------------------------
def usd_per_mtok_to_pico(value: object, *, where: str) -> int:
    """USD per million tokens -> integer picodollars per token; ValueError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(
            f"{where}: expected a number of USD per million tokens, got {value!r} "
            f"({type(value).__name__})"
        )
    try:
        dec = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(
            f"{where}: expected a number of USD per million tokens, got {value!r}"
        ) from None
    if not dec.is_finite() or dec < 0:
        raise ValueError(
            f"{where}: expected a non-negative number of USD per million tokens, got {value!r}"
        )
    pico = dec * _PICO_PER_MTOK_USD
    if pico != pico.to_integral_value():
        raise ValueError(
            f"{where}: {value!r} has more than 6 decimal places (prices are USD per million "
            "tokens, exact to $0.000001)"
        )
    return int(pico)


def rates_from_mapping(model: str, data: object, *, origin: str, table: bool = False) -> Rates:
    """Parse one entry (``{"input": 2.5, ...}``); errors name the model, key, value and origin.

    ``table``: our prices.json, whose entries may also say ``provider`` and ``long_context``.
    """
    if not isinstance(data, Mapping):
        raise ValueError(
            f"{origin}: prices for model {model!r} must be a table of "
            f"{', '.join(RATE_KEYS)}, got {data!r}"
        )
    allowed = (*RATE_KEYS, "provider", "long_context") if table else RATE_KEYS
    for key in data:
        if key not in allowed:
            raise ValueError(
                f"{origin}: unknown price key {key!r} for model {model!r} (value {data[key]!r}); "
                f"known keys: {', '.join(RATE_KEYS)}"
            )
    values = {
        key: usd_per_mtok_to_pico(data[key], where=f"{origin}: model {model!r} key {key!r}")
        for key in RATE_KEYS
        if key in data
    }
    rates = make_rates(values)
    lc = data.get("long_context")
    if lc is not None:
        if not isinstance(lc, Mapping) or "above_input_tokens" not in lc:
            raise ValueError(f"{origin}: model {model!r} long_context needs above_input_tokens")
        above = lc["above_input_tokens"]
        if isinstance(above, bool) or not isinstance(above, int) or above < 0:
            raise ValueError(f"{origin}: model {model!r} long_context above_input_tokens {above!r}")
        tier = rates_from_mapping(
            model, {k: v for k, v in lc.items() if k != "above_input_tokens"}, origin=origin
        )
        merged = {
            key: getattr(rates, key) if getattr(tier, key) is None else getattr(tier, key)
            for key in RATE_KEYS
        }
        rates = rates._replace(long_context=make_rates(merged), long_context_above=above)
    return rates


def make_rates(values: Mapping[str, int | None], base: Rates | None = None) -> Rates:
    """``base`` (flat: no long-context tier) with ``values`` replacing its rates."""

    def get(key: str) -> int | None:
        if key in values:
            return values[key]
        return None if base is None else getattr(base, key)

    return Rates(
        input=get("input"),
        output=get("output"),
        cache_read=get("cache_read"),
        cache_write=get("cache_write"),
        cache_write_1h=get("cache_write_1h"),
    )


def describe(rates: Rates | None) -> str:
    """Rates as a person reads them (``$2.5/M in, $10/M out``), for messages and the CLI."""
    if rates is None:
        return "unpriced"
    parts = [f"${_fmt(v)}/M {k.replace('_', ' ')}" for k, v in rates.to_usd_per_mtok().items()]
    return ", ".join(parts)


def _fmt(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
