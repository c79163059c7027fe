"""The HTML report: self-contained, escaped, and showing the report's own figures."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from pytest_tokenbudget.files.baseline import report_from_dict
from pytest_tokenbudget.render.html import render_html
from reportfactory import make_test, report_doc


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]


def test_page_is_self_contained_and_escaped() -> None:
    doc = report_doc(
        {
            "t::a[<script>alert(1)</script>]": make_test(
                [("retrieve", "gpt-4o-mini", 4000, 100, 2), ("answer", "gpt-4o", 900, 300, 1)]
            )
        },
        violations=[
            {
                "kind": "test_budget",
                "nodeid": "t::a",
                "metric": "total_tokens",
                "limit": 10,
                "actual": 5300,
                "message": "5,300 tokens > max_tokens 10 <marker>",
            }
        ],
        passed=False,
    )
    page = render_html(report_from_dict(doc))
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags  # the node id was escaped, no script element
    assert parser.urls == []  # nothing to fetch
    assert "&lt;script&gt;" in page
    assert "&lt;marker&gt;" in page
    assert parser.tags.count("svg") == 3  # tests, models, operations
    assert 'Token usage: <span class="bad">failed</span>' in page
    # the figures in the charts are the report's: 5,300 tokens in total, 4,100 for gpt-4o-mini
    assert ">5,300</text>" in page
    assert ">4,100</text>" in page
    assert re.search(r"<title>output: 300</title>", page)


def test_plugin_writes_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "def test_a(token_tracker): token_tracker.record(input_tokens=7, model='gpt-4o')"
    )
    result = pytester.runpytest("--tokenbudget-html=out/r.html", "-n", "2")
    result.stdout.fnmatch_lines(["html report written to *r.html"])
    page = (pytester.path / "out" / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "test_plugin_writes_it.py::test_a" in page
