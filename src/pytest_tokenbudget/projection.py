"""Projected spend: a run's cost figures times the runs of a month (``runs_per_month``; pure).

A reviewer feels "$40 a month" more than "+3,400 tokens". Costs are exact integer picodollars,
so a projection multiplies first and rounds only when it is printed: 900 runs of $0.004 are
$3.60, never $3.5999. A figure with an unpriced call has no projection (unknown, never $0).
Every projection uses the run's price table, the one the comparison recomputed costs with.
"""

from __future__ import annotations

from typing import Iterable

from .fmt import usd
from .records import Figures
from .report import ChangeRecord, ComparisonRecord, Projection, Report
from .usage import Usage, pico_to_usd

__all__ = [
    "a_month",
    "change_month",
    "change_pico",
    "change_spend",
    "cost_pico",
    "headline_month",
    "headline_spend",
    "monthly",
    "per_run",
    "project",
    "run_change",
    "run_spend",
    "runs_of",
    "saved_month",
]


def cost_pico(figures: Figures | Usage) -> int | None:
    """The exact cost of ``figures`` in picodollars; None when any call is unpriced."""
    return None if figures.unpriced_calls else figures.cost_pico


def change_pico(before: Figures, after: Figures) -> int | None:
    """The exact change of cost from ``before`` to ``after``; None when either is unpriced."""
    b, a = cost_pico(before), cost_pico(after)
    return None if b is None or a is None else a - b


def monthly(pico: int | None, runs: int) -> float | None:
    """``pico`` a run, over ``runs`` runs, in dollars (multiplied exactly, then converted)."""
    return None if pico is None else pico_to_usd(pico * runs)


def runs_of(report: Report) -> int | None:
    """The runs a month the report's figures are projected to; None when not configured."""
    projection = report.projection
    return projection.runs_per_month if isinstance(projection, Projection) else None


def project(report: Report, runs: int) -> None:
    """Project ``report``'s cost, and each change of its comparison, to ``runs`` runs a month."""
    report.projection = Projection(runs, monthly(cost_pico(report.totals), runs))
    comparison = report.baseline
    if comparison is not None:
        for change in _changes(comparison):
            change.projection = Projection(
                runs,
                monthly(cost_pico(change.after_usage), runs),
                monthly(change_pico(change.before_usage, change.after_usage), runs),
            )


def _changes(comparison: ComparisonRecord) -> Iterable[ChangeRecord]:
    yield comparison.total
    yield from comparison.regressions
    yield from comparison.improvements


# -- words ---------------------------------------------------------------------------------------
def a_month(pico: int | None, runs: int, *, signed: bool = False) -> str:
    """``about $3.60 a month at 900 runs``; unknown when a call is unpriced (never $0)."""
    if pico is None:
        return f"cost a month unknown at {runs:,} runs (a call is unpriced)"
    amount = monthly(pico, runs)
    shown = f"-{usd(-amount)}" if signed and amount is not None and amount < 0 else usd(amount)
    return f"about {shown} a month at {runs:,} runs"


def per_run(pico: int | None, runs: int, *, signed: bool = False) -> str:
    """``+$0.004 per run, about $3.60 a month at 900 runs`` (``signed``: a change)."""
    if pico is None:
        return a_month(None, runs)
    amount = pico_to_usd(pico)
    each = ("-" if pico < 0 else "+") + usd(abs(amount)) if signed else usd(amount)
    return f"{each} per run, {a_month(pico, runs, signed=signed)}"


def run_change(report: Report) -> int | None:
    """The change of cost of the run's tests against the baseline (all tests of each side, as
    the headline counts tokens); None when either side has an unpriced call."""
    comparison = report.baseline
    assert comparison is not None
    return change_pico(comparison.baseline_totals, comparison.current_totals)


def run_spend(report: Report) -> str:
    """The summary's line: what the run costs a run and a month; "" without ``runs_per_month``."""
    runs = runs_of(report)
    if runs is None:
        return ""
    cost = cost_pico(report.totals)
    if cost is None:
        return f"projected spend: {a_month(None, runs)}"
    return f"projected spend: {per_run(cost, runs)} (this run's prices)"


def headline_month(report: Report) -> str:
    """The month of the headline's figure: the run's cost, or its change when compared
    (``about $3.60 a month at 900 runs``); "" without ``runs_per_month``: the summary and the
    comment then read as they always did."""
    runs = runs_of(report)
    if runs is None:
        return ""
    if report.baseline is None:
        return a_month(cost_pico(report.totals), runs)
    return a_month(run_change(report), runs, signed=True)


def headline_spend(report: Report) -> str:
    """``+$0.004 per run, about $3.60 a month at 900 runs``: the headline's figure a run and
    a month (the run's cost, or its change when compared); "" without ``runs_per_month``."""
    runs = runs_of(report)
    if runs is None:
        return ""
    if report.baseline is None:
        return per_run(cost_pico(report.totals), runs)
    return per_run(run_change(report), runs, signed=True)


def change_month(change: ChangeRecord, *, saved: bool = False) -> str:
    """A compared test's (or the total's) change of cost in a month (``saved``: as a saving,
    unsigned); "" without ``runs_per_month``."""
    projection = change.projection
    if not isinstance(projection, Projection):
        return ""
    pico = change_pico(change.before_usage, change.after_usage)
    if saved and pico is not None:
        return a_month(-pico, projection.runs_per_month)
    return a_month(pico, projection.runs_per_month, signed=True)


def change_spend(change: ChangeRecord) -> str:
    """A compared test's (or the total's) change of cost a run and a month; "" when not set."""
    projection = change.projection
    if not isinstance(projection, Projection):
        return ""
    pico = change_pico(change.before_usage, change.after_usage)
    return per_run(pico, projection.runs_per_month, signed=True)


def saved_month(changes: Iterable[ChangeRecord]) -> str:
    """What ``changes`` (improvements) save in a month; "" without ``runs_per_month``."""
    total: int | None = 0
    runs = None
    for change in changes:
        projection = change.projection
        if not isinstance(projection, Projection):
            return ""
        runs = projection.runs_per_month
        pico = change_pico(change.before_usage, change.after_usage)
        total = None if total is None or pico is None else total - pico
    return "" if runs is None else a_month(total, runs)
