"""Data-driven recommendations from a report, and the trend of a history file (pure).

Every recommendation quotes the figures it rests on, so a reader can check it against the
report; nothing here guesses at prices the table does not have.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..fmt import pct, some
from ..fmt import tokens as fmt_int
from ..fmt import usd as fmt_usd
from ..pricing import PriceTable
from ..projection import a_month, cost_pico, monthly, per_run
from ..records import TestRecord
from ..report import Report, breakdown, tests_only
from ..usage import EMPTY, NO_MODEL, NO_OPERATION, Usage

CACHEABLE_INPUT = 1024  # providers cache prompt prefixes from about this many tokens


@dataclass(frozen=True)
class Finding:
    kind: str
    text: str
    #: Dollars a change could save per run, where the data can say (for ordering).
    worth_usd: float = 0.0


def _tests(report: Report) -> dict[str, Usage]:
    return {k: v.usage for k, v in tests_only(report.tests).items()}


def _limits(rec: TestRecord) -> Mapping[str, Any]:
    return rec.budget.limits if rec.budget else {}


def caching(report: Report, pricer: PriceTable, runs: int | None = None) -> list[Finding]:
    """Models paying full price for input that repeated calls could read from the cache."""
    found = []
    for model, u in sorted(breakdown(report.tests, "model").items()):
        rates = pricer.rates(model)
        uncached = u.input_tokens - u.cache_read_tokens - u.cache_write_tokens
        if rates is None or not rates.input or not rates.cache_read or u.calls < 2:
            continue
        if uncached < CACHEABLE_INPUT * u.calls or u.cache_read_tokens > 0.5 * u.input_tokens:
            continue
        # if every call but the first read its input from the cache
        repeat = uncached * (u.calls - 1) // u.calls
        saved_pico = repeat * (rates.input - rates.cache_read)
        saved = saved_pico / 10**12
        read_share = u.cache_read_tokens / u.input_tokens
        month = f", {a_month(saved_pico, runs)}" if runs else ""
        found.append(
            Finding(
                "caching",
                f"{model}: {fmt_int(uncached)} of {fmt_int(u.input_tokens)} input tokens in "
                f"{fmt_int(u.calls)} calls were not cached ({read_share:.0%} read from cache); "
                f"cache reads cost {rates.cache_read / rates.input:.0%} of the "
                f"input rate, so a shared prompt prefix could save up to {fmt_usd(saved)} a run"
                f"{month}",
                saved,
            )
        )
    return found


def _costs(subject: str, pico: int | None, runs: int | None) -> str:
    """``; it costs $0.004 per run, about $3.60 a month at 900 runs`` ("" without ``runs``)."""
    if runs is None:
        return ""
    if pico is None:
        return "; cost unknown (a call is unpriced): no monthly projection"
    return f"; {subject} {'costs' if subject == 'it' else 'cost'} {per_run(pico, runs)}"


def concentration(report: Report, runs: int | None = None) -> list[Finding]:
    tests = _tests(report)
    total = report.usage.total_tokens
    if len(tests) < 4 or not total:
        return []
    top = sorted(tests.items(), key=lambda kv: -kv[1].total_tokens)[:3]
    share = sum(t.total_tokens for _, t in top) / total
    if share < 0.5:
        return []
    names = ", ".join(f"{n} ({fmt_int(t.total_tokens)})" for n, t in top)
    cost = _sum_cost(t for _, t in top)
    return [
        Finding(
            "concentration",
            f"3 of {len(tests)} tests use {share:.0%} of the run's {fmt_int(total)} tokens: "
            f"{names}; budget these first{_costs('they', cost, runs)}",
        )
    ]


def _sum_cost(usages: Iterable[Usage]) -> int | None:
    """The exact cost of ``usages`` together; None when any call is unpriced."""
    total = EMPTY
    for u in usages:
        total += u
    return cost_pico(total)


def loops(report: Report, many: int = 10, runs: int | None = None) -> list[Finding]:
    """Tests making many calls: agent loops that a max_calls budget would bound."""
    found = []
    for nodeid, t in sorted(_tests(report).items()):
        if t.calls >= many and "max_calls" not in _limits(report.tests[nodeid]):
            cap = _headroom(t.calls)
            found.append(
                Finding(
                    "loop",
                    f"{nodeid} makes {fmt_int(t.calls)} calls with no max_calls limit: "
                    f"@pytest.mark.token_budget(max_calls={cap}) stops a "
                    "runaway loop (with --tokenbudget-enforce, before it spends)"
                    + _bound(t, cap, runs),
                )
            )
    return found


def _bound(t: Usage, cap: int, runs: int | None) -> str:
    """What the test costs a month, and what the cap holds it under at its cost a call."""
    cost = cost_pico(t)
    text = _costs("it", cost, runs)
    if runs is None or cost is None:
        return text
    each = cost / t.calls / 10**12
    return (
        f"{text}; at {fmt_usd(each)} a call the cap holds it under "
        f"{a_month(cost * cap // t.calls, runs)}"
    )


def unbudgeted(report: Report, top: int = 5, runs: int | None = None) -> list[Finding]:
    """The biggest tests with no token limit, with a limit that leaves 25% headroom."""
    tests = [
        (n, t)
        for n, t in _tests(report).items()
        if t.total_tokens and "max_tokens" not in _limits(report.tests[n])
    ]
    tests.sort(key=lambda kv: (-kv[1].total_tokens, kv[0]))
    return [
        Finding(
            "budget",
            f"{n} uses {fmt_int(t.total_tokens)} tokens with no max_tokens: "
            f"@pytest.mark.token_budget({_headroom(t.total_tokens)}) fails it if it grows "
            f"by a quarter{_costs('it', cost_pico(t), runs)}",
        )
        for n, t in tests[:top]
    ]


def output_heavy(
    report: Report, pricer: PriceTable | None = None, runs: int | None = None
) -> list[Finding]:
    found = []
    for model, u in sorted(breakdown(report.tests, "model").items()):
        if u.calls and u.output_tokens > u.input_tokens and u.output_tokens >= 1000:
            rates = pricer.rates(model) if pricer is not None and runs else None
            rate = None if rates is None else rates.output
            cost = _costs("its output", None if rate is None else u.output_tokens * rate, runs)
            found.append(
                Finding(
                    "output",
                    f"{model}: output ({fmt_int(u.output_tokens)} tokens) exceeds input "
                    f"({fmt_int(u.input_tokens)}); output is the dearer side, so a max_tokens "
                    f"cap or a terser answer format pays most here{cost}",
                )
            )
    return found


def unpriced(report: Report) -> list[Finding]:
    models = sorted(m for m, u in breakdown(report.tests, "model").items() if u.unpriced_calls)
    found = []
    if NO_MODEL in models:
        models.remove(NO_MODEL)
        found.append(
            Finding("prices", "some calls were recorded without a model: pass record(model=...)")
        )
    if models:
        found.append(
            Finding(
                "prices",
                f"no price for {', '.join(models)}: costs are unknown (not $0); add "
                '[tool.tokenbudget.prices."MODEL"] with input/output USD per million tokens',
            )
        )
    return found


def uncounted(report: Report) -> list[Finding]:
    """Calls capture could not count: every figure of their tests is a lower bound."""
    tests = sorted(n for n, t in _tests(report).items() if t.uncounted_calls)
    calls = report.usage.uncounted_calls
    if not calls:
        return []
    where = (
        f" in {len(tests)} test{'s' if len(tests) != 1 else ''} ({some(tests)})" if tests else ""
    )
    return [
        Finding(
            "uncounted",
            f"{fmt_int(calls)} call{'s' if calls != 1 else ''}{where} could not be counted: "
            "the figures there are lower bounds (tokens and cost of those calls unknown) and "
            "budgets could not check them; the report's notes say why",
        )
    ]


def recommendations(report: Report, pricer: PriceTable, runs: int | None = None) -> list[Finding]:
    """What the report suggests, each quoting its figures; with ``runs`` (a month's runs),
    each with what it saves, costs or bounds in a month."""
    found = uncounted(report)
    found += sorted(caching(report, pricer, runs), key=lambda f: -f.worth_usd)
    found += concentration(report, runs)
    found += loops(report, runs=runs)
    found += output_heavy(report, pricer, runs)
    found += unpriced(report)
    found += unbudgeted(report, runs=runs)
    return found


# -- projected spend -------------------------------------------------------------------------------
def spend_lines(report: Report, runs: int, top: int = 10) -> list[str]:
    """What the run costs in a month of ``runs`` runs, by test, model and operation, biggest
    first, at the prices the report was made with (the costs it records)."""
    pricing = report.pricing
    prices = f"{pricing.get('source', '?')} {pricing.get('version', '')}".strip()
    run = cost_pico(report.usage)
    lines = [
        f"projected spend at {runs:,} runs a month (the report's prices: {prices}): "
        + (per_run(run, runs) if run is not None else a_month(None, runs))
    ]
    tables = (
        ("by test", _tests(report)),
        ("by model", breakdown(report.tests, "model")),
        ("by operation", breakdown(report.tests, "operation")),
    )
    for title, rows in tables:
        if not rows or (title == "by operation" and set(rows) == {NO_OPERATION}):
            continue
        lines.append(f"{title}:")
        lines += _spend_rows(rows, runs, top)
    return lines


def _spend_rows(rows: Mapping[str, Usage], runs: int, top: int) -> list[str]:
    """``  $0.405 a month  test_agent  ($0.00045 per run)``, biggest first, unknown last."""
    costs = [(name, cost_pico(u)) for name, u in rows.items() if u.calls or u.unpriced_calls]
    costs.sort(key=lambda item: (item[1] is None, -(item[1] or 0), item[0]))
    shown = [
        ("unknown", name, "a call is unpriced")
        if pico is None
        else (fmt_usd(monthly(pico, runs)), name, f"{fmt_usd(pico / 10**12)} per run")
        for name, pico in costs[:top]
    ]
    width = max((len(month) for month, _, _ in shown), default=0)
    out = [f"  {month:>{width}} a month  {name}  ({why})" for month, name, why in shown]
    if len(costs) > top:
        out.append(f"  ... and {len(costs) - top:,} more")
    return out


def _headroom(value: int) -> int:
    """1.25x rounded up to two significant digits: a limit a person would write."""
    target = value * 1.25
    step = 10 ** max(0, int(math.log10(target)) - 1)
    return int(math.ceil(target / step) * step)


# -- history --------------------------------------------------------------------------------------
def history_lines(runs: Sequence[Mapping[str, Any]], last: int = 20) -> list[str]:
    if not runs:
        return ["no runs recorded yet"]
    shown = runs[-last:]
    lines = [
        f"{'run':<25} {'tests':>6} {'tokens':>12} {'change':>8} {'calls':>7} {'cost':>12}  verdict"
    ]
    before: int | None = None
    if len(runs) > len(shown):
        before = runs[-len(shown) - 1]["totals"]["total_tokens"]
    for run in shown:
        t = run["totals"]
        change = pct(100 * (t["total_tokens"] - before) / before) if before else "-"
        lines.append(
            f"{run.get('created', '?'):<25} {run.get('tests', 0):>6,} {t['total_tokens']:>12,} "
            f"{change:>8} {t['calls']:>7,} {fmt_usd(t.get('cost_usd')):>12}  "
            f"{'passed' if run.get('passed') else 'FAILED'}"
        )
        before = t["total_tokens"]
    totals = [r["totals"]["total_tokens"] for r in runs]
    first, latest = totals[0], totals[-1]
    trend = pct(100 * (latest - first) / first) if first else "-"
    lines.append(
        f"trend over {len(runs)} runs: {first:,} -> {latest:,} tokens ({trend}); "
        f"min {min(totals):,}, median {statistics.median_low(totals):,}, max {max(totals):,}"
    )
    return lines
