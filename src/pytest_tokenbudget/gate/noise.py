"""The noise-aware verdict of one test: baseline samples against head samples (pure).

A figure's samples are judged on log values (``log(x + 1)``: totals are positive and right
skewed; the 1 keeps a zero finite). Per figure of a test:

- **No spread** (one baseline sample, or all equal: a cassette, the input of a fixed prompt):
  the fixed rule on the median head sample, exactly as the gate always judged one figure. A
  test whose figure does not vary in its baseline although most tests of its kind vary (an
  agent whose five recorded runs happened to make 4 calls each) is judged with its kind's
  spread instead: its calm baseline was luck, not a deterministic figure.
- **Spread**: a one-sided t-test of the head's mean log against the baseline's. The spread is
  the test's own, moderated by the spread pooled over the tests of its kind (single-call or
  multi-call tests) with Smyth's empirical Bayes (limma's ``fitFDist``): a suite of 5-sample
  baselines then judges each test with nearly the certainty of a known spread, and a test far
  noisier than the others keeps its own. False alarms are controlled per run: the level is
  ``RUN_ALPHA`` shared over every figure judged this way (Bonferroni).

Verdicts: ``regressed`` when the growth is significant at that level AND past the fixed rule
(``regression``, ``regression_min_tokens``: growth too small to matter never fails);
``inconclusive`` when it is past the rule and significant only at ``SCREEN`` (uncorrected): it
looks grown but the evidence is not there; ``improved`` when a drop is significant; else
``unchanged``. With confirmation (``confirm`` = K re-runs), a test goes on running while it is
``inconclusive`` (or, on a one-sample baseline, while its median is past the rule): evidence is
checked at the first and the last look only, each at half the level, so sequential stopping
never raises the false-alarm rate.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Sequence

from .stats import digamma, t_sf, trigamma, trigamma_inverse

__all__ = [
    "FIGURES",
    "IMPROVED",
    "INCONCLUSIVE",
    "REGRESSED",
    "RUN_ALPHA",
    "SCREEN",
    "UNCHANGED",
    "FigureJudgement",
    "Pool",
    "Prior",
    "TestJudgement",
    "judge_figure",
    "judge_test",
    "kind",
    "level",
    "past",
    "sample_values",
    "wants_more",
]

#: The figures a baseline keeps samples of (total tokens follow from input and output).
FIGURES = ("input_tokens", "output_tokens", "calls")
#: The share of unchanged runs the statistical verdicts may fail, whatever the suite's size.
RUN_ALPHA = 0.01
#: A test past the rule whose growth is this significant (uncorrected) is ``inconclusive``
#: and is confirmed; below it, its figure is within the noise.
SCREEN = 0.05
#: A figure without spread is judged with its kind's when at least this share of its kind vary.
VARYING_KIND = 0.5

REGRESSED = "regressed"
INCONCLUSIVE = "inconclusive"
IMPROVED = "improved"
UNCHANGED = "unchanged"
_ORDER = (REGRESSED, INCONCLUSIVE, IMPROVED, UNCHANGED)

Samples = Mapping[str, Sequence[int]]


def sample_values(samples: Samples, figure: str) -> list[int]:
    """One figure's samples; ``total_tokens`` is input + output, run by run."""
    if figure == "total_tokens":
        return [i + o for i, o in zip(samples["input_tokens"], samples["output_tokens"])]
    return list(samples[figure])


def kind(samples: Samples) -> str:
    """``multi`` for a test that makes several calls (an agent, a chain), else ``single``:
    the two kinds whose spread is pooled apart."""
    calls = samples.get("calls") or [0]
    return "multi" if statistics.median_low(calls) > 1 else "single"


def _logs(values: Sequence[int]) -> list[float]:
    return [math.log(v + 1) for v in values]


def _spread(values: Sequence[int]) -> bool:
    return len(values) >= 2 and min(values) != max(values)


def _sum_squares(logs: Sequence[float]) -> float:
    mean = math.fsum(logs) / len(logs)
    return math.fsum((x - mean) ** 2 for x in logs)


# -- the fixed rule ------------------------------------------------------------------------------
def past(before: int, after: int, pct: Fraction, min_tokens: int | None) -> bool:
    """The fixed rule, in integers: ``after > before * (1 + pct)`` and it grew by at least
    ``min_tokens`` (None: no floor, as for calls)."""
    if after <= before:
        return False
    if after * pct.denominator <= before * (pct.denominator + pct.numerator):
        return False
    return min_tokens is None or after - before >= min_tokens


def _dropped(before: int, after: int, min_tokens: int | None) -> bool:
    return after < before and (min_tokens is None or before - after >= min_tokens)


# -- the spread of a kind of test ----------------------------------------------------------------
@dataclass(frozen=True)
class Prior:
    """The spread (variance of log values) pooled over the tests of one kind, worth ``df``
    degrees of freedom (``inf``: as good as known; 0: none), and the share of those tests whose
    figure varies at all."""

    s2: float = 0.0
    df: float = 0.0
    varying: float = 0.0


def fit_prior(spreads: Sequence[tuple[float, int]], tests: int) -> Prior:
    """Smyth's moment estimate from (sample variance, degrees of freedom) of each varying test
    of a kind of ``tests`` tests; its weight is capped at the degrees of freedom it came from."""
    varying = len(spreads) / tests if tests else 0.0
    if len(spreads) < 3:
        return Prior(varying=varying)
    es = [math.log(s2) - digamma(d / 2) + math.log(d / 2) for s2, d in spreads]
    mean = math.fsum(es) / len(es)
    var = math.fsum((e - mean) ** 2 for e in es) / (len(es) - 1)
    expected = math.fsum(trigamma(d / 2) for _, d in spreads) / len(spreads)
    var -= expected
    total = float(sum(d for _, d in spreads))
    # tests differ in spread only when their variances scatter clearly more than sampling
    # alone scatters them (twice its standard error): else one chance scatter of a few
    # 5-sample baselines would throw most of the pooled evidence away
    if var <= 2 * expected * math.sqrt(2 / (len(es) - 1)):
        return Prior(math.exp(mean), total, varying)
    df0 = 2 * trigamma_inverse(var)
    s2 = math.exp(mean + digamma(df0 / 2) - math.log(df0 / 2))
    return Prior(s2, min(df0, total), varying)


class Pool:
    """The baseline's spread, per kind of test and per figure, and how many figures are judged
    statistically (what the run's false-alarm level is shared over)."""

    def __init__(self, baseline: Mapping[str, Samples], figures: Sequence[str]) -> None:
        self.figures = tuple(figures)
        gathered: dict[tuple[str, str], list[tuple[float, int]]] = {}
        counts: dict[str, int] = {}
        for samples in baseline.values():
            k = kind(samples)
            counts[k] = counts.get(k, 0) + 1
            for figure in self.figures:
                values = sample_values(samples, figure)
                if _spread(values):
                    s2 = _sum_squares(_logs(values)) / (len(values) - 1)
                    gathered.setdefault((k, figure), []).append((s2, len(values) - 1))
        self.priors = {
            (k, figure): fit_prior(gathered.get((k, figure), []), counts[k])
            for k in counts
            for figure in self.figures
        }
        #: Figures judged against a spread, by figure.
        self.judged_by = {
            figure: sum(1 for samples in baseline.values() if self.statistical(samples, figure))
            for figure in self.figures
        }
        self.judged = sum(self.judged_by.values())

    def fixed_figures(self, metrics: Sequence[str]) -> list[str]:
        """The ``metrics`` no test is judged on against a spread: what the total of the tests
        is judged on by the fixed rule (a total of noisy figures is as noisy as they are, and
        their tests are judged one by one)."""
        return [m for m in metrics if not self.judged_by.get(m)]

    def prior(self, samples: Samples, figure: str) -> Prior:
        return self.priors.get((kind(samples), figure), Prior())

    def statistical(self, samples: Samples, figure: str) -> bool:
        """Is this figure judged against a spread (else by the fixed rule)?"""
        values = sample_values(samples, figure)
        if _spread(values):
            return True
        prior = self.prior(samples, figure)
        return len(values) >= 2 and prior.df > 0 and prior.varying >= VARYING_KIND


def level(judged: int, confirm: int) -> float:
    """The level each look at one figure is tested at: the run's share over the ``judged``
    figures, halved when confirmation makes two looks (the first and the last)."""
    return RUN_ALPHA / max(judged, 1) / (2 if confirm else 1)


# -- one figure, one test ----------------------------------------------------------------------
@dataclass(frozen=True)
class FigureJudgement:
    figure: str
    verdict: str
    #: Judged against a spread (else by the fixed rule).
    statistical: bool
    before: int
    after: int
    #: One-sided p-value of growth (statistical figures only).
    p: float | None = None
    #: Another sample could change this verdict (confirmation goes on).
    open: bool = False


def _median_high(values: Sequence[int]) -> int:
    return int(statistics.median_high(values))


def _median_low(values: Sequence[int]) -> int:
    return int(statistics.median_low(values))


def judge_figure(
    figure: str,
    base: Sequence[int],
    head: Sequence[int],
    *,
    before: int,
    prior: Prior | None,
    alpha: float,
    pct: Fraction,
    min_tokens: int,
) -> FigureJudgement:
    """One figure: ``base`` samples (``before`` is the baseline's figure) against ``head``
    samples; ``prior`` None: judged by the fixed rule."""
    floor = None if figure == "calls" else min_tokens
    after = _median_low(head)
    if prior is None:
        grown = past(before, after, pct, floor)
        verdict = REGRESSED if grown else IMPROVED if _dropped(before, after, floor) else UNCHANGED
        # a one-sample baseline says nothing of the noise: a median past the rule is confirmed
        return FigureJudgement(figure, verdict, False, before, after, open=grown and len(base) < 2)
    lb, lh = _logs(base), _logs(head)
    n, m = len(lb), len(lh)
    mb, mh = math.fsum(lb) / n, math.fsum(lh) / m
    ss, d = _sum_squares(lb) + _sum_squares(lh), n + m - 2
    if math.isinf(prior.df):
        s2, df = prior.s2, math.inf
    elif prior.df > 0:
        s2, df = (prior.df * prior.s2 + ss) / (prior.df + d), prior.df + d
    else:
        s2, df = ss / d, float(d)
    se = math.sqrt(s2 * (1 / n + 1 / m))
    t = (mh - mb) / se if se > 0 else math.copysign(math.inf, mh - mb) if mh != mb else 0.0
    p_up, p_down = t_sf(t, df), t_sf(-t, df)
    centre_b, centre_h = round(math.exp(mb) - 1), round(math.exp(mh) - 1)
    grown = past(centre_b, centre_h, pct, floor) and mh > mb
    if grown and p_up <= alpha:
        verdict = REGRESSED
    elif grown and p_up <= SCREEN:
        verdict = INCONCLUSIVE
    elif p_down <= alpha and _dropped(centre_b, centre_h, floor):
        verdict = IMPROVED
    else:
        verdict = UNCHANGED
    return FigureJudgement(
        figure, verdict, True, _median_high(base), after, p_up, open=verdict == INCONCLUSIVE
    )


@dataclass(frozen=True)
class TestJudgement:
    __test__ = False  # not a pytest test class

    verdict: str
    figures: tuple[FigureJudgement, ...]

    @property
    def deciding(self) -> FigureJudgement:
        """The figure that gave the verdict (the first in the metrics' order)."""
        return next(f for f in self.figures if f.verdict == self.verdict)

    def open(self, first: bool) -> bool:
        """Another run of the test could change its verdict: confirm it. A growth significant
        at the first look settles it; at a later one it does not (only the last look's
        evidence counts, or stopping early would raise the false-alarm rate)."""

        def settles(f: FigureJudgement) -> bool:
            return f.verdict == REGRESSED and not f.open and (first or not f.statistical)

        if any(map(settles, self.figures)):
            return False
        return any(f.open or (f.statistical and f.verdict == REGRESSED) for f in self.figures)


def judge_test(
    base: Samples,
    head: Samples,
    before: Mapping[str, int],
    pool: Pool,
    *,
    alpha: float,
    pct: Fraction,
    min_tokens: int,
) -> TestJudgement:
    """A test's verdict on ``pool.figures``: the worst of its figures'. ``before``: the
    baseline's figures (its ``--stat`` figure, what the fixed rule compares with)."""
    out = []
    for figure in pool.figures:
        statistical = pool.statistical(base, figure)
        out.append(
            judge_figure(
                figure,
                sample_values(base, figure),
                sample_values(head, figure),
                before=before[figure],
                prior=pool.prior(base, figure) if statistical else None,
                alpha=alpha,
                pct=pct,
                min_tokens=min_tokens,
            )
        )
    verdict = min((f.verdict for f in out), key=_ORDER.index)
    return TestJudgement(verdict, tuple(out))


def wants_more(judgement: TestJudgement, runs: int, confirm: int) -> bool:
    """Run the test again? It ran ``runs`` times; ``confirm`` re-runs at most."""
    return runs < confirm + 1 and judgement.open(first=runs == 1)
