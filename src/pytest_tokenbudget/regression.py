"""Baseline vs current run: regressions, improvements, new and missing tests (pure).

The rule: a figure regressed when ``current > baseline * (1 + pct)`` AND it grew by at least
``min_tokens`` (the noise floor). The floor is in tokens: for the token metrics it applies to
that figure's growth; for ``cost_usd`` it applies to the growth of ``total_tokens`` (a dollar
figure that moved on a handful of tokens is output-length noise); for ``calls`` it does not
apply (calls are whole, deterministic requests). The run total is judged on the tests present on
both sides, so adding a test (new) or running a subset (missing) never reads as a regression.

Costs are recomputed from the tokens with one price table (the current one) on both sides when
a pricer is given, so a provider's price change never shows as a regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .baseline import Baseline, Report, TestRecord, sum_usage
from .config import BY_KEY, METRICS, parse_percent
from .tracker import Pricer
from .usage import NO_MODEL, NO_OPERATION, Usage, pico_to_usd, priced_at

TOKEN_METRICS = ("total_tokens", "input_tokens", "output_tokens")
DEFAULT_REGRESSION: float = BY_KEY["regression"].default
DEFAULT_REGRESSION_MIN: int = BY_KEY["regression_min_tokens"].default
DEFAULT_METRIC: str = BY_KEY["regression_metric"].default
TOTAL = "(total)"


def parse_metric(value: str) -> str:
    if value not in METRICS:
        raise ValueError(f"invalid metric {value!r}: expected one of {', '.join(METRICS)}")
    return value


# -- pricing ------------------------------------------------------------------------------------
def repriced(rec: TestRecord, pricer: Pricer) -> Usage:
    """The test's usage with its cost recomputed per model by ``pricer``.

    The files do not keep Anthropic 1-hour cache writes apart, so they are priced as ordinary
    cache writes here.
    """
    by_model = rec.by_model or {NO_MODEL: rec.usage}
    total = Usage()
    for model, u in by_model.items():
        cost = pricer.cost_pico(None if model == NO_MODEL else model, u) if u.calls else 0
        total = total + priced_at(u, cost)
    # by_model sums to the test's usage; keep the test's own token figures all the same.
    return Usage(
        rec.usage.input_tokens,
        rec.usage.output_tokens,
        rec.usage.cache_read_tokens,
        rec.usage.cache_write_tokens,
        rec.usage.reasoning_tokens,
        rec.usage.calls,
        total.unpriced_calls,
        rec.usage.refused_calls,
        total.cost_pico,
    )


# -- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestChange:
    """One test's figures on both sides and, for a regression, what grew."""

    __test__ = False

    nodeid: str
    metric: str
    before: Usage
    after: Usage
    details: tuple[str, ...] = ()

    @property
    def before_value(self) -> int | float | None:
        return self.before.figure(self.metric)

    @property
    def after_value(self) -> int | float | None:
        return self.after.figure(self.metric)

    @property
    def change_pct(self) -> float | None:
        b, a = _exact(self.before, self.metric), _exact(self.after, self.metric)
        if b is None or a is None or b == 0:
            return None
        return (a - b) * 100 / b

    @property
    def message(self) -> str:
        label = "total of the tests in both" if self.nodeid == TOTAL else self.nodeid
        text = f"{label}: {describe_change(self.metric, self.before, self.after)}"
        return text + (": " + ", ".join(self.details) if self.details else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "before": self.before_value,
            "after": self.after_value,
            "change_pct": None if self.change_pct is None else round(self.change_pct, 2),
            "before_usage": self.before.to_dict(),
            "after_usage": self.after.to_dict(),
            "saved_tokens": self.before.total_tokens - self.after.total_tokens,
            "saved_usd": _saved_usd(self.before, self.after),
            "details": list(self.details),
            "message": self.message,
        }


def _saved_usd(before: Usage, after: Usage) -> float | None:
    if before.cost_usd is None or after.cost_usd is None:
        return None
    return pico_to_usd(before.cost_pico - after.cost_pico)


@dataclass
class Comparison:
    """The outcome of comparing a run with the baseline."""

    metric: str
    regression: float
    min_tokens: int
    regressions: list[TestChange] = field(default_factory=list)
    improvements: list[TestChange] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    #: Sums over the tests present on both sides (what the total rule judges).
    common_before: Usage = field(default_factory=Usage)
    common_after: Usage = field(default_factory=Usage)
    #: Sums over every test of each side.
    baseline_totals: Usage = field(default_factory=Usage)
    current_totals: Usage = field(default_factory=Usage)
    total_regressed: bool = False
    total_details: tuple[str, ...] = ()
    costs: str = "recorded"
    unpriced: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions) or self.total_regressed

    @property
    def total_change(self) -> TestChange:
        return TestChange(
            TOTAL, self.metric, self.common_before, self.common_after, self.total_details
        )

    @property
    def saved_tokens(self) -> int:
        return sum(c.before.total_tokens - c.after.total_tokens for c in self.improvements)

    @property
    def saved_usd(self) -> float | None:
        pico = 0
        for c in self.improvements:
            if c.before.cost_usd is None or c.after.cost_usd is None:
                return None
            pico += c.before.cost_pico - c.after.cost_pico
        return pico_to_usd(pico)

    def rule(self) -> str:
        pct = f"{self.regression * 100:g}%"
        floor = (
            ""
            if self.metric == "calls" or not self.min_tokens
            else f" and by at least {self.min_tokens:,} tokens"
        )
        return f"{self.metric} grows more than {pct}{floor}"

    def violations(self) -> list[dict[str, Any]]:
        """Entries for the report's ``violations`` (kind ``regression``)."""
        out = []
        changes = list(self.regressions)
        if self.total_regressed:
            changes.append(self.total_change)
        for c in changes:
            before = _exact(c.before, self.metric)
            assert before is not None
            limit = before * (1 + as_fraction(self.regression))
            if self.metric == "cost_usd":
                actual: float | int | None = c.after.cost_usd
                limit_out: float | int = float(limit) / 10**12
            else:
                actual = c.after_value
                limit_out = int(limit) if limit.denominator == 1 else float(limit)
            out.append(
                {
                    "kind": "regression",
                    "nodeid": None if c.nodeid == TOTAL else c.nodeid,
                    "metric": self.metric,
                    "limit": limit_out,
                    "actual": actual,
                    "message": c.message,
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The report's ``baseline`` section; renderers read this form."""
        return {
            "metric": self.metric,
            "regression": self.regression,
            "regression_min_tokens": self.min_tokens,
            "rule": self.rule(),
            "costs": self.costs,
            "regressed": self.regressed,
            "total": {**self.total_change.to_dict(), "regressed": self.total_regressed},
            "baseline_totals": self.baseline_totals.to_dict(),
            "current_totals": self.current_totals.to_dict(),
            "regressions": [c.to_dict() for c in self.regressions],
            "improvements": [c.to_dict() for c in self.improvements],
            "new": list(self.new),
            "missing": list(self.missing),
            "saved_tokens": self.saved_tokens,
            "saved_usd": self.saved_usd,
            "unpriced": list(self.unpriced),
        }


# -- the rule -----------------------------------------------------------------------------------
def as_fraction(pct: Fraction | float) -> Fraction:
    """``0.1`` as exactly 1/10, so 1,000 -> 1,100 is not over a 10% rule by float error."""
    return pct if isinstance(pct, Fraction) else Fraction(repr(float(pct)))


def _exact(u: Usage, metric: str) -> int | None:
    """The figure as an exact integer (cost in picodollars); None when unpriced."""
    if metric == "cost_usd":
        return None if u.unpriced_calls else u.cost_pico
    value: int = getattr(u, metric)
    return value


def _growth_for_floor(before: Usage, after: Usage, metric: str) -> int | None:
    if metric == "calls":
        return None
    figure = "total_tokens" if metric == "cost_usd" else metric
    grown: int = getattr(after, figure) - getattr(before, figure)
    return grown


def is_regression(
    before: Usage, after: Usage, metric: str, pct: Fraction | float, min_tokens: int
) -> bool:
    b, a = _exact(before, metric), _exact(after, metric)
    if b is None or a is None or a <= b:
        return False
    if a <= b * (1 + as_fraction(pct)):
        return False
    grown = _growth_for_floor(before, after, metric)
    return grown is None or grown >= min_tokens


def _is_improvement(before: Usage, after: Usage, metric: str, min_tokens: int) -> bool:
    b, a = _exact(before, metric), _exact(after, metric)
    if b is None or a is None or a >= b:
        return False
    grown = _growth_for_floor(before, after, metric)
    return grown is None or -grown >= min_tokens


def compare(
    baseline: Baseline,
    current: Report | Baseline,
    *,
    regression: float = DEFAULT_REGRESSION,
    min_tokens: int = DEFAULT_REGRESSION_MIN,
    metric: str = DEFAULT_METRIC,
    pricer: Pricer | None = None,
) -> Comparison:
    """Compare ``current`` with ``baseline`` test by test and in total."""
    parse_metric(metric)
    if regression < 0 or min_tokens < 0:
        raise ValueError("regression and min_tokens must not be negative")
    pct = as_fraction(regression)
    old_tests, new_tests = baseline.tests, current.tests
    result = Comparison(metric, regression, min_tokens)
    result.costs = "recomputed" if pricer is not None else "recorded"

    def usage_of(rec: TestRecord) -> Usage:
        return repriced(rec, pricer) if pricer is not None else rec.usage

    before_all: list[Usage] = []
    after_all: list[Usage] = []
    common_before: list[Usage] = []
    common_after: list[Usage] = []
    unpriced: set[str] = set()
    for nodeid, new_rec in new_tests.items():
        after = usage_of(new_rec)
        after_all.append(after)
        old_rec = old_tests.get(nodeid)
        if old_rec is None:
            result.new.append(nodeid)
            continue
        before = usage_of(old_rec)
        common_before.append(before)
        common_after.append(after)
        if metric == "cost_usd" and (before.unpriced_calls or after.unpriced_calls):
            unpriced.add(nodeid)
        if before is after:
            continue
        if is_regression(before, after, metric, pct, min_tokens):
            details = explain(old_rec, new_rec, metric)
            result.regressions.append(TestChange(nodeid, metric, before, after, details))
        elif _is_improvement(before, after, metric, min_tokens):
            result.improvements.append(TestChange(nodeid, metric, before, after))
    for nodeid, old_rec in old_tests.items():
        before = usage_of(old_rec)
        before_all.append(before)
        if nodeid not in new_tests:
            result.missing.append(nodeid)
    result.new.sort()
    result.missing.sort()
    result.unpriced = sorted(unpriced)
    result.baseline_totals = sum_usage(before_all)
    result.current_totals = sum_usage(after_all)
    result.common_before = sum_usage(common_before)
    result.common_after = sum_usage(common_after)
    result.total_regressed = is_regression(
        result.common_before, result.common_after, metric, pct, min_tokens
    )
    if result.total_regressed:
        grown = [c.nodeid for c in _by_growth(result.regressions, metric)[:3]]
        result.total_details = (f"most growth in {', '.join(grown)}",) if grown else ()

    result.regressions = _by_growth(result.regressions, metric)
    result.improvements = _by_growth(result.improvements, metric)[::-1]
    return result


def _by_growth(changes: list[TestChange], metric: str) -> list[TestChange]:
    def growth(c: TestChange) -> tuple[int, str]:
        a, b = _exact(c.after, metric), _exact(c.before, metric)
        return ((a or 0) - (b or 0), c.nodeid)

    return sorted(changes, key=growth, reverse=True)


# -- explaining ---------------------------------------------------------------------------------
def _unit(metric: str) -> str:
    return {
        "total_tokens": "tokens",
        "input_tokens": "input tokens",
        "output_tokens": "output tokens",
        "calls": "calls",
    }.get(metric, "")


def format_value(metric: str, value: int | float | None) -> str:
    if value is None:
        return "unpriced"
    if metric == "cost_usd":
        return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"
    return f"{int(value):,}"


def format_pct(pct: float | None) -> str:
    if pct is None:
        return "new usage"
    if abs(pct) < 10:
        return f"{pct:+.1f}%"
    return f"{pct:+.0f}%"


def describe_change(metric: str, before: Usage, after: Usage) -> str:
    """``5,100 -> 7,450 tokens (+46%)``."""
    b, a = before.figure(metric), after.figure(metric)
    unit = _unit(metric)
    text = f"{format_value(metric, b)} -> {format_value(metric, a)}" + (f" {unit}" if unit else "")
    exact_b, exact_a = _exact(before, metric), _exact(after, metric)
    if exact_b is None or exact_a is None:
        return text
    pct = None if exact_b == 0 else (exact_a - exact_b) * 100 / exact_b
    return f"{text} ({format_pct(pct)})"


def explain(old: TestRecord, new: TestRecord, metric: str = DEFAULT_METRIC) -> tuple[str, ...]:
    """What grew, per operation and model: ``operation "retrieve" +2,100 input (gpt-4o-mini)``.

    Cells are (operation, model) pairs from ``by_operation[op].by_model``; the three that grew
    most are named, then the change in calls.
    """
    old_cells, new_cells = old.cells(), new.cells()
    empty = Usage()
    grown: list[tuple[int, str]] = []
    for key in set(old_cells) | set(new_cells):
        b, a = old_cells.get(key, empty), new_cells.get(key, empty)
        d_in = a.input_tokens - b.input_tokens
        d_out = a.output_tokens - b.output_tokens
        parts = []
        if d_in > 0 and metric != "output_tokens":
            parts.append(f"+{d_in:,} input")
        if d_out > 0 and metric != "input_tokens":
            parts.append(f"+{d_out:,} output")
        if a.calls > b.calls and not parts and metric in ("calls", "cost_usd"):
            parts.append(f"+{a.calls - b.calls:,} calls")
        if not parts:
            continue
        op, model = key
        where = "" if op == NO_OPERATION else f'operation "{op}" '
        fresh = " (new)" if key not in old_cells else ""
        size = max(d_in if metric != "output_tokens" else 0, 0) + max(
            d_out if metric != "input_tokens" else 0, 0
        )
        grown.append((size, f"{where}{', '.join(parts)} ({model}){fresh}"))
    grown.sort(key=lambda item: (-item[0], item[1]))
    details = [text for _, text in grown[:3]]
    if len(grown) > 3:
        details.append(f"{len(grown) - 3} more")
    if old.usage.calls != new.usage.calls:
        details.append(f"calls {old.usage.calls:,} -> {new.usage.calls:,}")
    return tuple(details)


__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_REGRESSION",
    "DEFAULT_REGRESSION_MIN",
    "METRICS",
    "Comparison",
    "TestChange",
    "compare",
    "describe_change",
    "explain",
    "format_pct",
    "format_value",
    "is_regression",
    "parse_metric",
    "parse_percent",
    "repriced",
]
