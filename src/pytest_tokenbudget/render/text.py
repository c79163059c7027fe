"""Plain-text summary of a report (the terminal's ``tokenbudget`` section; pure)."""

from __future__ import annotations

from typing import Mapping

from ..buckets import CONFIRMATION_BUCKET, FIXTURE_BUCKET, RERUNS_BUCKET, SESSION_BUCKET
from ..fmt import tokens as fmt_int
from ..fmt import uncounted
from ..fmt import usd as fmt_usd
from ..gate.budget import LIMITS, Limits, Verdict
from ..projection import run_spend
from ..report import Report, breakdown, buckets, ranked, tests_only, tests_with_usage
from ..usage import NO_OPERATION, Usage

TOP_TESTS = 10


def fmt_cost(usage: Usage) -> str:
    """``$0.0123``; ``unpriced (2 calls)`` when a model has no price."""
    cost = usage.cost_usd
    if cost is not None:
        return fmt_usd(cost)
    unpriced = usage.unpriced_calls
    return f"unpriced ({unpriced} call{'s' if unpriced != 1 else ''})"


def describe(usage: Usage) -> str:
    """``12,345 tokens (input 10,000 incl. 2,000 cache read, output 2,345) in 14 calls, $0.01``."""
    parts = [f"input {fmt_int(usage.input_tokens)}"]
    cache = [
        f"{fmt_int(value)} {label}"
        for value, label in (
            (usage.cache_read_tokens, "cache read"),
            (usage.cache_write_tokens, "cache write"),
        )
        if value
    ]
    if cache:
        parts[0] += " incl. " + ", ".join(cache)
    output = f"output {fmt_int(usage.output_tokens)}"
    if usage.reasoning_tokens:
        output += f" incl. {fmt_int(usage.reasoning_tokens)} reasoning"
    parts.append(output)
    calls = usage.calls
    text = (
        f"{fmt_int(usage.total_tokens)} tokens ({', '.join(parts)}) "
        f"in {fmt_int(calls)} call{'s' if calls != 1 else ''}, {fmt_cost(usage)}"
    )
    if usage.refused_calls:
        text += f", {fmt_int(usage.refused_calls)} refused"
    if usage.uncounted_calls:
        text += f", {uncounted(usage)}"
    return text


def bucket_what(nodeid: str) -> str:
    """What a bucket holds (``outside tests`` for ``<session>``); "" when its id says it."""
    fixture = FIXTURE_BUCKET.split("{}")[0]
    if nodeid == SESSION_BUCKET:
        return "outside tests"
    if nodeid == RERUNS_BUCKET:
        return "earlier attempts of rerun tests"
    if nodeid == CONFIRMATION_BUCKET:
        return "extra runs confirming tests that looked regressed"
    if nodeid.startswith(fixture):
        return f"fixture {nodeid[len(fixture) : -1]}, wider than a test"
    return ""


def bucket_label(nodeid: str) -> str:
    """``outside tests (<session>)``."""
    what = bucket_what(nodeid)
    return f"{what} ({nodeid})" if what else nodeid


def _table(title: str, rows: Mapping[str, Usage], limit: int, show_all: str) -> list[str]:
    """The ``limit`` biggest rows (0: all of them), and how many more (``show_all`` lists them)."""
    ordered = ranked(rows)
    return _rows(title, ordered[:limit] if limit else ordered, len(ordered), show_all)


def _rows(title: str, shown: list[tuple[str, Usage]], count: int, show_all: str) -> list[str]:
    """The rows ``shown`` of a table of ``count`` rows ranked biggest first."""
    lines = [f"{title}:"]
    width = max(len(fmt_int(u.total_tokens)) for _, u in shown)
    for name, usage in shown:
        calls = usage.calls
        lost = f", {uncounted(usage)}" if usage.uncounted_calls else ""
        lines.append(
            f"  {fmt_int(usage.total_tokens):>{width}} tokens  {name}  "
            f"({fmt_int(calls)} call{'s' if calls != 1 else ''}, {fmt_cost(usage)}{lost})"
        )
    if count > len(shown):
        lines.append(f"  ... and {count - len(shown)} more ({show_all} lists all)")
    return lines


def summary_lines(
    report: Report,
    *,
    top: int = TOP_TESTS,
    show_all: str = "--tokenbudget-top=0",
    breakdowns: tuple[Mapping[str, Usage], Mapping[str, Usage]] | None = None,
) -> list[str]:
    """The report's summary. ``breakdowns``: the run's usage by model and by operation when
    the caller holds them in memory (the plugin: the same sums, without decoding each record's
    ``by_operation``); read from the report's records otherwise."""
    tests = report.tests
    lines = [f"run total: {describe(report.usage)}"]
    spend = run_spend(report)
    if spend:
        lines.append(spend)
    for nodeid, rec in buckets(tests):
        lines.append(f"{bucket_label(nodeid)}: {describe(rec.usage)}")
    real_tests = tests_with_usage(tests)  # ranked as ``ranked`` ranks: biggest first, by id
    if real_tests:
        title = f"top tests by tokens ({len(real_tests)} with usage)"
        shown = real_tests[:top] if top else real_tests  # only these are read as Usage
        lines += _rows(title, [(n, rec.usage) for n, rec in shown], len(real_tests), show_all)
    if breakdowns is None:
        breakdowns = (breakdown(tests, "model"), breakdown(tests, "operation"))
    by_model, by_operation = breakdowns
    if by_model:
        lines += _table("by model", by_model, top, show_all)
    if set(by_operation) - {NO_OPERATION}:
        lines += _table("by operation", by_operation, top, show_all)
    pricing = report.pricing
    if pricing.get("source"):
        lines.append(f"prices: {pricing['source']} {pricing.get('version', '')}".rstrip())
    for note in report.notes:
        lines.append(f"note: {note}")
    return lines


def budget_lines(report: Report, totals: Usage, limits: Limits, warn_only: bool) -> list[str]:
    """Run budget use, violations and tests near their budget, for the summary.

    ``totals`` is the run's own Usage: unlike the report's, it keeps the cost of the priced
    calls when some are unpriced, which a cost budget is checked on.
    """
    lines = []
    for name, limit in limits.values.items():
        verdict = Verdict(name, limit, getattr(totals, LIMITS[name][0]), "", exceeded=False)
        share = verdict.actual / limit
        lines.append(
            f"run budget {name}: {verdict.figure(verdict.actual)} of "
            f"{verdict.figure(limit)} ({share:.0%})"
        )
    violations = [v for v in report.violations if v.kind != "regression"]
    if violations:
        heading = "budget violations (warn-only: not failing)" if warn_only else "budget violations"
        lines.append(f"{heading}:")
        lines += [f"  {v.nodeid or 'run'}: {v.message}" for v in violations]
    budgets = [(nodeid, rec.budget) for nodeid, rec in report.tests.items() if rec.budget]
    near = [(nodeid, budget.near) for nodeid, budget in budgets if budget.near]
    if near:
        lines.append("near budget:")
        lines += [f"  {nodeid}: {'; '.join(items)}" for nodeid, items in near]
    notes = [f"  {nodeid}: {budget.note}" for nodeid, budget in budgets if budget.note]
    if notes:
        lines.append("limits not fully checked:")
        lines += notes
    return lines


def render_report(report: Report, *, top: int = TOP_TESTS) -> str:
    """The terminal summary's content for a saved report (``tokenbudget report``)."""
    from .compare_text import summary_lines as comparison_lines
    from .compare_text import verdict
    from .verdict import gate_verdict

    lines = [f"tokenbudget report: {len(tests_only(report.tests)):,} tests"]
    lines += summary_lines(report, top=top, show_all="--top 0")
    summary = report.baseline
    if summary:
        lines.append(f"baseline: {verdict(summary)} (rule: {summary.rule})")
        shown = top or len(summary.regressions)
        lines += [f"  {line}" for line in comparison_lines(summary, limit=shown)]
    # regressions are listed (with what grew) in the comparison above
    lines += [
        f"violation: {v.nodeid or 'run'}: {v.message}"
        for v in report.violations
        if v.kind != "regression"
    ]
    lines.append(gate_verdict(report, warn_only=False, baseline_updated=False).text)
    return "\n".join(lines) + "\n"
