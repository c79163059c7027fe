"""genai-prices, when installed: prices for the models our table does not know (pure)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Callable

from ..usage import PICO_PER_USD, TokenCounts

#: Cache at most this many model ids (a suite could invent any number of them).
MAX_RESOLVED = 4096
GenaiCost = Callable[[str, TokenCounts, int], "int | None"]


def genai_available() -> bool:
    """Is genai-prices installed (without importing it)?"""
    import importlib.util

    return importlib.util.find_spec("genai_prices") is not None


def genai_fallback() -> GenaiCost | None:
    """A cost function backed by genai-prices, or None when it is not installed.

    genai-prices is imported on the first model our table does not know (it takes ~0.2 s).
    """
    if not genai_available():
        return None
    known: dict[str, bool] = {}

    def cost(model: str, usage: TokenCounts, cache_write_1h_tokens: int) -> int | None:
        if known.get(model) is False:
            return None
        try:
            pico = genai_cost_pico(model, usage, cache_write_1h_tokens)
        except LookupError:
            if len(known) < MAX_RESOLVED:
                known[model] = False
            return None
        if len(known) < MAX_RESOLVED:
            known[model] = True
        return pico

    return cost


def genai_cost_pico(
    model: str, usage: TokenCounts, cache_write_1h_tokens: int = 0, at: datetime | None = None
) -> int:
    """Cost per genai-prices, rounded to the picodollar; LookupError for a model it lacks.
    ``at``: when the request was made (some prices depend on the time of day, e.g. DeepSeek's
    off-peak hours); now when None."""
    import warnings

    import genai_prices

    values = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }
    if cache_write_1h_tokens:
        values["cache_write_1h_tokens"] = min(cache_write_1h_tokens, usage.cache_write_tokens)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calc = genai_prices.calc_price(
            genai_prices.Usage(**values), model, genai_request_timestamp=at
        )
    return int((Decimal(calc.total_price) * PICO_PER_USD).to_integral_value())


def genai_version() -> str:
    from ..installed import version

    return version("genai-prices") or "unknown"
