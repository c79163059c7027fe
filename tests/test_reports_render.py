from __future__ import annotations

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
    rep.violations.append(
        Violation(
            kind="budget",
            nodeid="t::chat",
            metric="total_tokens",
            limit=1000,
            actual=1300,
            message="test used 1,300 tokens > budget 1,000 (marker)",
        )
    )
    md = render_markdown(rep, data)
    assert md.startswith(MARKER + "\n## Token usage: :x: failed\n")
    assert md.endswith("\n")
    assert "| this run (3 tests) | 8,765 | 8,010 | 755 | 9 |" in md
    assert "#### :x: Regressions (1)" in md
    assert (
        '| `t::agent` | 5,100 | 7,450 | +46% | operation "retrieve" +2,100 input (gpt-4o-mini), '
        'operation "answer" +250 output (gpt-4o), calls 3 -> 7 |' in md
    )
    assert "Improvements (1): saved 1,200 tokens, $0.00027" in md
    assert "- `t::new[a\\|b]`" in md  # pipes escaped inside tables and lists
    assert "Missing tests: 1" in md
    assert "### :x: Violations (1)" in md
    assert "test used 1,300 tokens > budget 1,000 (marker)" in md
    assert "### Top tests by tokens" in md
    assert "| `gpt-4o-mini` |" in md


def test_markdown_without_baseline_passes() -> None:
    rep = report_from_dict(report_doc({"t::a": simple(5)}))
    md = render_markdown(rep)
    assert ":white_check_mark: passed" in md
    assert "_No baseline to compare with._" in md


def test_markdown_uses_the_reports_own_comparison() -> None:
    rep, data = summary()
    rep.baseline = data
    assert "Regressions (1)" in render_markdown(rep)


def test_markdown_cuts_long_lists() -> None:
    old = baseline_from_report(
        report_from_dict(report_doc({f"t::{i}": simple(100) for i in range(50)}))
    )
    rep = report_from_dict(report_doc({f"t::{i}": simple(500) for i in range(50)}))
    md = render_markdown(rep, compare(old, rep).record(), top=5)
    assert "... and 40 more (see the JSON report)." in md


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
