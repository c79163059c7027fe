"""Budget verdicts (pure): limits from a marker or config, checks, and their messages.

A limit is compared with ``actual > limit``: a test that uses exactly its budget passes.
Cost limits only ever compare priced calls; unpriced calls make a cost limit not checkable
for that part, reported as such, never counted as $0. Likewise token and cost limits compare
counted calls only: a call capture could not count (``uncounted_calls``) is reported as not
checked by them (its figures are unknown, not over any limit); ``max_calls`` counts it, since
the call was made.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

from ..config import Settings, closest
from ..fmt import UNITS
from ..fmt import tokens as fmt_int
from ..fmt import usd as fmt_usd
from ..inert import inert
from ..parsers import parse_bool, parse_non_negative_int, parse_positive_int, parse_usd
from ..usage import NO_OPERATION, Cell, Usage, pico_to_usd

if TYPE_CHECKING:  # the records (msgspec) are loaded when a run has budgets to report
    from ..records import BudgetRecord, Violation

#: Marker keyword -> (usage figure, parser). Cost limits are held in picodollars.
LIMITS: dict[str, tuple[str, Any]] = {
    "max_tokens": ("total_tokens", parse_positive_int),
    "max_input_tokens": ("input_tokens", parse_positive_int),
    "max_output_tokens": ("output_tokens", parse_positive_int),
    "max_cost_usd": ("cost_pico", parse_usd),
    # max_calls=0: "this test makes no LLM call" (with enforcement, every request is refused)
    "max_calls": ("calls", parse_non_negative_int),
}


#: No limits (read-only: shared by every ``Limits()``).
_NONE: Mapping[str, Any] = MappingProxyType({})


class Limits(NamedTuple):
    """The limits of one test (or of the run), each with where it came from (named tuples,
    like ``Verdict``: a run that reports defines them, and a dataclass costs several times
    more to define)."""

    values: Mapping[str, int] = _NONE
    sources: Mapping[str, str] = _NONE
    enforce: bool | None = None

    def __bool__(self) -> bool:
        return bool(self.values)

    def shown(self) -> dict[str, int | float]:
        """The limits as a user writes them (a cost in dollars)."""
        return {
            name: pico_to_usd(value) if name == "max_cost_usd" else value
            for name, value in self.values.items()
        }


def marker_limits(
    args: Sequence[object], kwargs: Mapping[str, object], default_max_tokens: int | None
) -> Limits:
    """Limits of a ``token_budget`` marker over the config default; ValueError if malformed."""
    if len(args) > 1:
        raise ValueError(
            f"token_budget takes one positional argument (max_tokens), got {len(args)}: "
            f"{list(args)!r}"
        )
    given = dict(kwargs)
    if args:
        if "max_tokens" in given:
            raise ValueError("token_budget got max_tokens both as positional and as keyword")
        given["max_tokens"] = args[0]
    unknown = sorted(set(given) - set(LIMITS) - {"enforce"})
    if unknown:
        known = [*LIMITS, "enforce"]
        meant = closest(unknown[0], known)
        raise ValueError(
            f"token_budget got unknown keyword {unknown[0]!r}; "
            + (f"did you mean {meant!r}? " if meant else "")
            + f"known: {', '.join(known)}"
        )
    values: dict[str, int] = {}
    sources: dict[str, str] = {}
    if default_max_tokens is not None:
        values["max_tokens"] = default_max_tokens
        sources["max_tokens"] = "default"
    for name, value in given.items():
        if name == "enforce" or value is None:
            continue
        try:
            values[name] = LIMITS[name][1](value)
        except ValueError as exc:
            raise ValueError(f"token_budget {name}={value!r}: {exc}") from None
        sources[name] = "marker"
    enforce = given.get("enforce")
    if enforce is not None:
        try:
            enforce = parse_bool(enforce)
        except ValueError as exc:
            raise ValueError(f"token_budget enforce={enforce!r}: {exc}") from None
    return Limits(values, sources, enforce)


class Verdict(NamedTuple):
    limit_name: str  # max_tokens, max_cost_usd, ...
    limit: int
    actual: int
    source: str
    exceeded: bool  # False: near the budget (>= warn_at share)

    @property
    def metric(self) -> str:
        return LIMITS[self.limit_name][0].replace("cost_pico", "cost_usd")

    def figure(self, value: int) -> str:
        if self.limit_name == "max_cost_usd":
            return fmt_usd(pico_to_usd(value))
        unit = UNITS[self.metric]
        return f"{fmt_int(value)} {unit.removesuffix('s') if value == 1 else unit}"

    def limit_value(self) -> float | int:
        return pico_to_usd(self.limit) if self.limit_name == "max_cost_usd" else self.limit

    def actual_value(self) -> float | int:
        return pico_to_usd(self.actual) if self.limit_name == "max_cost_usd" else self.actual

    def headline(self) -> str:
        limit = self.figure(self.limit).split(" ")[0]
        return f"{self.figure(self.actual)} > {self.limit_name} {limit} ({self.source})"


def actual_of(usage: Usage, name: str) -> int:
    """The figure limit ``name`` compares. A call that could not be counted was still made:
    ``max_calls`` counts it (its tokens and cost are unknown, so the other limits cannot)."""
    actual: int = getattr(usage, LIMITS[name][0])
    return actual + usage.uncounted_calls if name == "max_calls" else actual


def check(usage: Usage, limits: Limits, warn_at: float = 1.0) -> list[Verdict]:
    """Exceeded limits, then (when ``warn_at`` < 1) the ones at or above that share."""
    out: list[Verdict] = []
    for name, limit in limits.values.items():
        actual = actual_of(usage, name)
        source = limits.sources.get(name, "")
        if actual > limit:
            out.append(Verdict(name, limit, actual, source, exceeded=True))
        elif warn_at < 1 and actual >= limit * warn_at and actual > 0:
            out.append(Verdict(name, limit, actual, source, exceeded=False))
    return out


def reached(usage: Usage, limits: Limits) -> Verdict | None:
    """The first limit already reached (``actual >= limit``): spend protection stops here."""
    for name, limit in limits.values.items():
        actual = actual_of(usage, name)
        if actual >= limit:
            return Verdict(name, limit, actual, limits.sources.get(name, ""), exceeded=True)
    return None


def unpriced_note(usage: Usage, limits: Limits) -> str | None:
    """Cost limits skip unpriced calls: say so rather than treat them as $0."""
    if "max_cost_usd" in limits.values and usage.unpriced_calls:
        n = usage.unpriced_calls
        return (
            f"max_cost_usd checked on priced calls only ({fmt_usd(usage.priced_cost_usd)}): "
            f"{n} unpriced call{'s' if n != 1 else ''} not checkable"
        )
    return None


def uncounted_note(usage: Usage, limits: Limits) -> str | None:
    """Token and cost limits compare counted calls only: say how many calls they could not
    check (``max_calls`` counts every call made)."""
    n = usage.uncounted_calls
    names = [name for name in limits.values if name != "max_calls"]
    if not n or not names:
        return None
    return (
        f"{', '.join(names)} checked on counted calls only: "
        f"{fmt_int(n)} call{'s' if n != 1 else ''} could not be checked (not counted)"
    )


def contributors(cells: Mapping[Cell, Usage], metric: str, top: int = 3) -> str:
    """``gpt-4o-mini 5,100 (operation "summarise")``: the biggest model/operation cells."""
    figure = "cost_pico" if metric == "cost_usd" else metric
    ranked = sorted(cells.items(), key=lambda kv: (-getattr(kv[1], figure), kv[0]))[:top]
    parts = []
    for (model, op), usage in ranked:
        value = getattr(usage, figure)
        shown = fmt_usd(pico_to_usd(value)) if figure == "cost_pico" else fmt_int(value)
        label = f"{inert(model)} {shown}"
        if op != NO_OPERATION:
            label += f' (operation "{inert(op)}")'
        parts.append(label)
    return ", ".join(parts)


def message(
    verdicts: Sequence[Verdict],
    usage: Usage,
    cells: Mapping[Cell, Usage],
    scope: str = "token budget exceeded",
) -> str:
    """``token budget exceeded: 5,321 tokens > max_tokens 5,000 (marker) — input 4,000, ...``"""
    head = "; ".join(v.headline() for v in verdicts)
    calls = usage.calls
    detail = (
        f"input {fmt_int(usage.input_tokens)}, output {fmt_int(usage.output_tokens)} "
        f"in {fmt_int(calls)} call{'s' if calls != 1 else ''}"
    )
    text = f"{scope}: {head} — {detail}"
    top = contributors(cells, verdicts[0].metric) if cells else ""
    if top:
        text += f"; top: {top}"
    return text


class BudgetExceeded(BaseException):
    """Raised by an LLM SDK call that spend protection refused to send.

    ``scope`` is "test" or "run"; ``metric``, ``limit`` and ``actual`` say which limit.

    A ``BaseException``, like pytest's own outcome exceptions (``pytest.fail``, ``skip``), so
    that nothing written for network errors handles it: the SDKs wrap and retry any
    ``Exception`` their transport raises (openai 1.x-2.x and every anthropic release would
    retry the refusal twice, then raise ``APIConnectionError``), and agent code's
    ``except Exception`` would hide it. asyncio tasks, ``gather`` and ``concurrent.futures``
    carry it to the caller like any error (``TaskGroup`` and anyio in a ``BaseExceptionGroup``).
    A test that catches it fails all the same: the plugin checks its refusals when it ends.
    """

    __module__ = "pytest_tokenbudget"  # shown as it is imported: pytest_tokenbudget.BudgetExceeded

    def __init__(self, scope: str, verdict: Verdict) -> None:
        self.scope = scope
        self.verdict = verdict
        self.metric = verdict.metric
        self.limit = verdict.limit_value()
        self.actual = verdict.actual_value()
        super().__init__(refusal_message(scope, verdict, 1))

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (process pools), args are not ours
        return (BudgetExceeded, (self.scope, self.verdict))


def refusal_message(scope: str, verdict: Verdict, refused: int) -> str:
    """``tokenbudget refused 3 LLM requests: test budget reached, 2 calls >= max_calls 2 ...``"""
    what = "an LLM request" if refused == 1 else f"{fmt_int(refused)} LLM requests"
    reached_at = verdict.headline().replace(" > ", " >= ")
    return f"tokenbudget refused {what}: {scope} budget reached, {reached_at}"


def violation(kind: str, nodeid: str | None, verdict: Verdict, text: str) -> Violation:
    """One entry of the report's ``violations``."""
    from ..records import Violation

    return Violation(
        kind=kind,
        nodeid=nodeid,
        metric=verdict.metric,
        limit=verdict.limit_value(),
        actual=verdict.actual_value(),
        message=text,
    )


def budget_record(
    nodeid: str,
    usage: Usage,
    cells: Mapping[Cell, Usage],
    limits: Limits,
    warn_at: float,
    refusal: BudgetExceeded | None = None,
) -> BudgetRecord:
    """How a test stood against its limits: violations, near misses, what was not checkable,
    and the limit at which spend protection first refused one of its requests."""
    from ..records import BudgetRecord

    verdicts = check(usage, limits, warn_at)
    violations = [
        violation("test_budget", nodeid, v, message([v], usage, cells))
        for v in verdicts
        if v.exceeded
    ]
    if refusal is not None:
        refused = refusal_message(refusal.scope, refusal.verdict, max(usage.refused_calls, 1))
        kind = "test_budget" if refusal.scope == "test" else "run_budget"
        violations.append(violation(kind, nodeid, refusal.verdict, refused))
    return BudgetRecord(
        limits=limits.shown(),
        sources=dict(limits.sources),
        violations=violations,
        near=[v.headline().replace(" > ", " of ") for v in verdicts if not v.exceeded],
        note="; ".join(filter(None, (unpriced_note(usage, limits), uncounted_note(usage, limits))))
        or None,
    )


def run_limits(settings: Settings) -> Limits:
    """The whole run's limits (``max_tokens``, ``max_cost_usd``), each with where it was set."""
    values, sources = {}, {}
    for key in ("max_tokens", "max_cost_usd"):
        if settings[key] is not None:
            values[key] = settings[key]
            sources[key] = settings.sources[key]
    return Limits(values, sources)
