"""Plain-text view of a baseline comparison (the ``tokenbudget compare`` table).

Reads the comparison as the report stores it (:class:`~pytest_tokenbudget.report.ComparisonRecord`),
so a comparison can be shown again from a report file without the baseline.
"""

from __future__ import annotations

from typing import Sequence

from .. import fmt as _fmt
from ..projection import change_spend, saved_month
from ..report import ChangeRecord, ComparisonRecord


def _table(rows: Sequence[Sequence[str]], right: set[int], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _change_rows(summary: ComparisonRecord, changes: Sequence[ChangeRecord]) -> list[list[str]]:
    several = len(summary.metrics) > 1
    rows = [
        ["test", "figure", "before", "after", "change"]
        if several
        else ["test", "before", "after", "change"]
    ]
    for c in changes:
        b, a = c.before, c.after
        metric = c.metric or summary.metric
        if metric == "cost_usd" and isinstance(a, (int, float)) and isinstance(b, (int, float)):
            delta = _fmt.signed_usd(a - b)
        elif isinstance(a, int) and isinstance(b, int):
            delta = f"{a - b:+,}"
        else:
            delta = "-"
        rows.append(
            [
                c.nodeid,
                *([metric] if several else []),
                _fmt.figure(metric, b),
                _fmt.figure(metric, a),
                f"{delta} ({_fmt.pct(c.change_pct)})",
            ]
        )
    return rows


def render_comparison(summary: ComparisonRecord, *, limit: int = 20) -> str:
    """The full table: totals, every regression with what grew, improvements, new, missing."""
    lines = [f"tokenbudget compare: regression when {summary.rule or summary.metric}"]
    if summary.costs == "recorded":
        lines.append("  (costs as recorded in the files; not recomputed with one price table)")
    total = summary.total
    base_t, cur_t = summary.baseline_totals.usage, summary.current_totals.usage
    rows = [["", "baseline", "current", "change"]]
    b_use, a_use = total.before_usage.usage, total.after_usage.usage
    for key, label in _fmt.compared(b_use, a_use, ("total_tokens", "calls", "cost_usd")):
        fmt = _fmt.usd if key == "cost_usd" else _fmt.tokens
        rows.append(
            [
                f"{label} (tests in both)",
                fmt(getattr(b_use, key)),
                fmt(getattr(a_use, key)),
                _fmt.change(b_use, a_use, key),
            ]
        )
    rows.append(
        [
            "tokens (all tests)",
            _fmt.tokens(base_t.total_tokens),
            _fmt.tokens(cur_t.total_tokens),
            _fmt.change(base_t, cur_t, "total_tokens"),
        ]
    )
    lines += _table(rows, {1, 2, 3})
    if total.regressed:
        lines.append(f"  REGRESSION in total: {total.message}")

    regressions = summary.regressions
    lines.append("")
    lines.append(f"Regressions ({len(regressions)})" + (":" if regressions else ": none"))
    right = {2, 3, 4} if len(summary.metrics) > 1 else {1, 2, 3}
    if regressions:
        table = _table(_change_rows(summary, regressions), right)
        lines.append(table[0])
        for row, c in zip(table[1:], regressions):
            lines.append(row)
            if c.details:
                lines.append("      what grew: " + ", ".join(c.details))
    inconclusive = summary.inconclusive
    if inconclusive:
        lines.append("")
        lines.append(
            f"Inconclusive ({len(inconclusive)}): past the rule but within the baseline's noise "
            "(not failing; --tokenbudget-confirm=K re-runs them)"
        )
        lines += _table(_change_rows(summary, inconclusive[:limit]), right)
        if len(inconclusive) > limit:
            lines.append(f"  ... and {len(inconclusive) - limit:,} more")

    improvements = summary.improvements
    if improvements:
        lines.append("")
        lines.append(f"Improvements ({len(improvements)}, saved {_saved(summary)}):")
        lines += _table(_change_rows(summary, improvements[:limit]), right)
        if len(improvements) > limit:
            lines.append(f"  ... and {len(improvements) - limit:,} more")
        lines.append("  Refresh the baseline to lock them in: tokenbudget baseline update REPORT")
    for ids, label in ((summary.new, "New tests, no baseline"), (summary.missing, "Missing tests")):
        if ids:
            lines.append("")
            lines.append(f"{label} ({len(ids)}):")
            lines += [f"  {n}" for n in ids[:limit]]
            if len(ids) > limit:
                lines.append(f"  ... and {len(ids) - limit:,} more")
    if summary.unpriced:
        lines.append("")
        lines.append(f"Not compared on cost (unpriced model): {len(summary.unpriced)} test(s)")
    if summary.environment:
        lines.append("")
        lines.append(environment_line(summary))
    lines.append("")
    lines.append(verdict(summary))
    return "\n".join(lines) + "\n"


def _saved(summary: ComparisonRecord) -> str:
    """``1,200 tokens, $0.00027``: what the improvements saved."""
    saved = f"{_fmt.tokens(summary.saved_tokens)} tokens"
    if summary.saved_usd is not None:
        saved += f", {_fmt.usd(summary.saved_usd)}"
    month = saved_month(summary.improvements)
    return f"{saved} ({month})" if month else saved


def environment_line(summary: ComparisonRecord) -> str:
    """``environment changed since the baseline: openai 1.2.0 -> 3.0.1; ...``."""
    return "environment changed since the baseline: " + "; ".join(summary.environment)


def verdict(summary: ComparisonRecord) -> str:
    regressions = len(summary.regressions)
    total = summary.total.regressed
    unsure = len(summary.inconclusive)
    if not regressions and not total:
        return f"No regression ({unsure} inconclusive)." if unsure else "No regression."
    parts = []
    if regressions:
        parts.append(f"{regressions} test(s) regressed")
    if total:
        parts.append("the total regressed")
    also = f"; {unsure} inconclusive" if unsure else ""
    return "REGRESSION: " + " and ".join(parts) + also + "."


def summary_lines(summary: ComparisonRecord, *, limit: int = 5) -> list[str]:
    """Short lines for the terminal summary: each regression with what grew, then the rest."""
    lines = []
    total = summary.total
    if total.regressed:
        lines.append(f"regression in total: {total.message}{_spend(total)}")
    regressions = summary.regressions
    for c in regressions[:limit]:
        lines.append(f"regression: {c.message}{_spend(c)}")
    if len(regressions) > limit:
        lines.append(f"... and {len(regressions) - limit:,} more regressions")
    for c in summary.inconclusive[:limit]:
        lines.append(f"inconclusive (within the noise, not failing): {c.message}")
    if len(summary.inconclusive) > limit:
        lines.append(f"... and {len(summary.inconclusive) - limit:,} more inconclusive")
    improvements = summary.improvements
    if improvements:
        names = ", ".join(c.nodeid for c in improvements[:3])
        more = f" and {len(improvements) - 3:,} more" if len(improvements) > 3 else ""
        lines.append(
            f"improved: {len(improvements)} test(s) saved {_saved(summary)} ({names}{more}); "
            "update the baseline to keep the gain"
        )
    for ids, label in (
        (summary.new, "new tests (no baseline)"),
        (summary.missing, "missing from this run"),
    ):
        if ids:
            more = f" and {len(ids) - 3:,} more" if len(ids) > 3 else ""
            lines.append(f"{label}: {len(ids)} ({', '.join(ids[:3])}{more})")
    spend = "" if total.regressed else change_spend(total)  # else said with the regression
    if spend:
        lines.append(f"cost of the tests in both: {spend}")
    if summary.environment:
        lines.append(environment_line(summary))
    return lines


def _spend(change: ChangeRecord) -> str:
    """`` — +$0.004 per run, about $3.60 a month at 900 runs``; "" without runs_per_month."""
    spend = change_spend(change)
    return f" — {spend}" if spend else ""
