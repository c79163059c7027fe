"""One verdict per compared test, on every figure ``regression_metric`` names (pure).

Without samples anywhere (baselines of one run, old baselines) each figure is judged by the
fixed rule, exactly as before. Once the baseline keeps samples, the token and call figures are
judged by :mod:`.noise` (the fixed rule still, for a figure without spread); ``cost_usd`` is
always the fixed rule on the recorded or recomputed cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Sequence

from ..records import Figures, Samples, figures, sample_values
from ..report import ChangeRecord
from ..usage import Usage, exact_figure, pico_to_usd
from .explain import describe_change
from .noise import (
    FIGURES,
    IMPROVED,
    INCONCLUSIVE,
    REGRESSED,
    UNCHANGED,
    Pool,
    judge_test,
    level,
    past,
    wants_more,
)

#: The figures judged from samples (``cost_usd`` is judged through the fixed rule).
SAMPLED = ("total_tokens", "input_tokens", "output_tokens", "calls")
NEW, MISSING = "new", "missing"
TOTAL = "(total)"


def has_samples(rec: Figures) -> bool:
    return isinstance(getattr(rec, "samples", None), Samples)


@dataclass(frozen=True)
class Judged:
    """A test's verdict, the figure that gave it and that figure on both sides."""

    verdict: str
    metric: str
    before: int | None
    after: int | None
    #: Judged against a spread: its one-sided p-value of growth and the sample counts.
    p: float | None = None
    samples: tuple[int, int] | None = None


class NoiseGate:
    """The spread of the compared tests' baseline samples and the level that keeps false alarms
    at 1% per run; None where no baseline test has samples (every figure: the fixed rule)."""

    def __init__(
        self, baseline: Mapping[str, Figures], metrics: Sequence[str], confirm: int
    ) -> None:
        self.figures = tuple(m for m in metrics if m in SAMPLED)
        self.base = {nodeid: sample_values(rec) for nodeid, rec in baseline.items()}
        self.pool = Pool(self.base, self.figures)
        self.confirm = confirm
        self.alpha = level(self.pool.judged, confirm)

    @classmethod
    def of(
        cls,
        baseline: Mapping[str, Figures],
        current: Mapping[str, Figures],
        metrics: Sequence[str],
        confirm: int = 0,
    ) -> NoiseGate | None:
        """The gate of the tests on both sides, or None where no test has samples."""
        if not any(m in SAMPLED for m in metrics):
            return None
        sides = (baseline.values(), current.values())
        if not any(has_samples(rec) for side in sides for rec in side):
            return None
        common = {n: rec for n, rec in baseline.items() if n in current}
        return cls(common, metrics, confirm)


def looks_open(
    gate: NoiseGate,
    nodeid: str,
    old: Figures,
    runs: Sequence[Usage],
    pct: Fraction,
    min_tokens: int,
) -> bool:
    """Run the test again (``--tokenbudget-confirm``)? ``runs``: its attempts so far."""
    base = gate.base.get(nodeid) or sample_values(old)
    head = {name: [getattr(u, name) for u in runs] for name in FIGURES}
    judged = judge_test(
        base, head, _figures(old), gate.pool, alpha=gate.alpha, pct=pct, min_tokens=min_tokens
    )
    return wants_more(judged, len(runs), gate.confirm)


def _figures(old: Figures) -> dict[str, int]:
    """The baseline's figures the fixed rule compares with, by name."""
    out = {name: getattr(old, name) for name in FIGURES}
    out["total_tokens"] = old.input_tokens + old.output_tokens
    return out


def fixed(
    before: Usage, after: Usage, metrics: Sequence[str], pct: Fraction, min_tokens: int
) -> Judged:
    """Each figure by the fixed rule: regressed when any is past it, improved when none grew
    and one dropped by the floor."""
    dropped = None
    for metric in metrics:
        b, a = exact_figure(before, metric), exact_figure(after, metric)
        if b is None or a is None:
            continue
        floor = None if metric == "calls" else _floor_growth(before, after, metric)
        if a > b and past(b, a, pct, 0) and (floor is None or floor >= min_tokens):
            return Judged(REGRESSED, metric, b, a)
        if a < b and dropped is None and (floor is None or -floor >= min_tokens):
            dropped = Judged(IMPROVED, metric, b, a)
    return dropped or Judged(UNCHANGED, metrics[0] if metrics else "", None, None)


def _floor_growth(before: Usage, after: Usage, metric: str) -> int:
    """The growth the floor applies to: the figure's own tokens, total tokens for a cost."""
    figure = "total_tokens" if metric == "cost_usd" else metric
    grown: int = getattr(after, figure) - getattr(before, figure)
    return grown


def judge(
    gate: NoiseGate | None,
    nodeid: str,
    old: Figures,
    new: Figures,
    before: Usage,
    after: Usage,
    metrics: Sequence[str],
    pct: Fraction,
    min_tokens: int,
) -> Judged:
    """The verdict of one test present on both sides."""
    if gate is None:
        return fixed(before, after, metrics, pct, min_tokens)
    base = gate.base.get(nodeid) or sample_values(old)
    head = sample_values(new)
    noisy = judge_test(
        base, head, _figures(old), gate.pool, alpha=gate.alpha, pct=pct, min_tokens=min_tokens
    )
    rest = [m for m in metrics if m not in gate.figures]
    other = fixed(before, after, rest, pct, min_tokens) if rest else None
    ranked = [noisy.verdict] + ([other.verdict] if other else [])
    order = (REGRESSED, INCONCLUSIVE, IMPROVED, UNCHANGED)
    worst = min(ranked, key=order.index)
    if other is not None and other.verdict == worst and worst != noisy.verdict:
        return other
    f = noisy.deciding
    samples = (len(base["calls"]), len(head["calls"])) if f.statistical else None
    return Judged(worst, f.figure, f.before, f.after, f.p, samples)


@dataclass(frozen=True)
class TestChange:
    """One test's figures on both sides and, for a regression, what grew."""

    __test__ = False

    nodeid: str
    metric: str
    before: Usage
    after: Usage
    details: tuple[str, ...] = ()
    #: The figures judged on samples (the baseline's upper median, the head's lower median),
    #: with the one-sided p-value and sample counts; None: the records' own figures.
    sampled: Judged | None = None

    @property
    def before_value(self) -> int | float | None:
        if self.sampled is not None:
            return self.sampled.before
        return self.before.figure(self.metric)

    @property
    def after_value(self) -> int | float | None:
        if self.sampled is not None:
            return self.sampled.after
        return self.after.figure(self.metric)

    def exact(self) -> tuple[int | None, int | None]:
        """Both sides' figure as exact integers (a cost in picodollars)."""
        if self.sampled is not None:
            return self.sampled.before, self.sampled.after
        return exact_figure(self.before, self.metric), exact_figure(self.after, self.metric)

    @property
    def change_pct(self) -> float | None:
        b, a = self.exact()
        if b is None or a is None or b == 0:
            return None
        return (a - b) * 100 / b

    @property
    def message(self) -> str:
        label = "total of the tests in both" if self.nodeid == TOTAL else self.nodeid
        if self.sampled is not None and self.sampled.samples is not None:
            n, m = self.sampled.samples
            change = (
                f"{self.metric} {self.before_value:,} -> {self.after_value:,} "
                f"(medians of {n} baseline and {m} run sample{'s' if m != 1 else ''}, "
                f"p = {self.sampled.p:.2g})"
            )
        else:
            change = describe_change(self.metric, self.before, self.after)
        text = f"{label}: {change}"
        return text + (": " + ", ".join(self.details) if self.details else "")

    def record(self) -> ChangeRecord:
        """This change as the report stores it."""
        return ChangeRecord(
            nodeid=self.nodeid,
            metric=self.metric,
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
