"""What a call cost: the dated price table, config overrides, optional genai-prices (pure).

``table`` says which rates price a model id; ``rates`` how rates price a usage.
"""

from __future__ import annotations

from .notes import CacheSavings, cache_savings, staleness_note
from .rates import RATE_KEYS, Rates, describe, rates_from_mapping, usd_per_mtok_to_pico
from .table import TABLE_SOURCE, LazyPricer, PriceTable, TableData, load_pricer, load_table

__all__ = [
    "RATE_KEYS",
    "TABLE_SOURCE",
    "CacheSavings",
    "LazyPricer",
    "PriceTable",
    "Rates",
    "TableData",
    "cache_savings",
    "describe",
    "load_pricer",
    "load_table",
    "rates_from_mapping",
    "staleness_note",
    "usd_per_mtok_to_pico",
]
