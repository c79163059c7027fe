"""Baseline vs current run: regressions, improvements, new and missing tests (pure).

The rule: a figure regressed when ``current > baseline * (1 + pct)`` AND it grew by at least
``min_tokens`` (the noise floor). The floor is in tokens: for the token metrics it applies to
that figure's growth; for ``cost_usd`` it applies to the growth of ``total_tokens`` (a dollar
figure that moved on a handful of tokens is output-length noise); for ``calls`` it does not
apply (calls are whole, deterministic requests). The run total is judged on the tests present on
both sides, so adding a test (new) or running a subset (missing) never reads as a regression.
Buckets (``<session>``, ``<fixture NAME>``, ``<reruns>``: usage that is no test's figure) are
left out on both sides: never compared, never new or missing, never in any total here.

Costs are recomputed from the tokens with one price table (the current one) on both sides when
a pricer is given, so a provider's price change never shows as a regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping, Protocol

import msgspec
from msgspec import UnsetType

from ..config import BY_KEY, DEFAULT_METRIC, METRICS
from ..environment import Environment, changes
from ..records import TestRecord, Violation, figures
from ..report import ChangeRecord, ComparisonRecord, TotalRecord, tests_only
from ..usage import Pricer, Usage, exact_figure, pico_to_usd
from .costs import Cost, Repricer, recorded_cost, total_with_costs, with_test_cost
from .explain import describe_change, explain

DEFAULT_REGRESSION: float = BY_KEY["regression"].default
DEFAULT_REGRESSION_MIN: int = BY_KEY["regression_min_tokens"].default
TOTAL = "(total)"


class Side(Protocol):
    """One side of a comparison: a baseline, or a run's report."""

    @property
    def tests(self) -> Mapping[str, TestRecord]: ...

    @property
    def environment(self) -> Environment | UnsetType | None: ...


class BadBreakdown(ValueError):
    """A test's ``by_operation`` (left unchecked by a lazy load) could not be read; the caller,
    which knows the files, names the file and the field."""

    def __init__(self, nodeid: str) -> None:
        super().__init__(f"unreadable by_operation of {nodeid!r}")
        self.nodeid = nodeid


def parse_metric(value: str) -> str:
    if value not in METRICS:
        raise ValueError(f"invalid metric {value!r}: expected one of {', '.join(METRICS)}")
    return value


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
        b, a = exact_figure(self.before, self.metric), exact_figure(self.after, self.metric)
        if b is None or a is None or b == 0:
            return None
        return (a - b) * 100 / b

    @property
    def message(self) -> str:
        label = "total of the tests in both" if self.nodeid == TOTAL else self.nodeid
        text = f"{label}: {describe_change(self.metric, self.before, self.after)}"
        return text + (": " + ", ".join(self.details) if self.details else "")

    def record(self) -> ChangeRecord:
        """This change as the report stores it."""
        return ChangeRecord(
            nodeid=self.nodeid,
            before=self.before_value,
            after=self.after_value,
            change_pct=None if self.change_pct is None else round(self.change_pct, 2),
            before_usage=figures(self.before),
            after_usage=figures(self.after),
            saved_tokens=self.before.total_tokens - self.after.total_tokens,
            saved_usd=_saved_usd(self.before, self.after),
            details=list(self.details),
            message=self.message,
        )


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
    #: What changed in the environment between the two sides (``environment.changes``).
    environment: list[str] = field(default_factory=list)

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

    def violations(self) -> list[Violation]:
        """Entries for the report's ``violations`` (kind ``regression``)."""
        out = []
        changes = list(self.regressions)
        if self.total_regressed:
            changes.append(self.total_change)
        for c in changes:
            before = exact_figure(c.before, self.metric)
            assert before is not None
            limit = before * (1 + as_fraction(self.regression))
            if self.metric == "cost_usd":
                actual: float | int | None = c.after.cost_usd
                limit_out: float | int = float(limit) / 10**12
            else:
                actual = c.after_value
                limit_out = int(limit) if limit.denominator == 1 else float(limit)
            out.append(
                Violation(
                    kind="regression",
                    nodeid=None if c.nodeid == TOTAL else c.nodeid,
                    metric=self.metric,
                    limit=limit_out,
                    actual=actual,
                    message=c.message,
                )
            )
        return out

    def record(self) -> ComparisonRecord:
        """The report's ``baseline`` section; every view reads this form."""
        total = msgspec.structs.asdict(self.total_change.record())
        return ComparisonRecord(
            metric=self.metric,
            regression=self.regression,
            regression_min_tokens=self.min_tokens,
            rule=self.rule(),
            costs=self.costs,
            regressed=self.regressed,
            total=TotalRecord(**total, regressed=self.total_regressed),
            baseline_totals=figures(self.baseline_totals),
            current_totals=figures(self.current_totals),
            regressions=[c.record() for c in self.regressions],
            improvements=[c.record() for c in self.improvements],
            new=list(self.new),
            missing=list(self.missing),
            saved_tokens=self.saved_tokens,
            saved_usd=self.saved_usd,
            unpriced=list(self.unpriced),
            environment=list(self.environment),
        )


# -- the rule -----------------------------------------------------------------------------------
def as_fraction(pct: Fraction | float) -> Fraction:
    """``0.1`` as exactly 1/10, so 1,000 -> 1,100 is not over a 10% rule by float error."""
    return pct if isinstance(pct, Fraction) else Fraction(repr(float(pct)))


def _growth_for_floor(before: Usage, after: Usage, metric: str) -> int | None:
    if metric == "calls":
        return None
    figure = "total_tokens" if metric == "cost_usd" else metric
    grown: int = getattr(after, figure) - getattr(before, figure)
    return grown


def is_regression(
    before: Usage, after: Usage, metric: str, pct: Fraction | float, min_tokens: int
) -> bool:
    b, a = exact_figure(before, metric), exact_figure(after, metric)
    if b is None or a is None or a <= b:
        return False
    ratio = as_fraction(pct)  # a <= b * (1 + pct), in integers
    if a * ratio.denominator <= b * (ratio.denominator + ratio.numerator):
        return False
    grown = _growth_for_floor(before, after, metric)
    return grown is None or grown >= min_tokens


def _is_improvement(before: Usage, after: Usage, metric: str, min_tokens: int) -> bool:
    b, a = exact_figure(before, metric), exact_figure(after, metric)
    if b is None or a is None or a >= b:
        return False
    grown = _growth_for_floor(before, after, metric)
    return grown is None or -grown >= min_tokens


def compare(
    baseline: Side,
    current: Side,
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
    old_tests, new_tests = tests_only(baseline.tests), tests_only(current.tests)
    result = Comparison(metric, regression, min_tokens)
    result.costs = "recomputed" if pricer is not None else "recorded"

    price = Repricer(pricer) if pricer is not None else recorded_cost
    # A 100,000-test comparison spends its time here: one pass pricing the current tests, one
    # pairing them with the baseline's; a test whose figures did not move costs one check.
    after_costs = list(map(price, new_tests.values()))
    before_of: dict[str, Cost] = {}
    changed: list[tuple[str, TestRecord, TestRecord, Cost, Cost]] = []
    old_get = old_tests.get
    for (nodeid, new), after_cost in zip(new_tests.items(), after_costs):
        old = old_get(nodeid)
        if old is None:
            result.new.append(nodeid)
        elif (
            old.input_tokens == new.input_tokens
            and old.output_tokens == new.output_tokens
            and old.calls == new.calls
            and old.unpriced_calls == new.unpriced_calls
            and old.cost_usd == new.cost_usd
            and old.by_model == new.by_model
        ):  # equal in every figure the rule or the recomputed cost reads
            before_of[nodeid] = after_cost
        else:
            before_cost = before_of[nodeid] = price(old)
            changed.append((nodeid, old, new, before_cost, after_cost))
    for nodeid, old, new, before_cost, after_cost in changed:
        before = with_test_cost(old, before_cost)
        after = with_test_cost(new, after_cost)
        if is_regression(before, after, metric, pct, min_tokens):
            try:
                details = explain(old, new, metric)
            except ValueError:  # a breakdown the lazy load did not check: the caller names it
                raise BadBreakdown(nodeid) from None
            result.regressions.append(TestChange(nodeid, metric, before, after, details))
        elif _is_improvement(before, after, metric, min_tokens):
            result.improvements.append(TestChange(nodeid, metric, before, after))
    if len(before_of) == len(old_tests):  # every baseline test ran: no second pass
        old_recs, before_costs = list(map(old_tests.__getitem__, before_of)), [*before_of.values()]
    else:
        old_recs, before_costs = list(old_tests.values()), []
        for nodeid, old in old_tests.items():
            cost = before_of.get(nodeid)
            if cost is None:
                result.missing.append(nodeid)
                cost = price(old)
            before_costs.append(cost)
    after_of = dict(zip(new_tests, after_costs))
    if metric == "cost_usd":
        unpriced = {n for n, cost in before_of.items() if cost[1] or after_of[n][1]}
        result.unpriced = sorted(unpriced)
    result.new.sort()
    result.missing.sort()
    result.baseline_totals = total_with_costs(old_recs, before_costs)
    result.current_totals = total_with_costs(list(new_tests.values()), after_costs)
    # Usually every test is on both sides: the common sums are then the totals.
    result.common_before = (
        result.baseline_totals
        if len(before_of) == len(old_tests)
        else total_with_costs([old_tests[n] for n in before_of], list(before_of.values()))
    )
    result.common_after = (
        result.current_totals
        if len(before_of) == len(new_tests)
        else total_with_costs([new_tests[n] for n in before_of], [after_of[n] for n in before_of])
    )
    result.total_regressed = is_regression(
        result.common_before, result.common_after, metric, pct, min_tokens
    )
    if result.total_regressed:
        grown = [c.nodeid for c in _by_growth(result.regressions, metric)[:3]]
        result.total_details = (f"most growth in {', '.join(grown)}",) if grown else ()

    result.regressions = _by_growth(result.regressions, metric)
    result.improvements = _by_growth(result.improvements, metric)[::-1]
    old_env, new_env = baseline.environment, current.environment
    if isinstance(old_env, Environment) and isinstance(new_env, Environment):
        result.environment = changes(old_env, new_env)
    return result


def _by_growth(changes: list[TestChange], metric: str) -> list[TestChange]:
    def growth(c: TestChange) -> tuple[int, str]:
        a, b = exact_figure(c.after, metric), exact_figure(c.before, metric)
        return ((a or 0) - (b or 0), c.nodeid)

    return sorted(changes, key=growth, reverse=True)


__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_REGRESSION",
    "DEFAULT_REGRESSION_MIN",
    "BadBreakdown",
    "Comparison",
    "TestChange",
    "compare",
    "describe_change",
    "explain",
    "is_regression",
    "parse_metric",
]
