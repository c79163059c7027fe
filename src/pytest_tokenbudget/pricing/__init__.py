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

import json
import math
import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import TYPE_CHECKING, Callable, Mapping

from ..usage import PICO_PER_USD, TokenCounts, Usage

if TYPE_CHECKING:
    from ..usage import Pricer

RATE_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
TABLE_SOURCE = "pytest-tokenbudget"
#: Picodollars per token for 1 USD per million tokens.
_PICO_PER_MTOK_USD = Decimal(PICO_PER_USD) / Decimal(1_000_000)
_MAX_RESOLVED = 4096
#: After a family name, a short number is a newer version of it, not a date or a suffix.
_VERSION_AFTER = re.compile(r"-\d{1,2}(?:\D|$)")
_SEPARATORS = frozenset("-@:")


@dataclass(frozen=True)
class Rates:
    """One model's prices in picodollars per token; None where the provider gives none."""

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
    rates = _make_rates(values)
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
        rates = replace(rates, long_context=_make_rates(merged), long_context_above=above)
    return rates


def _make_rates(values: Mapping[str, int | None], base: Rates | None = None) -> Rates:
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


@dataclass(frozen=True)
class TableData:
    version: str
    models: dict[str, Rates]
    providers: dict[str, str]


def load_table() -> TableData:
    """The price table shipped in the package."""
    text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
    raw = json.loads(text, parse_float=Decimal)
    models = {
        name: rates_from_mapping(name, entry, origin="prices.json", table=True)
        for name, entry in raw["models"].items()
    }
    providers = {name: str(entry.get("provider", "")) for name, entry in raw["models"].items()}
    return TableData(str(raw["version"]), models, providers)


# -- the pricer -------------------------------------------------------------------------------
GenaiCost = Callable[[str, TokenCounts, int], "int | None"]


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
        self.models = {name.lower(): rates for name, rates in models.items()}
        self.version = version
        self.source = source
        self._fallback = fallback
        self._resolved: dict[str, str | None] = {}

    def resolve(self, model: str) -> str | None:
        """The table entry that prices ``model`` (see the module docstring), or None."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        found = self._resolve(model)
        if len(self._resolved) < _MAX_RESOLVED:
            self._resolved[model] = found
        return found

    def _resolve(self, model: str) -> str | None:
        key = model.strip().lower()
        key = key.rsplit("/", 1)[-1]
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
        return None if name is None else self.models[name]

    def cost_pico(
        self, model: str | None, usage: TokenCounts, *, cache_write_1h_tokens: int = 0
    ) -> int | None:
        if model is None:
            return None
        rates = self.rates(model)
        if rates is not None:
            return rates.cost_pico(usage, cache_write_1h_tokens=cache_write_1h_tokens)
        if self._fallback is not None:
            return self._fallback(model, usage, cache_write_1h_tokens)
        return None

    def is_priced(self, model: str) -> bool:
        """Whether ``model`` has a price at all (from the table or genai-prices)."""
        if self.rates(model) is not None:
            return True
        return self._fallback is not None and self._fallback(model, Usage(), 0) is not None

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
                parsed = _make_rates(given, base)
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
    source, version = TABLE_SOURCE, table.version
    if fallback is not None:
        source += "+genai-prices"
        version += f"; genai-prices {_genai_version()}"
    pricer = PriceTable(table.models, version=version, source=source, fallback=fallback)
    if prices_config:
        pricer = pricer.with_overrides(prices_config, origin=origin)
    return pricer


# -- genai-prices (optional) ------------------------------------------------------------------
def genai_fallback() -> GenaiCost | None:
    """A cost function backed by genai-prices, or None when it is not installed.

    genai-prices is imported on the first model our table does not know (it takes ~0.2 s).
    """
    import importlib.util

    if importlib.util.find_spec("genai_prices") is None:
        return None
    known: dict[str, bool] = {}

    def cost(model: str, usage: TokenCounts, cache_write_1h_tokens: int) -> int | None:
        if known.get(model) is False:
            return None
        try:
            pico = genai_cost_pico(model, usage, cache_write_1h_tokens)
        except LookupError:
            if len(known) < _MAX_RESOLVED:
                known[model] = False
            return None
        if len(known) < _MAX_RESOLVED:
            known[model] = True
        return pico

    return cost


def genai_cost_pico(model: str, usage: TokenCounts, cache_write_1h_tokens: int = 0) -> int:
    """Cost per genai-prices, rounded to the picodollar; LookupError for a model it lacks."""
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
        calc = genai_prices.calc_price(genai_prices.Usage(**values), model)
    return int((Decimal(calc.total_price) * PICO_PER_USD).to_integral_value())


def _genai_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("genai-prices")
    except PackageNotFoundError:
        return "unknown"


# -- prompt-caching savings for the report ---------------------------------------------------
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


def describe(rates: Rates | None) -> str:
    """Rates as a person reads them (``$2.5/M in, $10/M out``), for messages and the CLI."""
    if rates is None:
        return "unpriced"
    parts = [f"${_fmt(v)}/M {k.replace('_', ' ')}" for k, v in rates.to_usd_per_mtok().items()]
    return ", ".join(parts)


def _fmt(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)


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


class LazyPricer:
    """Loads the price table on the first price asked: pytest start-up never pays for it.

    Config overrides are validated at once (a bad price must stop the run before any test).
    """

    def __init__(self, prices_config: Mapping[str, Mapping[str, object]] | None, origin: str):
        self._config, self._origin = prices_config, origin
        self._pricer: PriceTable | None = None
        if prices_config:
            self._pricer = load_pricer(prices_config, origin=origin)

    def get(self) -> PriceTable:
        if self._pricer is None:
            self._pricer = load_pricer(self._config, origin=self._origin)
        return self._pricer

    def cost_pico(
        self, model: str | None, usage: TokenCounts, *, cache_write_1h_tokens: int = 0
    ) -> int | None:
        return self.get().cost_pico(model, usage, cache_write_1h_tokens=cache_write_1h_tokens)
