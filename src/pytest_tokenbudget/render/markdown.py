"""GitHub-flavoured Markdown of a report: for the job summary and the pull-request comment.

Long lists are cut (a comment has a size limit and a 100,000-test suite must still render);
the full data stays in the JSON report.
"""

from __future__ import annotations

from typing import Sequence

from .. import fmt as _fmt
from ..report import ComparisonRecord, Report, breakdown, buckets, ranked, tests_only
from ..usage import Usage
from .text import bucket_what

MARKER = "<!-- pytest-tokenbudget -->"


def _code(text: object) -> str:
    """A table-safe inline code span (node ids may hold ``|`` or backticks)."""
    s = str(text).replace("|", "\\|").replace("\n", " ")
    fence = "``" if "`" in s else "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _bucket(nodeid: str) -> str:
    what = bucket_what(nodeid)
    return f"{_code(nodeid)} {_cell(what)}" if what else _code(nodeid)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


FIGURES = ("total_tokens", "input_tokens", "output_tokens", "calls", "cost_usd")


def _usage_row(label: str, u: Usage) -> list[str]:
    return [label, *_fmt.cells(u, FIGURES)]


def _more(lines: list[str], shown: int, total: int) -> None:
    if total > shown:
        lines.append(f"\n_... and {total - shown:,} more (see the JSON report)._")


def render_comparison_markdown(summary: ComparisonRecord, *, limit: int = 20) -> list[str]:
    """The baseline section: totals, regressions (with what grew), improvements, new, missing."""
    metric = summary.metric
    total = summary.total
    lines = [f"### Compared with the baseline (regression when {summary.rule or metric})", ""]
    b_use, a_use = total.before_usage.usage, total.after_usage.usage
    rows = []
    for key, label in (
        ("total_tokens", "tokens"),
        ("input_tokens", "input"),
        ("output_tokens", "output"),
        ("calls", "calls"),
        ("cost_usd", "cost"),
    ):
        fmt = _fmt.usd if key == "cost_usd" else _fmt.tokens
        rows.append(
            [
                label,
                fmt(getattr(b_use, key)),
                fmt(getattr(a_use, key)),
                _fmt.change(b_use, a_use, key),
            ]
        )
    lines += _table(["tests in both", "baseline", "this run", "change"], rows, {1, 2, 3})
    if summary.costs == "recorded":
        lines.append("")
        lines.append("_Costs as recorded in each file, not recomputed with one price table._")
    if total.regressed:
        lines += ["", f"**:x: The total regressed:** {_cell(total.message)}"]

    regressions = summary.regressions
    if not regressions:
        lines += ["", "**:white_check_mark: No regression.**"]
    else:
        lines += ["", f"#### :x: Regressions ({len(regressions)})", ""]
        rows = [
            [
                _code(c.nodeid),
                _fmt.figure(metric, c.before),
                _fmt.figure(metric, c.after),
                _fmt.pct(c.change_pct),
                _cell(", ".join(c.details)) or "-",
            ]
            for c in regressions[:limit]
        ]
        lines += _table(["test", "before", "after", "change", "what grew"], rows, {1, 2, 3})
        _more(lines, limit, len(regressions))

    improvements = summary.improvements
    if improvements:
        saved = f"{_fmt.tokens(summary.saved_tokens)} tokens"
        if summary.saved_usd is not None:
            saved += f", {_fmt.usd(summary.saved_usd)}"
        lines += [
            "",
            f"#### :chart_with_downwards_trend: Improvements ({len(improvements)}): saved {saved}",
            "",
        ]
        rows = [
            [
                _code(c.nodeid),
                _fmt.figure(metric, c.before),
                _fmt.figure(metric, c.after),
                _fmt.pct(c.change_pct),
                _fmt.usd(c.saved_usd) if c.saved_usd is not None else "-",
            ]
            for c in improvements[:limit]
        ]
        lines += _table(["test", "before", "after", "change", "saved"], rows, {1, 2, 3, 4})
        _more(lines, limit, len(improvements))
        lines += ["", "_Update the baseline to keep these gains._"]
    for ids, label in (
        (summary.new, "New tests (no baseline yet)"),
        (summary.missing, "Missing tests"),
    ):
        if ids:
            lines += ["", f"<details><summary>{label}: {len(ids)}</summary>", ""]
            lines += [f"- {_code(n)}" for n in ids[:limit]]
            _more(lines, limit, len(ids))
            lines += ["", "</details>"]
    return lines


def render_markdown(
    report: Report, comparison: ComparisonRecord | None = None, *, top: int = 10
) -> str:
    """The whole report; ``comparison`` defaults to the one stored in the report."""
    summary = comparison if comparison is not None else report.baseline
    regressed = bool(summary and summary.regressed)
    ok = report.passed and not regressed and not report.violations
    status = ":white_check_mark: passed" if ok else ":x: failed"
    lines = [MARKER, f"## Token usage: {status}", ""]
    lines += _table(
        ["", "tokens", "input", "output", "calls", "cost"],
        [_usage_row(f"this run ({len(tests_only(report.tests)):,} tests)", report.usage)],
        {1, 2, 3, 4, 5},
    )
    pricing = report.pricing
    if pricing:
        source = f"{pricing.get('source', '?')} {pricing.get('version', '')}".strip()
        lines += ["", f"_Prices: {_cell(source)}_"]
    if summary:
        lines += ["", *render_comparison_markdown(summary, limit=top * 2)]
    else:
        lines += ["", "_No baseline to compare with._"]

    if report.violations:
        lines += ["", f"### :x: Violations ({len(report.violations)})", ""]
        rows = [
            [_cell(v.kind), _code(v.nodeid) if v.nodeid else "run", _cell(v.message)]
            for v in report.violations[: top * 2]
        ]
        lines += _table(["kind", "test", "message"], rows, set())
        _more(lines, top * 2, len(report.violations))

    only = tests_only(report.tests)
    tests = [(n, u) for n, u in ranked({n: r.usage for n, r in only.items()}) if u]
    if tests:
        lines += ["", "### Top tests by tokens", ""]
        rows = [_usage_row(_code(n), u) for n, u in tests[:top]]
        lines += _table(
            ["test", "tokens", "input", "output", "calls", "cost"], rows, {1, 2, 3, 4, 5}
        )
        _more(lines, top, len(tests))
    outside = buckets(report.tests)
    if outside:
        lines += ["", "### In the run's totals, no test's figure", ""]
        rows = [_usage_row(_bucket(n), r.usage) for n, r in outside]
        lines += _table(
            ["bucket", "tokens", "input", "output", "calls", "cost"], rows, {1, 2, 3, 4, 5}
        )

    by_model = breakdown(report.tests, "model")
    if by_model:
        lines += ["", "### By model", ""]
        rows = [_usage_row(_code(m), u) for m, u in ranked(by_model)]
        lines += _table(
            ["model", "tokens", "input", "output", "calls", "cost"], rows, {1, 2, 3, 4, 5}
        )
    if report.notes:
        lines += ["", "### Notes", ""]
        lines += [f"- {_cell(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"
