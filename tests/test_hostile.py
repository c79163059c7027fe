"""Hostile names (a reply's model, an operation label, a node id) never act: no workflow command
in what the plugin prints, nothing live in the Markdown (the Action's steps are scanned in
test_github_action.py)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from fakellm import FakeLLM
from pytest_tokenbudget.cli import main as cli
from pytest_tokenbudget.files.baseline import (
    baseline_from_report,
    report_from_dict,
    write_json_atomic,
)
from pytest_tokenbudget.gate.regression import compare
from pytest_tokenbudget.inert import inert, one_line
from pytest_tokenbudget.records import Violation
from pytest_tokenbudget.render.markdown import render_markdown
from pytest_tokenbudget.report import Report
from reportfactory import make_test, report_doc
from runs import DIST

pytest.importorskip("openai")

#: A model name a reply could carry, and an operation label from a config or a test's code.
MODEL = "x\n::error title=INJECTED::model <img src=x onerror=alert(1)> @octocat ##[error]v1"
OPERATION = "op\r\n::warning::INJECTED `` ` [link](https://evil.example) @team"

HOSTILE_SUITE = f"""
import json, os
import openai
import pytest

URL = os.environ["TOKENBUDGET_FAKE_LLM"]

@pytest.mark.token_budget(max_tokens=10)
@pytest.mark.parametrize("case", ["::error::id", "##[error]id"])
def test_hostile(token_tracker, case):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
    reply = {{"x-fake-reply": json.dumps({{"input_tokens": 40, "model": {MODEL!r}}})}}
    with token_tracker.operation({OPERATION!r}):
        client.chat.completions.create(model="gpt-4o-mini", messages=[], extra_headers=reply)
    client.close()
"""


def workflow_commands(lines: list[str]) -> list[str]:
    """Lines the Actions runner would read as workflow commands (v2 ``::``, v1 ``##[``)."""
    return [line for line in lines if line.lstrip().startswith("::") or "##[" in line]


def tokenbudget_section(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ tokenbudget =+", line))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("=" * 5))
    return lines[start + 1 : end]


def test_inert_text() -> None:
    assert one_line("a\nb\r\x1b[31m\u2028") == "a\\nb\\r\\x1b[31m\\u2028"
    assert one_line("naïve — ok") == "naïve — ok"
    assert inert("x\n::error::y") == "x\\n::error::y"
    assert inert("  ::error::y") == "  \\::error::y"
    assert inert("\xa0::error::y") == "\\xa0::error::y"
    assert inert("a ##[error]b") == "a ##\\[error]b"
    assert inert(inert("::a ##[b")) == inert("::a ##[b")


@pytest.mark.parametrize("dist", DIST)
def test_terminal_gives_no_workflow_command(
    pytester: pytest.Pytester,
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    dist: list[str],
) -> None:
    """Under GITHUB_ACTIONS pytest prints whole failure messages (no cut at the line's end):
    neither they nor the ``tokenbudget`` section may start a workflow command."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(test_names=HOSTILE_SUITE)
    result = pytester.runpytest("-p", "no:recording", "-p", "no:anyio", "-rf", *dist)
    result.assert_outcomes(failed=2)
    section = tokenbudget_section(result.outlines)
    assert len(section) > 5
    assert workflow_commands(section) == []
    # pytest prints the node ids itself (not ours to change); every other line is clean
    ours = [line for line in result.outlines if "test_names.py::test_hostile[" not in line]
    assert [line for line in ours if line.lstrip().startswith("::")] == []
    assert "INJECTED" in result.stdout.str()  # the names are shown, made inert
    assert any("x\\n::error title=INJECTED::model" in line for line in section)


# -- Markdown: the job summary and the comment, rendered by GitHub's own cmark-gfm ---------------
NODEID = "tests/test_x.py::test_a[`` `<img src=x onerror=alert(1)>` @octocat #1 ::error::x|y\\|z]"
#: Tags our Markdown may produce; anything else came from a name or a message.
TAGS = {
    "code", "details", "summary", "sub", "h3", "h4", "p", "ul", "li", "strong",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def hostile_report() -> Report:
    """A report as a fork's run could upload it: every string is the pull request author's."""
    names = [("retrieve", "gpt-4o-mini"), (OPERATION, MODEL)]
    base = report_doc({NODEID: make_test([(op, m, 1000, 10, 1) for op, m in names])})
    head = report_doc(
        {
            NODEID: make_test([(op, m, 3000, 10, 1) for op, m in names]),
            f"new {NODEID}": make_test([(OPERATION, MODEL, 5, 5, 1)]),
        },
        notes=[f"note {MODEL} [click](javascript:alert(1)) <script>x</script>"],
        pricing={"source": "<b>table</b> @admin", "version": "www.evil.example"},
        passed=False,
    )
    report = report_from_dict(head)
    comparison = compare(baseline_from_report(report_from_dict(base)), report)
    report.baseline = comparison.record()
    report.baseline.path = f"budgets/{MODEL}.json"
    report.violations = [
        *comparison.violations(),
        Violation(kind="test_budget", nodeid=NODEID, message=f"over: {MODEL} {OPERATION}"),
        Violation(kind="run_budget", message=f"- {MODEL}\n# heading\n> quote ~~s~~ $x$ $y$"),
    ]
    return report


def rendered(markdown: str) -> str:
    """The HTML GitHub makes of ``markdown`` (raw HTML let through, to be seen)."""
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options

    html: str = cmarkgfm.github_flavored_markdown_to_html(
        markdown, options=Options.CMARK_OPT_UNSAFE
    )
    return html


def live_parts(html: str) -> list[str]:
    """What would act in GitHub's page: a tag of a name or a message, a link, a mention, an
    issue reference."""
    found = sorted({t for t in re.findall(r"<(\w+)", html) if t.lower() not in TAGS})
    text = re.sub(r"<code>.*?</code>", "", html, flags=re.S)  # GitHub links nothing in code
    found += re.findall(r"@\w+|#\d+|\b(?:https?|www)\b[.:]", re.sub(r"<[^>]+>", "", text))
    return found


def test_markdown_of_a_hostile_report_renders_inert() -> None:
    markdown = render_markdown(hostile_report(), subject="This pull request")
    html = rendered(markdown)
    assert live_parts(html) == []
    # the names are there, whole, shown as text: no backtick or pipe cut a code span or a cell
    codes = [unescape(c) for c in re.findall(r"<code>(.*?)</code>", html, flags=re.S)]
    assert one_line(NODEID) in codes
    assert one_line(MODEL) in codes
    assert "INJECTED" in html
    assert html.count("<table>") == 5  # changed tests, run totals, tests, models, operations


def test_live_parts_finds_what_raw_names_would_do() -> None:
    """The scan itself: the same names pasted raw are caught."""
    raw = f"| a |\n|---|\n| {NODEID} |\n\n{MODEL} [x](https://e.example) #12"
    found = live_parts(rendered(raw))
    assert "img" in found
    assert "a" in found
    assert "@octocat" in found
    assert "#12" in found


def test_the_command_gives_no_workflow_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tokenbudget`` in a CI step reads a fork's report like the Action does."""
    path = tmp_path / "report.json"
    write_json_atomic(path, hostile_report())
    for args in (
        ["report", str(path)],
        ["report", str(path), "--format", "markdown"],
        ["compare", str(path), str(path)],
        ["analyze", str(path)],
        ["compare", str(path), str(tmp_path / f"{MODEL}.json")],  # an error naming the file
    ):
        cli(args)
        out, err = capsys.readouterr()
        lines = (out + err).splitlines()
        assert len(lines) > 0, args
        assert workflow_commands(lines) == [], args
