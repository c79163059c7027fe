"""The usage value type and its arithmetic (pure: no pytest, no I/O).

Costs are kept as integer picodollars (1e-12 USD) so that adding usage up is exact and
associative: a run's total is the same whatever order or grouping the parts arrive in
(serial, ``-n 2``, ``-n 4`` or merged shards). Prices with up to six decimals per million
tokens are exact in this unit.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from decimal import Decimal, InvalidOperation
from itertools import compress
from operator import attrgetter
from typing import Any, Mapping, NamedTuple, Protocol, TypeVar

PICO_PER_USD = 10**12

#: Token-count fields a caller may pass, in report order.
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
#: Integer fields serialised in a usage record besides the token fields.
COUNT_FIELDS = ("calls", "unpriced_calls", "refused_calls", "uncounted_calls")
#: The largest count a real reply carries (2**53: exact in every JSON parser); anything above
#: it, like a negative or fractional count, makes the reply unreadable rather than a figure.
MAX_COUNT = 2**53


class TokenCounts(Protocol):
    """What pricing reads of a usage: a Usage, or a file record (records.Figures)."""

    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...
    @property
    def reasoning_tokens(self) -> int: ...
    @property
    def calls(self) -> int: ...
    @property
    def uncounted_calls(self) -> int: ...


def used(counts: TokenCounts) -> bool:
    """Whether a test used tokens or made calls (counted or not): the tests every view lists."""
    return bool(
        counts.calls or counts.input_tokens or counts.output_tokens or counts.uncounted_calls
    )


class Pricer(Protocol):
    """What the tracker and the gate need of a price table."""

    def cost_pico(
        self, model: str | None, usage: TokenCounts, *, cache_write_1h_tokens: int = 0
    ) -> int | None:
        """Cost of ``usage`` on ``model`` in picodollars, or None when the model is unpriced."""


class NoPrices:
    """The pricer of trackers made without one: every model unpriced."""

    def cost_pico(
        self, model: str | None, usage: TokenCounts, *, cache_write_1h_tokens: int = 0
    ) -> int | None:
        return None


NO_MODEL = "(unknown)"
NO_OPERATION = "(none)"


class Cell(NamedTuple):
    """Where usage sits within a test: the model that billed it, the operation it ran in.

    The one key of every per-model and per-operation table (tracker, run, files).
    """

    model: str
    operation: str


def check_count(name: str, value: object) -> int:
    """Return ``value`` if it is a count a real reply can carry (an int from 0 to
    :data:`MAX_COUNT`), else raise a ValueError naming ``name``."""
    if type(value) is int and 0 <= value <= MAX_COUNT:  # the common case, in one cheap test
        return value
    count = _check_sum(name, value)
    if count > MAX_COUNT:
        raise ValueError(
            f"{name} must be a non-negative integer of at most 2**53, got {value!r}: "
            "no real reply carries that many"
        )
    return count


def _check_sum(name: str, value: object) -> int:
    """Return ``value`` if it is a non-negative int (a figure of a file: a sum, unbounded)."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        # a number is shown, anything else only by its type: a reply's text may reach the
        # notes, and from there the Markdown of a pull-request comment
        kind = type(value).__name__
        shown = f"{value!r} ({kind})" if isinstance(value, (bool, float)) else kind
        raise ValueError(f"{name} must be a non-negative integer, got {shown}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def exact_figure(usage: Usage, metric: str) -> int | None:
    """The named figure as an exact integer (a cost in picodollars); None when unpriced."""
    if metric == "cost_usd":
        return None if usage.unpriced_calls else usage.cost_pico
    value: int = getattr(usage, metric)
    return value


def usd_to_pico(value: object, name: str = "cost_usd") -> int:
    """Convert a dollar amount (int, float or str) to integer picodollars, exactly as written."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"{name} must be a non-negative number of dollars, got {value!r}")
    try:
        dec = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(
            f"{name} must be a non-negative number of dollars, got {value!r}"
        ) from None
    if not dec.is_finite() or dec < 0:
        raise ValueError(f"{name} must be a non-negative number of dollars, got {value!r}")
    return int((dec * PICO_PER_USD).to_integral_value())


def pico_to_usd(pico: int) -> float:
    return pico / PICO_PER_USD


USAGE_FIELDS = (*TOKEN_FIELDS, *COUNT_FIELDS, "cost_pico")
_figures, _new, _set = attrgetter(*USAGE_FIELDS), object.__new__, object.__setattr__


# A frozen dataclass with its methods written out (the decorator makes each by ``exec``: 5M
# instructions a run that records); ``fields``, ``replace``, FrozenInstanceError work as before.
@dataclass(init=False, repr=False, eq=False)
class Usage:
    """Tokens, calls and cost of one call, one test or a whole run.

    ``input_tokens`` is all input, cache reads and writes included; ``cache_*`` are parts of it.
    ``output_tokens`` includes reasoning tokens; ``reasoning_tokens`` is that part of it.
    ``cost_pico`` is the cost of the priced calls only; ``cost_usd`` is None while any call is
    unpriced, so an unknown model never reads as $0. ``uncounted_calls`` are replies capture
    recognised as LLM calls but could not read: not in ``calls``, their tokens unknown, so the
    figures of a usage that has any are a lower bound.

    Every figure is in its instance dict, in ``USAGE_FIELDS`` order, however it was made (the
    fast paths read them from there).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    calls: int = 0
    unpriced_calls: int = 0
    refused_calls: int = 0
    uncounted_calls: int = 0
    cost_pico: int = 0

    def __init__(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        calls: int = 0,
        unpriced_calls: int = 0,
        refused_calls: int = 0,
        uncounted_calls: int = 0,
        cost_pico: int = 0,
    ) -> None:
        tokens = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        counts = (reasoning_tokens, calls, unpriced_calls, refused_calls, uncounted_calls)
        _set(self, "__dict__", dict(zip(USAGE_FIELDS, (*tokens, *counts, cost_pico))))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(_figures(self) == _figures(other))

    def __hash__(self) -> int:
        return hash(_figures(self))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in zip(USAGE_FIELDS, _figures(self)))
        return f"{type(self).__qualname__}({shown})"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost_usd(self) -> float | None:
        return None if self.unpriced_calls else pico_to_usd(self.cost_pico)

    @property
    def priced_cost_usd(self) -> float:
        """Cost of the calls that could be priced (a lower bound when some are unpriced)."""
        return pico_to_usd(self.cost_pico)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            calls=self.calls + other.calls,
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
            refused_calls=self.refused_calls + other.refused_calls,
            uncounted_calls=self.uncounted_calls + other.uncounted_calls,
            cost_pico=self.cost_pico + other.cost_pico,
        )

    def __bool__(self) -> bool:
        return self != EMPTY

    def figure(self, metric: str) -> float | int | None:
        """The named figure (``total_tokens``, ``cost_usd``, ``calls`` ...)."""
        value: float | int | None = getattr(self, metric)
        return value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in TOKEN_FIELDS + COUNT_FIELDS}
        out["total_tokens"] = self.total_tokens
        out["cost_usd"] = self.cost_usd
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Rebuild from :meth:`to_dict` output; raises ValueError naming a bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"usage must be an object, got {type(data).__name__}")
        kwargs: dict[str, int] = {}
        for name in TOKEN_FIELDS + COUNT_FIELDS:
            if name in data:
                kwargs[name] = _check_sum(name, data[name])
        usage = cls(**kwargs)
        total = data.get("total_tokens", usage.total_tokens)
        if total != usage.total_tokens:
            raise ValueError(
                f"total_tokens {total!r} != input_tokens + output_tokens ({usage.total_tokens})"
            )
        cost = data.get("cost_usd")
        if cost is not None:
            usage = cls(**kwargs, cost_pico=usd_to_pico(cost))
        elif not usage.unpriced_calls and "cost_usd" in data and usage.calls:
            raise ValueError("cost_usd is null but unpriced_calls is 0")
        return usage


EMPTY = Usage()
#: One reply that capture recognised as an LLM call but could not count.
UNCOUNTED = Usage(uncounted_calls=1)


def usage_counts(usage: Usage) -> dict[str, int]:
    """The fields of ``usage`` that are not zero, by name (built-in types: crosses execnet)."""
    figures = usage.__dict__  # every figure, in USAGE_FIELDS order: read in one C pass
    return dict(compress(figures.items(), figures.values()))


def with_cost(usage: Usage, cost_pico: int, unpriced_calls: int) -> Usage:
    """``usage`` with its cost (of the priced calls) and its count of unpriced calls."""
    if usage.cost_pico == cost_pico and usage.unpriced_calls == unpriced_calls:
        return usage
    priced: Usage = _new(Usage)
    _set(
        priced,
        "__dict__",
        {**usage.__dict__, "unpriced_calls": unpriced_calls, "cost_pico": cost_pico},
    )
    return priced


def priced_at(usage: Usage, cost_pico: int | None) -> Usage:
    """``usage`` with the cost a pricer gave it; None (unpriced) makes its cost unknown.

    A secondary pass with tokens but no call of its own (``calls=0``, e.g. an advisor
    iteration) still counts as one unpriced call, so the response never reads as $0.
    """
    if cost_pico is None:
        return with_cost(usage, 0, usage.calls or (1 if usage.total_tokens else 0))
    return with_cost(usage, cost_pico, 0)


_ONE_CALL = dict.fromkeys((*COUNT_FIELDS, "cost_pico"), 0) | {"calls": 1}


def priced_call(pricer: Pricer, model: str | None, tokens: tuple[int, ...]) -> Usage:
    """One call of checked token counts (``TOKEN_FIELDS``), priced: ``record()``'s hot path."""
    figures: dict[str, int] = dict(zip(TOKEN_FIELDS, tokens), **_ONE_CALL)
    usage: Usage = _new(Usage)
    _set(usage, "__dict__", figures)
    cost = pricer.cost_pico(model, usage)
    # nobody has seen it yet: its cost is set once, here
    figures["unpriced_calls" if cost is None else "cost_pico"] = 1 if cost is None else cost
    return usage


def make_usage(
    *,
    input_tokens: object = 0,
    output_tokens: object = 0,
    cache_read_tokens: object = 0,
    cache_write_tokens: object = 0,
    reasoning_tokens: object = 0,
    calls: int = 1,
) -> Usage:
    """Validated usage of ``calls`` calls; raises ValueError naming the bad field."""
    inp = check_count("input_tokens", input_tokens)
    out = check_count("output_tokens", output_tokens)
    read = check_count("cache_read_tokens", cache_read_tokens)
    write = check_count("cache_write_tokens", cache_write_tokens)
    reasoning = check_count("reasoning_tokens", reasoning_tokens)
    if read + write > inp:
        raise ValueError(
            f"cache_read_tokens + cache_write_tokens ({read + write}) exceed input_tokens "
            f"({inp}): input_tokens counts all input, cache included"
        )
    if reasoning > out:
        raise ValueError(
            f"reasoning_tokens ({reasoning}) exceed output_tokens "
            f"({out}): output_tokens includes reasoning"
        )
    return Usage(
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=reasoning,
        calls=calls,
    )


class Part(NamedTuple):
    """The usage of one billed pass of a response, attributed to its own model (a named tuple,
    like ``Extracted``: every run that counts a call defines them, and a dataclass costs several
    times more to define)."""

    usage: Usage
    model: str | None = None
    #: Anthropic 1-hour cache writes (part of ``cache_write_tokens``), priced at their own rate.
    cache_write_1h_tokens: int = 0
    #: What the provider billed for it, in picodollars, when its reply says so (OpenRouter's
    #: ``usage.cost``): the call's cost, whatever the price table says.
    billed_pico: int | None = None


class Extracted(NamedTuple):
    """What one provider response billed: one part, or one per iteration (compaction...)."""

    parts: tuple[Part, ...]
    response_id: str | None = None
    #: The backend configuration the reply says served it (OpenAI's ``system_fingerprint``).
    fingerprint: str | None = None


K = TypeVar("K")


def add_into(table: dict[K, Usage], key: K, usage: Usage) -> None:
    table[key] = table[key] + usage if key in table else usage


def group(cells: Mapping[Cell, Usage], by: str) -> dict[str, Usage]:
    """``cells`` added up per ``"model"`` or per ``"operation"``."""
    out: dict[str, Usage] = {}
    for key, usage in cells.items():
        add_into(out, getattr(key, by), usage)
    return out
