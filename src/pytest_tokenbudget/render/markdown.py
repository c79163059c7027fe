"""GitHub-flavoured Markdown of a report: the job summary and the pull-request comment (pure).

Laid out as the best CI regression bots lay out theirs, for the people who decide on a pull
request: a one-line verdict with the change in tokens and dollars per run, the counts
(:func:`~pytest_tokenbudget.report.counts`, the numbers every view shows), the changed tests
biggest first with what grew, the gate, then everything else collapsed, and a footer naming the
baseline and the price table. ``max_chars`` keeps it within a size (a comment's 65,536
characters) however big the suite: the full per-test table is cut to fit. Every name and
message goes through :mod:`.mdtext`, so nothing from a report acts in the rendered page.
"""

from __future__ import annotations

import copy
from typing import Iterable

from msgspec import UnsetType

from .. import fmt as _fmt
from ..buckets import is_bucket
from ..projection import change_month, cost_pico, headline_month, monthly, run_change, runs_of
from ..report import (
    ChangeRecord,
    ComparisonRecord,
    Counts,
    Report,
    breakdown,
    buckets,
    counts,
    ranked,
    tests_only,
)
from ..usage import NO_OPERATION, Usage
from ..version import __version__
from .mdtext import code, table, text
from .text import bucket_what
from .verdict import reasons

__all__ = ["MARKER", "SUMMARY_LIMIT", "render_markdown"]

MARKER = "<!-- pytest-tokenbudget -->"
#: GitHub's job summary takes 1 MiB per step; a Markdown file is kept as small.
SUMMARY_LIMIT = 1_000_000
FIGURES = ("total_tokens", "input_tokens", "output_tokens", "calls", "cost_usd")
USAGE_HEADER = ("tokens", "input", "output", "calls", "cost")
_RIGHT = {1, 2, 3, 4, 5}


def _usage_row(label: str, u: Usage) -> list[str]:
    return [label, *_fmt.cells(u, FIGURES)]


def _more(shown: int, total: int, what: str = "") -> list[str]:
    if total <= shown:
        return []
    return ["", f"_… and {total - shown:,} more{what} (see the JSON report)._"]


# -- the top: verdict, counts, changed tests, gate ---------------------------------------------
def headline(report: Report, subject: str = "This run") -> str:
    """``🔺 This pull request raises token use by 12.4% (+3,412 tokens, +$0.0041 per run)``."""
    summary = report.baseline
    run = report.usage
    month = headline_month(report)
    tail = f", {month}" if month else ""
    if summary is None:
        cost = _fmt.usd(run.cost_usd) + tail
        lost = f", {_fmt.uncounted(run)}" if run.uncounted_calls else ""
        return (
            f"📊 {subject} used {run.total_tokens:,} tokens ({cost}) in {run.calls:,} "
            f"call{'s' if run.calls != 1 else ''}{lost}: no baseline to compare with"
        )
    before, after = summary.baseline_totals.usage, summary.current_totals.usage
    delta = after.total_tokens - before.total_tokens
    b_cost, a_cost = before.cost_usd, after.cost_usd
    money = "" if b_cost is None or a_cost is None else f", {_fmt.signed_usd(a_cost - b_cost)}"
    if delta == 0:
        cost = "" if a_cost is None else f", {_fmt.usd(a_cost)}"
        return (
            f"➖ {subject} does not change token use ({after.total_tokens:,} tokens{cost} per run"
            f"{tail})"
        )
    verb, icon = ("raises", "🔺") if delta > 0 else ("lowers", "🔽")
    if before.total_tokens == 0:
        return (
            f"{icon} {subject} {verb} token use from none to {after.total_tokens:,} tokens per run"
            f"{tail}"
        )
    pct = abs(delta) * 100 / before.total_tokens
    by = f"{pct:.1f}%" if round(pct, 1) else "less than 0.1%"
    return f"{icon} {subject} {verb} token use by {by} ({delta:+,} tokens{money} per run{tail})"


def counts_line(c: Counts) -> str:
    """``❌ **1 regressed** · ⚡ 2 improved · ✅ 41 unchanged · 🆕 1 new · ...``."""

    def part(icon: str, n: int, label: str, loud: bool = False) -> str:
        figure = f"{n:,} {label}"
        return f"{icon} **{figure}**" if loud and n else f"{icon} {figure}"

    parts = []
    if c.compared:
        parts.append(part("❌", c.regressed, "regressed", loud=True))
        if c.inconclusive:
            parts.append(part("⚠️", c.inconclusive, "inconclusive"))
        parts += [
            part("⚡", c.improved, "improved"),
            part("✅", c.unchanged, "unchanged"),
            part("🆕", c.new, "new"),
            part("🗑️", c.missing, "missing"),
        ]
    else:
        parts.append(f"🧪 {c.tests:,} test{'s' if c.tests != 1 else ''}")
    parts.append(part("💸", c.over_budget, "over budget", loud=True))
    return " · ".join(parts)


def _changed_rows(summary: ComparisonRecord, report: Report) -> list[tuple[float, list[str]]]:
    """(size of the change, row) of every changed test: regressed, inconclusive, improved,
    new."""
    metric = summary.metric
    rows = []

    def size(c: ChangeRecord) -> float:
        return abs((c.after or 0) - (c.before or 0))

    for c in summary.regressions:
        grew = text(", ".join(c.details)) if c.details else ""
        month = change_month(c)
        grew = f"{grew} · {month}" if grew and month else grew or month
        rows.append((size(c), _change_row("❌", c.nodeid, c.metric or metric, c, grew)))
    for c in summary.inconclusive:
        note = f"inconclusive: {c.metric or metric} within the noise"
        rows.append((size(c), _change_row("⚠️", c.nodeid, c.metric or metric, c, text(note))))
    for c in summary.improvements:
        saved = f"saved {_fmt.usd(c.saved_usd)}" if c.saved_usd is not None else ""
        month = change_month(c, saved=True)
        saved = f"{saved}, {month}" if saved and month else saved or month
        rows.append((size(c), _change_row("⚡", c.nodeid, c.metric or metric, c, saved)))
    for nodeid in summary.new:
        rec = report.tests.get(nodeid)
        if is_bucket(nodeid) or rec is None:  # a report of an earlier version compared them
            continue
        after = rec.usage.figure(metric)
        row = [f"🆕 {code(nodeid)}", "—", _fmt.figure(metric, after), "new", ""]
        rows.append((abs(after or 0), row))
    rows.sort(key=lambda item: -item[0])
    return rows


def _change_row(icon: str, nodeid: str, metric: str, c: ChangeRecord, note: str) -> list[str]:
    return [
        f"{icon} {code(nodeid)}",
        _fmt.figure(metric, c.before),
        _fmt.figure(metric, c.after),
        _fmt.pct(c.change_pct),
        note,
    ]


def changed_section(report: Report, limit: int) -> list[str]:
    """The changed tests, biggest change first, and the tests that did not run."""
    summary = report.baseline
    if summary is None:
        return []
    out = []
    rows = _changed_rows(summary, report)
    if rows:
        metrics = summary.metrics or [summary.metric]
        unit = "" if metrics == ["total_tokens"] else f" ({' or '.join(metrics)})"
        out += [
            "",
            *table(
                ["test", f"before{unit}", "after", "change", "what grew"],
                [row for _, row in rows[:limit]],
                {1, 2, 3},
            ),
        ]
        out += _more(limit, len(rows), " changed tests")
    missing = [n for n in summary.missing if not is_bucket(n)]
    if missing:
        shown = ", ".join(code(n, in_table=False) for n in missing[:limit])
        rest = f" and {len(missing) - limit:,} more" if len(missing) > limit else ""
        out += ["", f"🗑️ In the baseline, not in this run: {shown}{rest}"]
    if summary.environment:
        out += [
            "",
            f"🔧 Environment changed since the baseline: {text('; '.join(summary.environment))}",
        ]
    return out


def gate_section(report: Report, c: Counts, limit: int) -> list[str]:
    """``Gate: **failed**`` and why, one line per violation (regressions are in the table)."""
    if not c.violations:
        why = ""
        if c.accepted:
            found = _fmt.plural(c.regressions, "regression")
            why = f": the baseline was updated with this run, its {found} accepted"
        elif report.baseline is not None:
            why = f" — rule: {text(report.baseline.rule or report.baseline.metric)}"
        return ["", f"Gate: **passed**{why}"]
    lines = ["", f"Gate: **failed**: {text(', '.join(reasons(report))) or 'see below'}"]
    rule = report.baseline.rule if report.baseline is not None else ""
    if rule and c.regressions and not c.accepted:
        lines[-1] += f" — rule: {text(rule)}"
    listed = [v for v in report.violations if v.kind != "regression" or not v.nodeid]
    if listed:
        lines.append("")
        for v in listed[:limit]:
            where = code(v.nodeid, in_table=False) if v.nodeid else "run"
            lines.append(f"- {where}: {text(v.message)}")
        lines += _more(limit, len(listed), " violations")
    return lines


# -- the collapsed part: totals, every test, by model, by operation ------------------------------
def _totals_table(report: Report) -> list[str]:
    summary = report.baseline
    if summary is None:
        return table(["", *USAGE_HEADER], [_usage_row("this run", report.usage)], _RIGHT)
    before, after = summary.baseline_totals.usage, summary.current_totals.usage
    rows = [
        [
            label,
            *(_fmt.figure(key, getattr(u, key)) for u in (before, after)),
            _fmt.change(before, after, key),
        ]
        for key, label in _fmt.compared(before, after, FIGURES)
    ]
    runs = runs_of(report)
    if runs is not None:  # the cost row, projected to a month
        b, a = cost_pico(summary.baseline_totals), cost_pico(summary.current_totals)
        b_month, a_month = monthly(b, runs), monthly(a, runs)
        change = monthly(run_change(report), runs)
        rows.append(
            [
                f"cost a month ({runs:,} runs)",
                _fmt.usd(b_month),
                _fmt.usd(a_month),
                _fmt.signed_usd(change) if change is not None else "-",
            ]
        )
    return table(["run", "baseline", "this run", "change"], rows, {1, 2, 3})


def _breakdowns(report: Report) -> list[str]:
    out = []
    for by, title in (("model", "By model"), ("operation", "By operation")):
        rows = breakdown(report.tests, by)
        if not rows or (by == "operation" and set(rows) == {NO_OPERATION}):
            continue
        body = [_usage_row(code(name), u) for name, u in ranked(rows)]
        out += ["", f"#### {title}", "", *table([by, *USAGE_HEADER], body, _RIGHT)]
    return out


def _fitted(head: list[str], rows: Iterable[list[str]], total: int, room: int) -> list[str]:
    """``head`` and as many ``rows`` as fit in ``room`` characters, then how many were left."""
    out = list(head)
    used = sum(len(line) + 1 for line in out)
    shown = 0
    for row in rows:
        line = "| " + " | ".join(row) + " |"
        if used + len(line) + 1 > room - 200:
            break
        out.append(line)
        used += len(line) + 1
        shown += 1
    if shown < total:
        out += _more(shown, total, " tests")
    return out


def _buckets_table(report: Report) -> list[str]:
    """The usage in the run's totals that is no test's figure (``<session>``, ``<fixture
    NAME>``, ``<reruns>``): never compared, so never among the tests."""
    outside = buckets(report.tests)
    if not outside:
        return []
    rows = [_usage_row(_bucket(n), r.usage) for n, r in outside]
    title = "In the run's totals, no test's figure"
    return ["", f"#### {title}", "", *table(["bucket", *USAGE_HEADER], rows, _RIGHT)]


def _bucket(nodeid: str) -> str:
    what = bucket_what(nodeid)
    return f"{code(nodeid)} {text(what)}" if what else code(nodeid)


def details_section(report: Report, c: Counts, room: int) -> list[str]:
    """Everything else, collapsed: run totals and the buckets in them, every test (as many as
    fit), breakdowns."""
    tests = [(n, r.usage) for n, r in tests_only(report.tests).items() if r.usage]
    tests.sort(key=lambda kv: (-kv[1].total_tokens, kv[0]))
    title = f"All {c.tests:,} tests, by model and by operation"
    top = ["", f"<details><summary>{title}</summary>", "", *_totals_table(report)]
    top += _buckets_table(report)
    bottom = [*_breakdowns(report), "", "</details>"]
    fixed = sum(len(line) + 1 for line in top + bottom)
    head = ["", "#### Tests", "", *table(["test", *USAGE_HEADER], [], _RIGHT)]
    rows = (_usage_row(code(n), u) for n, u in tests)
    return top + _fitted(head, rows, len(tests), room - fixed) + bottom


def footer(report: Report, updated_for: str | None) -> str:
    """``<sub>Compared with `tokenbudget-baseline.json` (recorded at ...) · prices: ...</sub>``"""
    parts = []
    summary = report.baseline
    if summary is not None:
        where = code(summary.path, in_table=False) if isinstance(summary.path, str) else ""
        parts.append(f"Compared with the baseline {where}".rstrip() + _recorded(summary))
    else:
        parts.append("No baseline")
    pricing = report.pricing
    if pricing:
        source = f"{pricing.get('source', '?')} {pricing.get('version', '')}".strip()
        parts.append(f"prices: {text(source)}")
    parts.append(f"pytest-tokenbudget {__version__}")
    if updated_for:
        parts.append(f"updated for {code(updated_for[:12], in_table=False)}")
    return "<sub>" + " · ".join(parts) + "</sub>"


def _recorded(summary: ComparisonRecord) -> str:
    """`` (recorded at a1b2c3d on 2026-11-28, 5 runs)``, as much as the baseline says."""
    recorded = summary.recorded
    if isinstance(recorded, UnsetType):
        return ""
    parts = []
    if recorded.commit:
        parts.append(f"at {code(recorded.commit[:12], in_table=False)}")
    if recorded.date:
        parts.append(f"on {text(recorded.date)}")
    when = " ".join(parts)
    if recorded.runs:
        runs = f"{recorded.runs:,} run{'s' if recorded.runs != 1 else ''}"
        when = f"{when}, {runs}" if when else runs
    return f" (recorded {when})" if when else ""


def render_markdown(
    report: Report,
    comparison: ComparisonRecord | None = None,
    *,
    top: int = 10,
    max_chars: int = SUMMARY_LIMIT,
    subject: str = "This run",
    updated_for: str | None = None,
) -> str:
    """The whole report; ``comparison`` replaces the one stored in the report when given."""
    if comparison is not None:
        report = _with_comparison(report, comparison)
    c = counts(report)
    limit = max(top * 2, 1)
    lines = [MARKER, f"### {headline(report, subject)}", "", counts_line(c)]
    lines += changed_section(report, limit)
    lines += gate_section(report, c, limit)
    if report.notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {text(n)}" for n in report.notes[:limit]]
    end = ["", footer(report, updated_for)]
    used = sum(len(line) + 1 for line in lines + end)
    lines += details_section(report, c, max_chars - used)
    return "\n".join(lines + end) + "\n"


def _with_comparison(report: Report, comparison: ComparisonRecord) -> Report:
    shown = copy.copy(report)
    shown.baseline = comparison
    return shown
