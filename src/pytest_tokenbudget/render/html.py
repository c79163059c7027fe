"""One self-contained HTML page of a report: tables and inline SVG bar charts (pure).

No scripts, fonts or images from the network: the file opens offline and as a CI artifact.
Every figure comes from the report dict, and charts show the same numbers as the tables.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

from .. import fmt as _fmt
from ..report import ComparisonRecord, Report, breakdown, buckets, ranked, tests_with_usage
from ..usage import NO_OPERATION, Usage
from .text import bucket_what

TOP = 20
BAR_WIDTH = 520
ROW = 22

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;
color:#1f2328;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37}.bad{color:#cf222e}code{font-size:.92em}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
svg text{font:12px system-ui,sans-serif}
"""
#: input (uncached), cache read, cache write, output
COLOURS = ("#54aeff", "#8ddb8c", "#d4a72c", "#cf7cff")
PARTS = ("uncached input", "cache read", "cache write", "output")


def _parts(u: Usage) -> tuple[int, int, int, int]:
    read, write = u.cache_read_tokens, u.cache_write_tokens
    return (u.input_tokens - read - write, read, write, u.output_tokens)


def bar_chart(title: str, rows: Sequence[tuple[str, Usage]]) -> str:
    """Stacked horizontal bars (input parts and output), labelled with total tokens."""
    if not rows:
        return ""
    peak = max(r.total_tokens for _, r in rows) or 1
    label_w = 330
    height = ROW * len(rows) + 8
    out = [
        f'<svg role="img" aria-label="{escape(title)}" width="{label_w + BAR_WIDTH + 90}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, usage) in enumerate(rows):
        y = i * ROW + 4
        short = name if len(name) <= 48 else "…" + name[-47:]
        out.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">'
            f"<title>{escape(name)}</title>{escape(short)}</text>"
        )
        x = float(label_w)
        for value, colour, part in zip(_parts(usage), COLOURS, PARTS):
            width = BAR_WIDTH * value / peak
            if width > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{width:.1f}" height="{ROW - 6}" '
                    f'fill="{colour}"><title>{escape(part)}: {value:,}</title></rect>'
                )
                x += width
        out.append(f'<text x="{x + 6:.1f}" y="{y + 14}">{_fmt.tokens(usage.total_tokens)}</text>')
    out.append("</svg>")
    legend = "".join(
        f'<span style="background:{c}"></span>{escape(p)}' for c, p in zip(COLOURS, PARTS)
    )
    return f'<h3>{escape(title)}</h3><div class="legend">{legend}</div>' + "".join(out)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="n"' if i in numeric else ""
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", i, escape(h)) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


FIGURES = (
    "total_tokens",
    "input_tokens",
    "cache_read_tokens",
    "output_tokens",
    "calls",
    "cost_usd",
)


def _usage_cells(name: str, u: Usage) -> list[str]:
    return [name, *_fmt.cells(u, FIGURES)]


USAGE_HEADER = ("", "tokens", "input", "cache read", "output", "calls", "cost")


def render_html(report: Report, *, top: int = TOP) -> str:
    tests = [(nodeid, rec.usage) for nodeid, rec in tests_with_usage(report.tests)]
    verdict = (
        '<span class="ok">passed</span>' if report.passed else '<span class="bad">failed</span>'
    )
    pricing = report.pricing
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Token usage report</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Token usage: {verdict}</h1>",
        f"<p>{len(tests):,} tests with usage · created {escape(str(report.created))} · "
        f"prices: {escape(str(pricing.get('source', '')))} "
        f"{escape(str(pricing.get('version', '')))}</p>",
        _table(USAGE_HEADER, [_usage_cells("this run", report.usage)], {1, 2, 3, 4, 5, 6}),
    ]
    parts.append(bar_chart(f"Top {min(top, len(tests))} tests by tokens", tests[:top]))
    by_operation = breakdown(report.tests, "operation")
    parts.append(bar_chart("By model", ranked(breakdown(report.tests, "model"))))
    if set(by_operation) - {NO_OPERATION}:
        parts.append(bar_chart("By operation", ranked(by_operation)))
    parts.append("<h2>Tests</h2>")
    rows = [
        _usage_cells(
            f"<code>{escape(nodeid)}</code> ({escape(str(report.tests[nodeid].status or None))})",
            usage,
        )
        for nodeid, usage in tests[: top * 5]
    ]
    parts.append(_table(("test", *USAGE_HEADER[1:]), rows, {1, 2, 3, 4, 5, 6}))
    if len(tests) > top * 5:
        parts.append(f"<p>… and {len(tests) - top * 5:,} more (see the JSON report).</p>")
    outside = buckets(report.tests)
    if outside:
        parts.append("<h2>In the run's totals, no test's figure</h2>")
        rows = [
            _usage_cells(f"<code>{escape(n)}</code> {escape(bucket_what(n))}", rec.usage)
            for n, rec in outside
        ]
        parts.append(_table(("bucket", *USAGE_HEADER[1:]), rows, {1, 2, 3, 4, 5, 6}))
    parts += _comparison(report.baseline, top)
    violations = report.violations
    if violations:
        parts.append(f"<h2 class='bad'>Violations ({len(violations)})</h2>")
        parts.append(
            _table(
                ("kind", "test", "message"),
                [
                    [
                        escape(v.kind),
                        f"<code>{escape(str(v.nodeid or 'run'))}</code>",
                        escape(v.message),
                    ]
                    for v in violations
                ],
                set(),
            )
        )
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes))
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(p for p in parts if p)


def _comparison(summary: ComparisonRecord | None, top: int) -> list[str]:
    if not summary:
        return []
    out = [f"<h2>Compared with the baseline</h2><p>Regression when {escape(summary.rule)}.</p>"]
    for changes, title in (
        (summary.regressions, "Regressions"),
        (summary.inconclusive, "Inconclusive (within the noise, not failing)"),
        (summary.improvements, "Improvements"),
    ):
        if not changes:
            continue
        cls = {"Regressions": "bad", "Improvements": "ok"}.get(title, "")
        out.append(f"<h3 class='{cls}'>{title} ({len(changes)})</h3>")
        rows = [
            [
                f"<code>{escape(c.nodeid)}</code>",
                escape(_fmt.figure(c.metric or summary.metric, c.before)),
                escape(_fmt.figure(c.metric or summary.metric, c.after)),
                escape(_fmt.pct(c.change_pct)),
                escape(", ".join(c.details)),
            ]
            for c in changes[:top]
        ]
        out.append(_table(("test", "before", "after", "change", "what grew"), rows, {1, 2, 3}))
    for ids, title in ((summary.new, "New tests"), (summary.missing, "Missing from this run")):
        if ids:
            items = "".join(f"<li><code>{escape(i)}</code></li>" for i in ids[:top])
            out.append(f"<h3>{title} ({len(ids)})</h3><ul>{items}</ul>")
    return out
