"""The noise-aware gate's pure parts: special functions, per-figure verdicts, pooled spread,
confirmation looks, baselines that keep samples and verdicts through ``compare``."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tokenbudget.cli import main as tokenbudget
from pytest_tokenbudget.files.baseline import (
    baseline_from_report,
    baseline_from_reports,
    load_baseline,
    report_from_dict,
)
from pytest_tokenbudget.gate.noise import (
    INCONCLUSIVE,
    REGRESSED,
    UNCHANGED,
    Pool,
    Prior,
    judge_figure,
    judge_test,
    level,
    past,
    wants_more,
)
from pytest_tokenbudget.gate.regression import compare
from pytest_tokenbudget.gate.stats import digamma, normal_sf, t_sf, trigamma, trigamma_inverse
from reportfactory import report_doc, simple

TENTH = Fraction(1, 10)


def samples(outputs: list[int], inputs: int = 100, calls: int = 1) -> dict[str, list[int]]:
    n = len(outputs)
    return {"input_tokens": [inputs] * n, "output_tokens": outputs, "calls": [calls] * n}


# -- special functions ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("t", "df", "expected"),
    [(2.0, 10, 0.036694017385), (5.0, 3, 0.007696219037), (1.0, 1, 0.25), (0.0, 7, 0.5)],
)
def test_t_tail_matches_tables(t: float, df: float, expected: float) -> None:
    assert t_sf(t, df) == pytest.approx(expected, rel=1e-9)
    assert t_sf(-t, df) == pytest.approx(1 - expected, rel=1e-9)


def test_t_tail_tends_to_the_normal() -> None:
    assert t_sf(3.0, math.inf) == normal_sf(3.0)
    assert t_sf(3.0, 1e6) == pytest.approx(normal_sf(3.0), rel=1e-4)


def test_digamma_trigamma_known_values() -> None:
    assert digamma(1.0) == pytest.approx(-0.5772156649015329, rel=1e-10)
    assert trigamma(1.0) == pytest.approx(math.pi**2 / 6, rel=1e-9)
    assert trigamma(0.5) == pytest.approx(math.pi**2 / 2, rel=1e-9)


@given(st.floats(min_value=0.05, max_value=500))
def test_trigamma_inverse_inverts(x: float) -> None:
    assert trigamma_inverse(trigamma(x)) == pytest.approx(x, rel=1e-6)


# -- the fixed rule, as it always was ------------------------------------------------------------
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 100), st.integers(0, 500))
def test_past_is_the_fixed_rule_in_exact_integers(b: int, a: int, pct: int, floor: int) -> None:
    ratio = Fraction(pct, 100)
    expected = a > b * (1 + ratio) and a - b >= floor
    assert past(b, a, ratio, floor) is expected


def test_a_figure_without_spread_is_the_fixed_rule_on_one_sample() -> None:
    # input of a fixed prompt: +20% fails on one sample, every time
    grown = judge_figure(
        "input_tokens",
        [1000] * 5,
        [1200],
        before=1000,
        prior=None,
        alpha=1e-4,
        pct=TENTH,
        min_tokens=0,
    )
    assert (grown.verdict, grown.statistical, grown.open) == (REGRESSED, False, False)
    # one baseline sample says nothing of the noise: a median past the rule is confirmed
    single = judge_figure(
        "output_tokens",
        [100],
        [150],
        before=100,
        prior=None,
        alpha=1e-4,
        pct=TENTH,
        min_tokens=0,
    )
    assert (single.verdict, single.open) == (REGRESSED, True)
    under_floor = judge_figure(
        "output_tokens",
        [100],
        [150],
        before=100,
        prior=None,
        alpha=1e-4,
        pct=TENTH,
        min_tokens=51,
    )
    assert under_floor.verdict == UNCHANGED


# -- judged against a spread ---------------------------------------------------------------------
def test_known_spread_is_a_z_test_on_log_values() -> None:
    base, head = [100] * 4, [200]
    prior = Prior(s2=0.1**2, df=math.inf, varying=1.0)
    judged = judge_figure(
        "output_tokens",
        base,
        head,
        before=100,
        prior=prior,
        alpha=1e-4,
        pct=TENTH,
        min_tokens=0,
    )
    z = (math.log(201) - math.log(101)) / (0.1 * math.sqrt(1 / 4 + 1))
    assert judged.p == pytest.approx(normal_sf(z), rel=1e-9)
    assert judged.verdict == REGRESSED


def test_growth_inside_the_noise_is_unchanged_past_the_rule_but_unsure_inconclusive() -> None:
    base = {"a": samples([100, 110, 95, 105, 100]), "b": samples([200, 220, 190, 210, 205])}
    base["c"] = samples([300, 320, 290, 310, 305])
    pool = Pool(base, ("input_tokens", "output_tokens"))
    assert pool.judged == 3  # the inputs have no spread: the fixed rule
    alpha = level(pool.judged, 0)

    def verdict(name: str, head: list[int]) -> str:
        before = {"input_tokens": 100, "output_tokens": sorted(base[name]["output_tokens"])[2]}
        before.update(calls=1, total_tokens=0)
        return judge_test(
            base[name], samples(head), before, pool, alpha=alpha, pct=TENTH, min_tokens=0
        ).verdict

    assert verdict("a", [104]) == UNCHANGED
    assert verdict("b", [230]) == INCONCLUSIVE
    assert verdict("c", [600]) == REGRESSED
    assert verdict("a", [60]) == "improved"


def test_a_calm_agent_among_varying_ones_is_judged_with_their_spread() -> None:
    rng = random.Random(5)
    base = {
        f"agent{i}": samples(
            [rng.randint(300, 500)] * 0 + [rng.choice((3, 4, 5)) * 100 for _ in range(5)], calls=4
        )
        for i in range(10)
    }
    for name in base:
        base[name]["input_tokens"] = [o * 10 for o in base[name]["output_tokens"]]
    base["calm"] = samples([400] * 5, inputs=4000, calls=4)
    pool = Pool(base, ("input_tokens",))
    assert pool.statistical(base["calm"], "input_tokens")
    before = {"input_tokens": 4000, "output_tokens": 400, "calls": 4, "total_tokens": 4400}
    head = {"input_tokens": [5000], "output_tokens": [500], "calls": [5]}  # one call more
    judged = judge_test(
        base["calm"], head, before, pool, alpha=level(pool.judged, 0), pct=TENTH, min_tokens=0
    )
    assert judged.verdict != REGRESSED


def test_confirmation_decides_at_the_first_and_last_look_only() -> None:
    base = {"a": samples([100, 110, 95, 105, 100]), "b": samples([200, 220, 190, 210, 205])}
    base["c"] = samples([300, 320, 290, 310, 305])
    pool = Pool(base, ("output_tokens",))
    alpha = level(pool.judged, 3)
    assert alpha == pytest.approx(0.01 / 3 / 2)
    before = {"input_tokens": 100, "output_tokens": 305, "calls": 1, "total_tokens": 405}

    def judged(head: list[int]) -> Any:
        return judge_test(
            base["c"], samples(head), before, pool, alpha=alpha, pct=TENTH, min_tokens=0
        )

    assert not wants_more(judged([600]), 1, 3)  # clear at the first look: settled
    assert wants_more(judged([345]), 1, 3)  # inconclusive: run again
    grown = judged([345, 600])
    assert grown.verdict == REGRESSED
    assert wants_more(grown, 2, 3)  # only the last look counts
    assert not wants_more(judged([345, 600, 620, 590]), 4, 3)
    assert not wants_more(judged([345, 300]), 2, 3)  # back within the noise: stop
    assert not wants_more(judged([345]), 1, 0)  # no confirmation


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_unchanged_suites_rarely_fail(seed: int) -> None:
    """A 40-test suite with a 5-run baseline and log-normal noise: at 1% per run, a head run
    from the same distribution fails at most about 1 time in 100; 30 suites never need more
    than one."""
    rng = random.Random(seed)
    medians = [rng.randint(50, 500) for _ in range(40)]

    def run(m: int) -> int:
        return round(m * math.exp(0.3 * rng.gauss(0, 1)))

    base = {str(i): samples([run(m) for _ in range(5)]) for i, m in enumerate(medians)}
    pool = Pool(base, ("output_tokens",))
    alpha = level(pool.judged, 0)
    regressed = 0
    for i, m in enumerate(medians):
        values = base[str(i)]["output_tokens"]
        before = {"input_tokens": 100, "output_tokens": max(values), "calls": 1}
        judged = judge_test(
            base[str(i)],
            samples([run(m)]),
            before | {"total_tokens": 0},
            pool,
            alpha=alpha,
            pct=TENTH,
            min_tokens=0,
        )
        regressed += judged.verdict == REGRESSED
    assert regressed <= 1


# -- baselines that keep samples -----------------------------------------------------------------
def reports(outputs: list[int]) -> list[Any]:
    return [report_from_dict(report_doc({"t::a": simple(100, o)})) for o in outputs]


def test_several_runs_keep_their_samples_one_run_none() -> None:
    one = baseline_from_reports(reports([100]))
    assert one.tests["t::a"].samples is msgspec.UNSET  # its own figures are its one sample
    five = baseline_from_reports(reports([100, 110, 95, 105, 100]), "median")
    rec = five.tests["t::a"]
    assert rec.output_tokens == 100
    assert rec.samples.n == 5
    assert rec.samples.output_tokens == [100, 110, 95, 105, 100]
    many = baseline_from_reports(reports(list(range(100, 125))))
    assert many.tests["t::a"].samples.output_tokens == list(range(105, 125))  # newest 20


def test_append_adds_a_runs_samples_to_the_tests_the_baseline_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "r1.json"
    first.write_text(json.dumps(report_doc({"t::a": simple(100, 100), "t::b": simple(5, 5)})))
    second = tmp_path / "r2.json"
    second.write_text(json.dumps(report_doc({"t::a": simple(100, 130), "t::new": simple(1)})))
    path = str(tmp_path / "b.json")
    assert tokenbudget(["baseline", "update", "--append", str(second), "--baseline", path]) == 2
    assert "no baseline to append samples to" in capsys.readouterr().err
    assert tokenbudget(["baseline", "update", str(first), "--baseline", path]) == 0
    assert tokenbudget(["baseline", "update", "--append", str(second), "--baseline", path]) == 0
    assert "samples of 1 test(s)" in capsys.readouterr().out
    baseline = load_baseline(path)
    assert baseline is not None
    assert set(baseline.tests) == {"t::a", "t::b"}  # the new test is left out
    a = baseline.tests["t::a"]
    assert a.output_tokens == 100  # the figure stays
    assert (a.samples.n, a.samples.output_tokens) == (2, [100, 130])
    for _ in range(25):
        tokenbudget(["baseline", "update", "--append", str(second), "--baseline", path])
    kept = load_baseline(path)
    assert kept is not None
    assert kept.tests["t::a"].samples.output_tokens == [130] * 20


def test_an_old_baseline_without_samples_gates_exactly_as_before() -> None:
    old = baseline_from_report(report_from_dict(report_doc({"t::a": simple(1000, 100)})))
    grown = report_from_dict(report_doc({"t::a": simple(1000, 250)}))
    result = compare(old, grown, metric="input_tokens,output_tokens")
    assert result.judged == 0
    assert [c.metric for c in result.regressions] == ["output_tokens"]
    assert result.regressions[0].message.startswith("t::a: 100 -> 250 output tokens (+150%)")
    assert result.record().tests["t::a"].verdict == REGRESSED


def test_verdicts_of_every_test_in_the_report() -> None:
    five = baseline_from_reports(
        [
            report_from_dict(report_doc({"t::a": simple(100, o), "t::gone": simple(1)}))
            for o in (100, 110, 95, 105, 100)
        ],
        "median",
    )
    head = report_from_dict(report_doc({"t::a": simple(100, 104), "t::new": simple(1)}))
    record = compare(five, head, metric="input_tokens,output_tokens").record()
    assert {n: v.verdict for n, v in record.tests.items()} == {
        "t::a": UNCHANGED,
        "t::new": "new",
        "t::gone": "missing",
    }
