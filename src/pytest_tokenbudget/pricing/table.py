"""The price table: which rates price a model id, config overrides, genai-prices (pure).

Rates are integer picodollars per token (USD per million x 1e6), so every cost is an exact
integer and adding costs up never depends on order.

Which price applies to a model id, first match wins:

1. the table entry (ours or ``[tool.tokenbudget.prices."MODEL"]``, which replace or add entries)
   whose name is the id itself, else the longest entry name the id starts with, followed by
   ``-``, ``@`` or ``:`` but not by a short version number (``gpt-4o-mini-2024-07-18`` is
   gpt-4o-mini, never gpt-4o; ``claude-opus-4-9`` is not claude-opus-4; ``gpt-5.2`` is not
   gpt-5). A ``provider/`` prefix (``openai/gpt-4o``) is ignored, and so are a Bedrock id's
   region and vendor (``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` is claude-sonnet-4-5,
   at Anthropic's list price; an entry of the whole id, from config, wins).
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

import json
import re
from decimal import Decimal
from typing import Iterator, Mapping, NamedTuple

from ..usage import TokenCounts
from .genai import MAX_RESOLVED, GenaiCost, genai_fallback
from .rates import RATE_KEYS, Rates, make_rates, rates_from_mapping
from .shipped import TABLE_SOURCE, identity, table_text

#: After a family name, a short number is a newer version of it, not a date or a suffix.
_VERSION_AFTER = re.compile(r"-\d{1,2}(?:\D|$)")
_SEPARATORS = frozenset("-@:")
#: A Bedrock model id's cross-region inference prefix and its vendor (``us.anthropic.``).
_REGIONS = frozenset(("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"))
_VENDORS = frozenset(
    ("anthropic", "amazon", "meta", "mistral", "cohere", "ai21", "deepseek", "openai", "qwen")
)


class TableData(NamedTuple):
    version: str
    models: Mapping[str, Rates]
    providers: dict[str, str]


class ShippedRates(Mapping[str, Rates]):
    """The shipped table's rates by model name, each entry parsed when it is first read: a run
    prices a few of its models, and parsing all of them cost more than the rest of loading."""

    def __init__(self, entries: dict[str, object]) -> None:
        self._entries = entries
        self._parsed: dict[str, Rates] = {}

    def __getitem__(self, name: str) -> Rates:
        rates = self._parsed.get(name)
        if rates is None:
            entry = self._entries[name]
            rates = rates_from_mapping(name, entry, origin="prices.json", table=True)
            self._parsed[name] = rates
        return rates

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def load_table() -> TableData:
    """The price table shipped in the package (its names are lower case)."""
    raw = json.loads(table_text(), parse_float=Decimal)
    providers = {name: str(entry.get("provider", "")) for name, entry in raw["models"].items()}
    return TableData(str(raw["version"]), ShippedRates(raw["models"]), providers)


def _bedrock_model(key: str) -> str:
    """``key`` without a Bedrock region and vendor (``us.anthropic.claude-...`` is
    ``claude-...``); any other id as it is."""
    parts = key.split(".", 2)
    if len(parts) == 3 and parts[0] in _REGIONS and parts[1] in _VENDORS:
        return parts[2]
    if len(parts) > 1 and parts[0] in _VENDORS:
        return key.split(".", 1)[1]
    return key


class PriceTable:
    """Prices calls for the tracker (implements ``tracker.Pricer``); lookups are cached."""

    def __init__(
        self,
        models: Mapping[str, Rates],
        *,
        version: str,
        source: str = TABLE_SOURCE,
        fallback: GenaiCost | None = None,
    ) -> None:
        if isinstance(models, ShippedRates):  # its names are lower case; parsed when read
            self.models: Mapping[str, Rates] = models
        else:
            self.models = {name.lower(): rates for name, rates in models.items()}
        self.version = version
        self.source = source
        self._fallback = fallback
        self._resolved: dict[str, str | None] = {}
        #: The rates of each model priced so far (None: unpriced by the table).
        self._rates: dict[str, Rates | None] = {}

    def resolve(self, model: str) -> str | None:
        """The table entry that prices ``model`` (see the module docstring), or None."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        found = self._resolve(model)
        if len(self._resolved) < MAX_RESOLVED:
            self._resolved[model] = found
        return found

    def _resolve(self, model: str) -> str | None:
        key = model.strip().lower()
        key = key.rsplit("/", 1)[-1]
        if key in self.models:
            return key
        key = _bedrock_model(key)
        if key in self.models:
            return key
        best: str | None = None
        for name in self.models:
            if (
                len(key) > len(name)
                and key.startswith(name)
                and key[len(name)] in _SEPARATORS
                and not _VERSION_AFTER.match(key, len(name))
                and (best is None or len(name) > len(best))
            ):
                best = name
        return best

    def rates(self, model: str) -> Rates | None:
        name = self.resolve(model)
        found = None if name is None else self.models[name]
        if len(self._rates) < MAX_RESOLVED:
            self._rates[model] = found
        return found

    def cost_pico(
        self, model: str | None, usage: TokenCounts, *, cache_write_1h_tokens: int = 0
    ) -> int | None:
        if model is None:
            return None
        known = self._rates  # the cached lookup, inline: this runs for every call
        rates = known[model] if model in known else self.rates(model)
        if rates is not None:
            return rates.cost_pico(usage, cache_write_1h_tokens=cache_write_1h_tokens)
        if self._fallback is not None:
            return self._fallback(model, usage, cache_write_1h_tokens)
        return None

    def with_overrides(self, prices: Mapping[str, object], *, origin: str) -> PriceTable:
        """A copy where config entries replace (key by key) or add table entries.

        An overridden entry keeps the table's rates for keys the config does not give, but
        drops its long-context tier: negotiated prices are taken as flat.
        """
        if not isinstance(prices, Mapping):
            raise ValueError(f"{origin}: prices must be a table of models, got {prices!r}")
        models = dict(self.models)
        for model, entry in prices.items():
            if not isinstance(model, str) or not model.strip():
                raise ValueError(f"{origin}: model name must be a non-empty string, got {model!r}")
            parsed = rates_from_mapping(model, entry, origin=origin)
            if not isinstance(entry, Mapping) or not any(k in entry for k in RATE_KEYS):
                raise ValueError(
                    f"{origin}: prices for model {model!r} give no rate; "
                    f"set one of {', '.join(RATE_KEYS)}"
                )
            base = models.get(model.lower())
            if base is not None:
                given = {key: getattr(parsed, key) for key in RATE_KEYS if key in entry}
                parsed = make_rates(given, base)
            models[model.lower()] = parsed
        source = self.source + "+config" if prices and "+config" not in self.source else self.source
        return PriceTable(models, version=self.version, source=source, fallback=self._fallback)


def load_pricer(
    prices_config: Mapping[str, Mapping[str, object]] | None = None,
    *,
    origin: str = "[tool.tokenbudget.prices]",
    use_genai_prices: bool = True,
) -> PriceTable:
    """The pricer the plugin uses: our table, config overrides, genai-prices when installed.

    ``origin`` names where ``prices_config`` came from, for error messages.
    """
    table = load_table()
    fallback = genai_fallback() if use_genai_prices else None
    source, version = identity(table.version, fallback is not None)
    pricer = PriceTable(table.models, version=version, source=source, fallback=fallback)
    if prices_config:
        pricer = pricer.with_overrides(prices_config, origin=origin)
    return pricer
