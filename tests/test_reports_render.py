from __future__ import annotations

import re

from pytest_tokenbudget.files.baseline import baseline_from_report, report_from_dict
from pytest_tokenbudget.gate.regression import compare
from pytest_tokenbudget.records import Violation
from pytest_tokenbudget.render.compare_text import render_comparison, summary_lines
from pytest_tokenbudget.render.markdown import MARKER, render_markdown
from pytest_tokenbudget.report import ComparisonRecord, Report
from reportfactory import make_test, report_doc, simple

OLD = {
    "t::agent": make_test(
        [("retrieve", "gpt-4o-mini", 3000, 100, 2), ("answer", "gpt-4o", 1900, 100, 1)]
    ),
    "t::chat": simple(2000, 500),
    "t::gone": simple(10),
}
NEW = {
    "t::agent": make_test(
        [("retrieve", "gpt-4o-mini", 5100, 100, 6), ("answer", "gpt-4o", 1900, 350, 1)]
    ),
    "t::chat": simple(1000, 300),
    "t::new[a|b]": simple(10, 5),
}


def summary() -> tuple[Report, ComparisonRecord]:
    rep = report_from_dict(report_doc(NEW))
    old = baseline_from_report(report_from_dict(report_doc(OLD)))
    return rep, compare(old, rep).record()


def test_markdown_sections() -> None:
    rep, data = summary()
    old = baseline_from_report(report_from_dict(report_doc(OLD)))
    rep.violations += compare(old, rep).violations()
    rep.violations.append(
        Violation(
            kind="test_budget",
            nodeid="t::chat",
            metric="total_tokens",
            limit=1000,
            actual=1300,
            message="test used 1,300 tokens > budget 1,000 (marker)",
        )
    )
    md = render_markdown(rep, data)
    lines = md.splitlines()
    assert lines[:4] == [
        MARKER,
        "### 🔺 This run raises token use by 15.2% (+1,155 tokens, +$0.002548 per run)",
        "",
        "❌ **1 regressed** · ⚡ 1 improved · ✅ 0 unchanged · 🆕 1 new · 🗑️ 1 missing · "
        "💸 **1 over budget**",
    ]
    assert md.endswith("</sub>\n")
    # the changed tests, biggest change first, with what grew
    changed = lines[lines.index("| test | before | after | change | what grew |") + 2 :][:3]
    assert changed == [
        '| ❌ `t::agent` | 5,100 | 7,450 | +46% | operation "retrieve" +2,100 input '
        '(gpt-4o-mini), operation "answer" +250 output (gpt-4o), calls 3 -> 7 |',
        "| ⚡ `t::chat` | 2,500 | 1,300 | -48% | saved $0.00027 |",
        "| 🆕 `t::new[a\\|b]` | — | 15 | new |  |",  # pipes escaped inside tables
    ]
    assert "🗑️ In the baseline, not in this run: `t::gone`" in lines
    assert (
        "Gate: **failed**: 2 regressions (1 test and the total), 1 test over budget — "
        "rule: total\\_tokens grows more than 10%"
    ) in lines
    assert "- `t::chat`: test used 1,300 tokens > budget 1,000 (marker)" in lines
    assert "<details><summary>All 3 tests, by model and by operation</summary>" in lines
    assert "| `gpt-4o-mini` | 6,515 | 6,110 | 405 | 8 | $0.0011595 |" in lines
    assert "| `retrieve` | 5,200 | 5,100 | 100 | 6 | $0.000825 |" in lines


def test_markdown_without_baseline() -> None:
    rep = report_from_dict(report_doc({"t::a": simple(5)}))
    md = render_markdown(rep)
    assert "### 📊 This run used 5 tokens ($0.00000075) in 1 call: no baseline to compare" in md
    assert "🧪 1 test · 💸 0 over budget" in md
    assert "Gate: **passed**" in md
    assert "<sub>No baseline · prices: test 2026-11-01 · pytest-tokenbudget " in md


def test_markdown_uses_the_reports_own_comparison() -> None:
    rep, data = summary()
    rep.baseline = data
    assert "❌ **1 regressed**" in render_markdown(rep)


def test_markdown_cuts_long_lists() -> None:
    old = baseline_from_report(
        report_from_dict(report_doc({f"t::{i}": simple(100) for i in range(50)}))
    )
    rep = report_from_dict(report_doc({f"t::{i}": simple(500) for i in range(50)}))
    md = render_markdown(rep, compare(old, rep).record(), top=5)
    assert "_… and 40 more changed tests (see the JSON report)._" in md
    small = render_markdown(rep, compare(old, rep).record(), max_chars=3_000)
    assert len(small) <= 3_000
    assert re.search(r"_… and \d+ more tests \(see the JSON report\)\._", small)


def test_text_comparison_table() -> None:
    _, data = summary()
    text = render_comparison(data)
    assert "regression when total_tokens grows more than 10%" in text
    assert "t::agent   5,100  7,450  +2,350 (+46%)" in text
    assert 'what grew: operation "retrieve" +2,100 input (gpt-4o-mini)' in text
    assert "Improvements (1, saved 1,200 tokens, $0.00027):" in text
    assert "New tests, no baseline (1):\n  t::new[a|b]" in text
    assert "Missing tests (1):\n  t::gone" in text
    assert text.endswith("REGRESSION: 1 test(s) regressed and the total regressed.\n")


def test_summary_lines() -> None:
    _, data = summary()
    lines = summary_lines(data)
    assert lines[0].startswith("regression in total: total of the tests in both: 7,600 -> 8,750")
    assert lines[1].startswith("regression: t::agent: 5,100 -> 7,450 tokens (+46%)")
    assert lines[2].startswith("improved: 1 test(s) saved 1,200 tokens")
    assert lines[3] == "new tests (no baseline): 1 (t::new[a|b])"
    assert lines[4] == "missing from this run: 1 (t::gone)"
