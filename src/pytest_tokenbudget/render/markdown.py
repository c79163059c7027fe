"""GitHub-flavoured Markdown of a report: for the job summary and the pull-request comment.

Long lists are cut (a comment has a size limit and a 100,000-test suite must still render);
the full data stays in the JSON report.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .. import fmt as _fmt
from ..files.baseline import Report
from ..usage import Usage

MARKER = "<!-- pytest-tokenbudget -->"


def _code(text: object) -> str:
    """A table-safe inline code span (node ids may hold ``|`` or backticks)."""
    s = str(text).replace("|", "\\|").replace("\n", " ")
    fence = "``" if "`" in s else "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _usage_row(label: str, u: Mapping[str, Any]) -> list[str]:
    return [
        label,
        _fmt.tokens(u.get("total_tokens")),
        _fmt.tokens(u.get("input_tokens")),
        _fmt.tokens(u.get("output_tokens")),
        _fmt.tokens(u.get("calls")),
        _fmt.usd(u.get("cost_usd")),
    ]


def _more(lines: list[str], shown: int, total: int) -> None:
    if total > shown:
        lines.append(f"\n_... and {total - shown:,} more (see the JSON report)._")


def render_comparison_markdown(summary: Mapping[str, Any], *, limit: int = 20) -> list[str]:
    """The baseline section: totals, regressions (with what grew), improvements, new, missing."""
    metric = str(summary.get("metric", "total_tokens"))
    total = summary.get("total") or {}
    lines = [f"### Compared with the baseline (regression when {summary.get('rule', metric)})", ""]
    b_use, a_use = total.get("before_usage") or {}, total.get("after_usage") or {}
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
            [label, fmt(b_use.get(key)), fmt(a_use.get(key)), _fmt.change(b_use, a_use, key)]
        )
    lines += _table(["tests in both", "baseline", "this run", "change"], rows, {1, 2, 3})
    if summary.get("costs") == "recorded":
        lines.append("")
        lines.append("_Costs as recorded in each file, not recomputed with one price table._")
    if total.get("regressed"):
        lines += ["", f"**:x: The total regressed:** {_cell(total.get('message'))}"]

    regressions = list(summary.get("regressions") or [])
    if not regressions:
        lines += ["", "**:white_check_mark: No regression.**"]
    else:
        lines += ["", f"#### :x: Regressions ({len(regressions)})", ""]
        rows = [
            [
                _code(c.get("nodeid")),
                _fmt.figure(metric, c.get("before")),
                _fmt.figure(metric, c.get("after")),
                _fmt.pct(c.get("change_pct")),
                _cell(", ".join(c.get("details") or [])) or "-",
            ]
            for c in regressions[:limit]
        ]
        lines += _table(["test", "before", "after", "change", "what grew"], rows, {1, 2, 3})
        _more(lines, limit, len(regressions))

    improvements = list(summary.get("improvements") or [])
    if improvements:
        saved = f"{_fmt.tokens(summary.get('saved_tokens'))} tokens"
        if summary.get("saved_usd") is not None:
            saved += f", {_fmt.usd(summary.get('saved_usd'))}"
        lines += [
            "",
            f"#### :chart_with_downwards_trend: Improvements ({len(improvements)}): saved {saved}",
            "",
        ]
        rows = [
            [
                _code(c.get("nodeid")),
                _fmt.figure(metric, c.get("before")),
                _fmt.figure(metric, c.get("after")),
                _fmt.pct(c.get("change_pct")),
                _fmt.usd(c.get("saved_usd")) if c.get("saved_usd") is not None else "-",
            ]
            for c in improvements[:limit]
        ]
        lines += _table(["test", "before", "after", "change", "saved"], rows, {1, 2, 3, 4})
        _more(lines, limit, len(improvements))
        lines += ["", "_Update the baseline to keep these gains._"]
    for key, label in (("new", "New tests (no baseline yet)"), ("missing", "Missing tests")):
        ids = list(summary.get(key) or [])
        if ids:
            lines += ["", f"<details><summary>{label}: {len(ids)}</summary>", ""]
            lines += [f"- {_code(n)}" for n in ids[:limit]]
            _more(lines, limit, len(ids))
            lines += ["", "</details>"]
    return lines


def render_markdown(
    report: Report, comparison: Mapping[str, Any] | None = None, *, top: int = 10
) -> str:
    """The whole report; ``comparison`` defaults to the one stored in the report."""
    summary = comparison if comparison is not None else report.baseline
    regressed = bool(summary and summary.get("regressed"))
    ok = report.passed and not regressed and not report.violations
    status = ":white_check_mark: passed" if ok else ":x: failed"
    totals = report.totals.to_dict()
    lines = [MARKER, f"## Token usage: {status}", ""]
    lines += _table(
        ["", "tokens", "input", "output", "calls", "cost"],
        [_usage_row(f"this run ({len(report.tests):,} tests)", totals)],
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
            [
                _cell(v.get("kind", "")),
                _code(v.get("nodeid")) if v.get("nodeid") else "run",
                _cell(v.get("message", "")),
            ]
            for v in report.violations[: top * 2]
        ]
        lines += _table(["kind", "test", "message"], rows, set())
        _more(lines, top * 2, len(report.violations))

    tests = sorted(report.tests.items(), key=lambda kv: (-kv[1].usage.total_tokens, kv[0]))
    tests = [(n, r) for n, r in tests if r.usage]
    if tests:
        lines += ["", "### Top tests by tokens", ""]
        rows = [_usage_row(_code(n), r.usage.to_dict()) for n, r in tests[:top]]
        lines += _table(
            ["test", "tokens", "input", "output", "calls", "cost"], rows, {1, 2, 3, 4, 5}
        )
        _more(lines, top, len(tests))

    by_model: dict[str, Usage] = {}
    for rec in report.tests.values():
        for model, f in rec.by_model.items():
            u = f.usage
            by_model[model] = by_model[model] + u if model in by_model else u
    if by_model:
        lines += ["", "### By model", ""]
        ordered = sorted(by_model.items(), key=lambda kv: (-kv[1].total_tokens, kv[0]))
        rows = [_usage_row(_code(m), u.to_dict()) for m, u in ordered]
        lines += _table(
            ["model", "tokens", "input", "output", "calls", "cost"], rows, {1, 2, 3, 4, 5}
        )
    if report.notes:
        lines += ["", "### Notes", ""]
        lines += [f"- {_cell(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"
