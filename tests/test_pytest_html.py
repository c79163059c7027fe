"""pytest-html, when installed: its results table gains token and cost columns holding the
report's figures, serial and ``-n 2``; checked in the page as a browser renders it (headless
Chromium: pytest-html builds its table with scripts), a screenshot kept as an artifact.

The screenshot is written beside the inner run (the pytester folder) and, when
``$TOKENBUDGET_ARTIFACTS`` names a folder, copied there for CI to keep.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget.fmt import tokens, usd
from runs import DIST, run_report

pytest.importorskip("pytest_html")

SUITE = """
import pytest

def test_priced(token_tracker):
    token_tracker.record(input_tokens=12_000, output_tokens=345, model="gpt-4o-mini")
    token_tracker.record(input_tokens=7, output_tokens=3, model="gpt-4o")

def test_unpriced(token_tracker):
    token_tracker.record(input_tokens=70, output_tokens=7, model="my-local-llm")

def test_fails(token_tracker):
    token_tracker.record(input_tokens=40, output_tokens=4, model="gpt-4o-mini")
    assert False

@pytest.fixture
def late(token_tracker):
    yield
    token_tracker.record(input_tokens=500, output_tokens=5, model="gpt-4o-mini")

def test_teardown_usage(late, token_tracker):
    token_tracker.record(input_tokens=1, output_tokens=1, model="gpt-4o-mini")

def test_no_usage():
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""


def expected_cells(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Test id -> (tokens, cost) as the columns must show them: the report's figures."""
    out = {}
    for nodeid, test in report["tests"].items():
        out[nodeid] = (tokens(test["total_tokens"]), usd(test["cost_usd"]))
    out["test_suite.py::test_no_usage"] = ("", "")
    out["test_suite.py::test_skipped"] = ("", "")  # its row is its setup's
    return out


def table_rows_from_data(page: str) -> dict[str, tuple[str, str]]:
    """Each test's (tokens, cost) cells from the data pytest-html renders its table from."""
    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob is not None
    data = json.loads(html.unescape(blob[1]))
    out = {}
    for nodeid, rows in data["tests"].items():
        for row in rows:
            cells = "".join(row["resultsTableRow"])
            found = re.findall(r'<td class="col-(tokens|cost)"[^>]*>([^<]*)</td>', cells)
            out[nodeid] = (found[0][1], found[1][1])
    return out


def browser_or_skip() -> Any:
    """A started Playwright and a headless Chromium: Playwright's own, else the system's."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    playwright = sync_api.sync_playwright().start()
    try:
        return playwright, playwright.chromium.launch()
    except sync_api.Error:
        pass
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome-headless-shell"):
        found = shutil.which(name)
        if found:
            return playwright, playwright.chromium.launch(executable_path=found)
    playwright.stop()
    pytest.skip(
        "no headless browser: neither Playwright's Chromium (`playwright install chromium`) "
        "nor chromium/google-chrome on PATH"
    )


def keep_artifact(path: Path) -> None:
    folder = os.environ.get("TOKENBUDGET_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


@pytest.mark.parametrize("dist", DIST)
def test_pytest_html_shows_token_and_cost_columns(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result, report = run_report(pytester, "--html=report.html", "--self-contained-html", *dist)
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    want = expected_cells(report)
    assert want["test_suite.py::test_priced"] == (
        "12,355",
        usd(report["tests"]["test_suite.py::test_priced"]["cost_usd"]),
    )
    assert want["test_suite.py::test_unpriced"] == ("77", "unpriced")
    assert want["test_suite.py::test_teardown_usage"][0] == "507"  # teardown's usage too
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert table_rows_from_data(page) == want

    playwright, browser = browser_or_skip()
    try:
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.goto((pytester.path / "report.html").as_uri())
        tab.wait_for_selector("#results-table tbody.results-table-row")
        headers = tab.eval_on_selector_all(
            "#results-table thead th", "cells => cells.map(c => c.textContent.trim())"
        )
        assert headers[-2:] == ["Tokens", "Cost"]
        rows = tab.eval_on_selector_all(
            "#results-table tbody.results-table-row tr.collapsible",
            """rows => rows.map(r => [
                r.querySelector('.col-testId').textContent,
                r.querySelector('.col-tokens').textContent,
                r.querySelector('.col-cost').textContent])""",
        )
        shown = {
            test_id.removesuffix("::setup"): (tokens_cell, cost)
            for test_id, tokens_cell, cost in rows
        }
        assert shown == want
        shot = pytester.path / f"pytest-html-columns-{'xdist' if dist else 'serial'}.png"
        tab.screenshot(path=str(shot), full_page=True)
    finally:
        browser.close()
        playwright.stop()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep_artifact(shot)


def test_without_pytest_html_nothing_is_registered(pytester: pytest.Pytester) -> None:
    """``-p no:html``: no hooks of pytest-html exist, so no columns plugin (an unknown hook
    would be an error), and the run is as before; nor without ``--html``."""
    pytester.makepyfile(
        """
        def test_a(token_tracker, pytestconfig):
            token_tracker.record(input_tokens=3, output_tokens=2, model="gpt-4o-mini")
            assert not pytestconfig.pluginmanager.has_plugin("tokenbudget-html")
        """
    )
    result, report = run_report(pytester, "-p", "no:html")
    result.assert_outcomes(passed=1)
    assert report["totals"]["total_tokens"] == 5
    pytester.makepyfile(
        test_b="""
        def test_b(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("tokenbudget-html")
        """
    )
    pytester.runpytest("-p", "html", "--html=r.html", "test_b.py").assert_outcomes(passed=1)
    # pytest-html installed but writing no report: its hooks never run, nothing to register
    pytester.makepyfile(
        test_c="""
        def test_c(pytestconfig):
            assert not pytestconfig.pluginmanager.has_plugin("tokenbudget-html")
        """
    )
    pytester.runpytest("-p", "html", "test_c.py").assert_outcomes(passed=1)
