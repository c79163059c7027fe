"""What a call cost: the dated price table, config overrides and optional genai-prices (pure).

Rates are integer picodollars per token (USD per million x 1e6), so every cost is an exact
integer and adding costs up never depends on order.

Which price applies to a model id, first match wins:

1. the table entry (ours or ``[tool.tokenbudget.prices."MODEL"]``, which replace or add entries)
   whose name is the id itself, else the longest entry name the id starts with, followed by
   ``-``, ``@`` or ``:`` but not by a short version number (``gpt-4o-mini-2024-07-18`` is
   gpt-4o-mini, never gpt-4o; ``claude-opus-4-9`` is not claude-opus-4; ``gpt-5.2`` is not
   gpt-5). A ``provider/`` prefix (``openai/gpt-4o``) is ignored.
2. genai-prices, when installed, for ids the table does not know. Our table wins for models
   both know: a given pytest-tokenbudget release prices the same tokens the same way whatever
   else is installed, and a test lists where the two disagree.
3. otherwise the model is unpriced (cost None), never $0 or a guess.

A rate the usage needs but the entry lacks (cache reads on a model without a cache_read rate,
1-hour cache writes without cache_write_1h) makes the call unpriced too: no rate is borrowed
from another. OpenAI and Google bill cache writes as plain input, so their entries give
cache_write = input explicitly.
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
