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
from typing import Mapping, Protocol, Sequence

import msgspec
from msgspec import UnsetType

from ..config import BY_KEY
from ..environment import Environment, changes
from ..metrics import DEFAULT_METRIC, METRICS, parse_metrics
from ..records import TestRecord, Violation, figures
from ..report import ComparisonRecord, TestVerdict, TotalRecord, tests_only
from ..usage import Pricer, Usage, pico_to_usd
from .costs import Cost, Repricer, recorded_cost, total_with_costs, with_test_cost
from .explain import describe_change, explain
from .noise import IMPROVED, INCONCLUSIVE, REGRESSED, RUN_ALPHA, UNCHANGED
from .verdicts import MISSING, NEW, TOTAL, NoiseGate, TestChange, fixed, judge

DEFAULT_REGRESSION: float = BY_KEY["regression"].default
DEFAULT_REGRESSION_MIN: int = BY_KEY["regression_min_tokens"].default


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


# -- results ------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """The outcome of comparing a run with the baseline."""

    metric: str
    regression: float
    min_tokens: int
    regressions: list[TestChange] = field(default_factory=list)
    inconclusive: list[TestChange] = field(default_factory=list)
    improvements: list[TestChange] = field(default_factory=list)
    #: Every figure judged (``metric`` is the first).
    metrics: tuple[str, ...] = ()
    confirm: int = 0
    #: Each test's verdict (regressed, inconclusive, improved, unchanged, new, missing).
    verdicts: dict[str, str] = field(default_factory=dict)
    #: Figures judged against a spread (0: the fixed rule only).
    judged: int = 0
    total_metric: str = ""
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
        metric = self.total_metric or self.metric
        return TestChange(TOTAL, metric, self.common_before, self.common_after, self.total_details)

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
        metrics = self.metrics or (self.metric,)
        floor = (
            ""
            if metrics == ("calls",) or not self.min_tokens
            else f" and by at least {self.min_tokens:,} tokens"
        )
        text = f"{' or '.join(metrics)} grows more than {pct}{floor}"
        if self.judged:
            text += (
                ", significantly where the baseline has spread "
                f"(false alarms at most {RUN_ALPHA:.0%} of runs)"
            )
        return text

    def violations(self) -> list[Violation]:
        """Entries for the report's ``violations`` (kind ``regression``)."""
        out = []
        changes = list(self.regressions)
        if self.total_regressed:
            changes.append(self.total_change)
        for c in changes:
            before = c.exact()[0]
            assert before is not None
            limit = before * (1 + as_fraction(self.regression))
            if c.metric == "cost_usd":
                actual: float | int | None = c.after.cost_usd
                limit_out: float | int = float(limit) / 10**12
            else:
                actual = c.after_value
                limit_out = int(limit) if limit.denominator == 1 else float(limit)
            out.append(
                Violation(
                    kind="regression",
                    nodeid=None if c.nodeid == TOTAL else c.nodeid,
                    metric=c.metric,
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
            inconclusive=[c.record() for c in self.inconclusive],
            improvements=[c.record() for c in self.improvements],
            metrics=list(self.metrics),
            confirm=self.confirm,
            tests={n: TestVerdict(v) for n, v in self.verdicts.items()},
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


def is_regression(
    before: Usage, after: Usage, metric: str, pct: Fraction | float, min_tokens: int
) -> bool:
    """The fixed rule on one figure (the floor in tokens: a cost's is its total tokens')."""
    judged = fixed(before, after, (metric,), as_fraction(pct), min_tokens)
    return judged.verdict == REGRESSED


def compare(
    baseline: Side,
    current: Side,
    *,
    regression: float = DEFAULT_REGRESSION,
    min_tokens: int = DEFAULT_REGRESSION_MIN,
    metric: str | Sequence[str] = DEFAULT_METRIC,
    pricer: Pricer | None = None,
    confirm: int = 0,
) -> Comparison:
    """Compare ``current`` with ``baseline`` test by test and in total, on every figure of
    ``metric`` (comma-separated); a test regresses when any of them does."""
    metrics = parse_metrics(metric)
    if regression < 0 or min_tokens < 0:
        raise ValueError("regression and min_tokens must not be negative")
    pct = as_fraction(regression)
    old_tests, new_tests = tests_only(baseline.tests), tests_only(current.tests)
    result = Comparison(metrics[0], regression, min_tokens, metrics=metrics, confirm=confirm)
    gate = NoiseGate.of(old_tests, new_tests, metrics, confirm)
    result.judged = gate.pool.judged if gate is not None else 0
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
            gate is None
            and old.input_tokens == new.input_tokens
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
    lists = {
        REGRESSED: result.regressions,
        INCONCLUSIVE: result.inconclusive,
        IMPROVED: result.improvements,
    }
    for nodeid, old, new, before_cost, after_cost in changed:
        before = with_test_cost(old, before_cost)
        after = with_test_cost(new, after_cost)
        judged = judge(gate, nodeid, old, new, before, after, metrics, pct, min_tokens)
        if judged.verdict == UNCHANGED:
            continue
        details: tuple[str, ...] = ()
        # a confirmed test's records hold its first run only: they explain no median
        if judged.verdict == REGRESSED and (judged.samples or (0, 1))[1] == 1:
            try:
                details = explain(
                    old, new, judged.metric if judged.metric in METRICS else metrics[0]
                )
            except ValueError:  # a breakdown the lazy load did not check: the caller names it
                raise BadBreakdown(nodeid) from None
        sampled = judged if judged.samples is not None else None
        change = TestChange(nodeid, judged.metric, before, after, details, sampled)
        lists[judged.verdict].append(change)
        result.verdicts[nodeid] = judged.verdict
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
    fixed_metrics = metrics if gate is None else gate.pool.fixed_figures(metrics)
    total = fixed(result.common_before, result.common_after, fixed_metrics, pct, min_tokens)
    result.total_regressed = total.verdict == REGRESSED
    result.total_metric = total.metric
    if result.total_regressed:
        grown = [c.nodeid for c in _by_growth(result.regressions)[:3]]
        result.total_details = (f"most growth in {', '.join(grown)}",) if grown else ()

    result.regressions = _by_growth(result.regressions)
    result.inconclusive = _by_growth(result.inconclusive)
    result.improvements = _by_growth(result.improvements)[::-1]
    result.verdicts = _all_verdicts(result, new_tests)
    old_env, new_env = baseline.environment, current.environment
    if isinstance(old_env, Environment) and isinstance(new_env, Environment):
        result.environment = changes(old_env, new_env)
    return result


def _all_verdicts(result: Comparison, new_tests: Mapping[str, TestRecord]) -> dict[str, str]:
    """Every test's verdict, by node id: the ones judged, unchanged, new and missing."""
    judged = result.verdicts
    out = dict.fromkeys(new_tests, UNCHANGED)
    out.update(judged)
    out.update(dict.fromkeys(result.new, NEW))
    out.update(dict.fromkeys(result.missing, MISSING))
    return out


def _by_growth(changes: list[TestChange]) -> list[TestChange]:
    def growth(c: TestChange) -> tuple[int, str]:
        b, a = c.exact()
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
    "parse_metrics",
]
