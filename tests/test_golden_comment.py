"""Golden pull-request comments: the Markdown the Action posts, byte for byte.

A six-test agent suite (its figures read from ``figures.json``, so each scenario only writes
that file) runs through the real plugin: first on "main" with no baseline (the comment of a
first run), recording the baseline; then as pull requests that raise token use (a regression,
a new test, a removed one), lower it (an improvement), change nothing, and break a budget.
A 5,000-test suite, built as report documents, shows the comment staying within GitHub's
size limit. Each comment is rendered as the comment step renders it (``report_markdown``) and
compared with tests/golden/comment/NAME.md and comment-5000/suite.md (regold with
``TOKENBUDGET_REGOLD=1``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget.files.baseline import baseline_from_report, load_report, report_from_dict
from pytest_tokenbudget.gate.regression import compare
from pytest_tokenbudget.github.comment import COMMENT_LIMIT, MARKDOWN_LIMIT, digest_line
from pytest_tokenbudget.github.event import Event
from pytest_tokenbudget.github.steps import report_markdown
from pytest_tokenbudget.plugin import session as session_module
from reportfactory import make_test, report_doc
from test_golden import GOLDEN, Golden, _Today

HEAD = Event(pr=12, head_sha="9f8e7d6c5b4a39281706f5e4d3c2b1a098765432")

SUITE = """
import json
from pathlib import Path

import pytest

FIGURES = json.loads(Path(__file__).with_name("figures.json").read_text())


def use(tracker, name):
    for op, model, inp, out in FIGURES[name]:
        with tracker.operation(op):
            tracker.record(input_tokens=inp, output_tokens=out, model=model)


def test_refund_flow(token_tracker):
    use(token_tracker, "refund_flow")


@pytest.mark.token_budget(2000)
def test_smalltalk(token_tracker):
    use(token_tracker, "smalltalk")


@pytest.mark.parametrize("size", ["short", "long"])
def test_summary(token_tracker, size):
    use(token_tracker, f"summary_{size}")


def test_citations(token_tracker):
    use(token_tracker, "citations")


def test_legacy_search(token_tracker):
    use(token_tracker, "legacy_search")
"""

MAIN: dict[str, list[Any]] = {
    "refund_flow": [["retrieve", "gpt-4o-mini", 3000, 100], ["answer", "gpt-4o", 1800, 200]],
    "smalltalk": [["chat", "claude-sonnet-4-5", 900, 310]],
    "summary_short": [["summarise", "gpt-4o", 2400, 300]],
    "summary_long": [["summarise", "gpt-4o", 8800, 1000]],
    "citations": [["cite", "gpt-4o-mini", 1900, 304]],
    "legacy_search": [["search", "gpt-4o-mini", 700, 50]],
}


def scenario(changes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {**MAIN, **changes}


def write_figures(root: Path, figures: dict[str, list[Any]]) -> None:
    (root / "figures.json").write_text(json.dumps(figures), encoding="utf-8")


def comment(g: Golden, name: str, *args: str) -> str:
    """Run the suite as a pull request; store and return its comment."""
    g.quiet_pytest(name, "--tokenbudget-json=out.json", *args)
    report = load_report(g.pytester.path / "out.json")
    body = report_markdown(report, HEAD, MARKDOWN_LIMIT)
    g.check(f"{name}.md", body)
    return body


def test_comments(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678")  # main's commit
    monkeypatch.setattr(session_module, "date", _Today)
    g = Golden(pytester, GOLDEN / "comment")
    pytester.makepyfile(test_agents=SUITE)
    root = pytester.path
    write_figures(root, MAIN)
    # main, before any baseline: what a first pull request sees; then main records one
    first = comment(g, "first-run", "-k", "not citations")
    assert "no baseline to compare with" in first
    g.quiet_pytest("main", "-k", "not citations", "--tokenbudget-update-baseline")

    regressed = scenario(
        {"refund_flow": [["retrieve", "gpt-4o-mini", 6300, 100], ["answer", "gpt-4o", 1800, 420]]}
    )
    write_figures(root, regressed)
    body = comment(g, "regression", "-k", "not legacy_search")
    assert "❌ **1 regressed**" in body
    assert "🆕 1 new · 🗑️ 1 missing" in body

    write_figures(root, scenario({"summary_long": [["summarise", "gpt-4o", 6100, 700]]}))
    body = comment(g, "improvement", "-k", "not citations")
    assert "🔽 This pull request lowers token use" in body

    write_figures(root, MAIN)
    body = comment(g, "no-change", "-k", "not citations")
    assert "➖ This pull request does not change token use" in body

    write_figures(root, scenario({"smalltalk": [["chat", "claude-sonnet-4-5", 1900, 400]]}))
    body = comment(g, "budget", "-k", "not citations", "--tokenbudget-regression=100%")
    assert "💸 **1 over budget**" in body
    assert "Gate: **failed**: 1 test over budget" in body
    g.finish()


def test_comment_of_a_5000_test_suite(pytester: pytest.Pytester) -> None:
    """Every table is cut to fit a comment; the counts still count every test."""
    g = Golden(pytester, GOLDEN / "comment-5000")
    ops = ("retrieve", "answer", "plan", "summarise")

    def suite(changed: bool) -> dict[str, Any]:
        tests = {}
        for i in range(5000):
            inp = 1000 + i
            if changed and i % 250 == 0:  # 20 tests grow by half
                inp += inp // 2
            elif changed and i % 250 == 125:  # 20 shrink by a quarter
                inp -= inp // 4
            cell = (ops[i % 4], "gpt-4o-mini", inp, 100 + i % 7, 1)
            tests[f"tests/test_suite_{i // 100:02d}.py::test_case[{i:04d}]"] = make_test([cell])
        return report_doc(tests)

    base = report_from_dict(suite(False))
    head = report_from_dict(suite(True))
    head.baseline = compare(baseline_from_report(base), head).record()
    head.baseline.path = "tokenbudget-baseline.json"
    head.violations = compare(baseline_from_report(base), head).violations()
    head.passed = False
    body = report_markdown(head, HEAD, MARKDOWN_LIMIT)
    assert len(body) + len(digest_line("0" * 32)) + 1 <= COMMENT_LIMIT  # never cut when posted
    assert "❌ **20 regressed** · ⚡ 20 improved · ✅ 4,960 unchanged" in body
    assert "more tests (see the JSON report)._" in body
    g.check("suite.md", body)
    g.finish()
