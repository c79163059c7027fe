"""Plain-text view of a baseline comparison (the ``tokenbudget compare`` table).

Reads the dict form (``Comparison.to_dict()``, also stored as a report's ``baseline``) so a
comparison can be shown again from a report file without the baseline.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .. import fmt as _fmt


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


def _change_rows(metric: str, changes: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = [["test", "before", "after", "change"]]
    for c in changes:
        b, a = c.get("before"), c.get("after")
        if metric == "cost_usd" and isinstance(a, (int, float)) and isinstance(b, (int, float)):
            delta = _fmt.signed_usd(a - b)
        elif isinstance(a, int) and isinstance(b, int):
            delta = f"{a - b:+,}"
        else:
            delta = "-"
        rows.append(
            [
                str(c.get("nodeid")),
                _fmt.figure(metric, b),
                _fmt.figure(metric, a),
                f"{delta} ({_fmt.pct(c.get('change_pct'))})",
            ]
        )
    return rows


def render_comparison(summary: Mapping[str, Any], *, limit: int = 20) -> str:
    """The full table: totals, every regression with what grew, improvements, new, missing."""
    metric = str(summary.get("metric", "total_tokens"))
    lines = [f"tokenbudget compare: regression when {summary.get('rule', metric)}"]
    if summary.get("costs") == "recorded":
        lines.append("  (costs as recorded in the files; not recomputed with one price table)")
    total = summary.get("total") or {}
    base_t = summary.get("baseline_totals") or {}
    cur_t = summary.get("current_totals") or {}
    rows = [["", "baseline", "current", "change"]]
    b_use, a_use = total.get("before_usage") or {}, total.get("after_usage") or {}
    for key, label in (("total_tokens", "tokens"), ("calls", "calls"), ("cost_usd", "cost")):
        fmt = _fmt.usd if key == "cost_usd" else _fmt.tokens
        rows.append(
            [
                f"{label} (tests in both)",
                fmt(b_use.get(key)),
                fmt(a_use.get(key)),
                _fmt.change(b_use, a_use, key),
            ]
        )
    rows.append(
        [
            "tokens (all tests)",
            _fmt.tokens(base_t.get("total_tokens")),
            _fmt.tokens(cur_t.get("total_tokens")),
            _fmt.change(base_t, cur_t, "total_tokens"),
        ]
    )
    lines += _table(rows, {1, 2, 3})
    if total.get("regressed"):
        lines.append(f"  REGRESSION in total: {total.get('message')}")

    regressions = list(summary.get("regressions") or [])
    lines.append("")
    lines.append(f"Regressions ({len(regressions)})" + (":" if regressions else ": none"))
    if regressions:
        table = _table(_change_rows(metric, regressions), {1, 2, 3})
        lines.append(table[0])
        for row, c in zip(table[1:], regressions):
            lines.append(row)
            if c.get("details"):
                lines.append("      what grew: " + ", ".join(c["details"]))

    improvements = list(summary.get("improvements") or [])
    if improvements:
        saved = f"saved {_fmt.tokens(summary.get('saved_tokens'))} tokens"
        if summary.get("saved_usd") is not None:
            saved += f", {_fmt.usd(summary.get('saved_usd'))}"
        lines.append("")
        lines.append(f"Improvements ({len(improvements)}, {saved}):")
        lines += _table(_change_rows(metric, improvements[:limit]), {1, 2, 3})
        if len(improvements) > limit:
            lines.append(f"  ... and {len(improvements) - limit:,} more")
        lines.append("  Refresh the baseline to lock them in: tokenbudget baseline update REPORT")
    for key, label in (("new", "New tests, no baseline"), ("missing", "Missing tests")):
        ids = list(summary.get(key) or [])
        if ids:
            lines.append("")
            lines.append(f"{label} ({len(ids)}):")
            lines += [f"  {n}" for n in ids[:limit]]
            if len(ids) > limit:
                lines.append(f"  ... and {len(ids) - limit:,} more")
    if summary.get("unpriced"):
        lines.append("")
        lines.append(f"Not compared on cost (unpriced model): {len(summary['unpriced'])} test(s)")
    lines.append("")
    lines.append(verdict(summary))
    return "\n".join(lines) + "\n"


def verdict(summary: Mapping[str, Any]) -> str:
    regressions = len(summary.get("regressions") or [])
    total = bool((summary.get("total") or {}).get("regressed"))
    if not regressions and not total:
        return "No regression."
    parts = []
    if regressions:
        parts.append(f"{regressions} test(s) regressed")
    if total:
        parts.append("the total regressed")
    return "REGRESSION: " + " and ".join(parts) + "."


def summary_lines(summary: Mapping[str, Any], *, limit: int = 5) -> list[str]:
    """Short lines for the terminal summary: each regression with what grew, then the rest."""
    lines = []
    total = summary.get("total") or {}
    if total.get("regressed"):
        lines.append(f"regression in total: {total.get('message')}")
    regressions = list(summary.get("regressions") or [])
    for c in regressions[:limit]:
        lines.append(f"regression: {c.get('message')}")
    if len(regressions) > limit:
        lines.append(f"... and {len(regressions) - limit:,} more regressions")
    improvements = list(summary.get("improvements") or [])
    if improvements:
        saved = f"{_fmt.tokens(summary.get('saved_tokens'))} tokens"
        if summary.get("saved_usd") is not None:
            saved += f", {_fmt.usd(summary.get('saved_usd'))}"
        names = ", ".join(str(c.get("nodeid")) for c in improvements[:3])
        more = f" and {len(improvements) - 3:,} more" if len(improvements) > 3 else ""
        lines.append(
            f"improved: {len(improvements)} test(s) saved {saved} ({names}{more}); "
            "update the baseline to keep the gain"
        )
    for key, label in (("new", "new tests (no baseline)"), ("missing", "missing from this run")):
        ids = list(summary.get(key) or [])
        if ids:
            more = f" and {len(ids) - 3:,} more" if len(ids) > 3 else ""
            lines.append(f"{label}: {len(ids)} ({', '.join(ids[:3])}{more})")
    return lines
