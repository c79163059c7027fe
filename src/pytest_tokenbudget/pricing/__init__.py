"""What a call cost: the dated price table, config overrides, optional genai-prices (pure).

``table`` says which rates price a model id; ``rates`` how rates price a usage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .notes import CacheSavings, cache_savings, staleness_note
    from .pricer import LazyPricer
    from .rates import RATE_KEYS, Rates, describe, rates_from_mapping, usd_per_mtok_to_pico
    from .shipped import TABLE_SOURCE
    from .table import (
        PriceTable,
        TableData,
        load_pricer,
        load_table,
    )

#: The module of each name: loaded when the name is first asked for (every pytest run imports
#: the plugin; the rates and the table module are needed once a call is priced).
_MODULES = {
    "CacheSavings": "notes",
    "cache_savings": "notes",
    "staleness_note": "notes",
    "RATE_KEYS": "rates",
    "Rates": "rates",
    "describe": "rates",
    "rates_from_mapping": "rates",
    "usd_per_mtok_to_pico": "rates",
    "TABLE_SOURCE": "shipped",
    "LazyPricer": "pricer",
    "PriceTable": "table",
    "TableData": "table",
    "load_pricer": "table",
    "load_table": "table",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:  # a submodule not imported yet (``from . import x`` asks first)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ..lazy import lazy_names  # loaded with the first name asked for, like the names

    return lazy_names(__name__, _MODULES)(name)


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
