"""Recommendations and history trends (pure), and their commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pytest_tokenbudget.cli import main
from pytest_tokenbudget.cli.analyze import _headroom, history_lines, recommendations
from pytest_tokenbudget.files.baseline import report_from_dict
from pytest_tokenbudget.files.history import read_history
from pytest_tokenbudget.pricing import load_pricer
from reportfactory import make_test, report_doc, simple


@pytest.fixture(scope="module")
def pricer():  # type: ignore[no-untyped-def]
    return load_pricer(None, use_genai_prices=False)


def test_uncached_repeated_input_is_flagged_with_its_saving(pricer) -> None:  # type: ignore[no-untyped-def]
    # 4 calls of 5,000 uncached gpt-4o-mini input: 3 could be cache reads at half price
    report = report_from_dict(
        report_doc({"t::rag": make_test([("(none)", "gpt-4o-mini", 20_000, 400, 4)])})
    )
    (finding,) = [f for f in recommendations(report, pricer) if f.kind == "caching"]
    # 15,000 tokens * ($0.15 - $0.075) per million = $0.001125
    assert finding.worth_usd == pytest.approx(0.001125)
    assert "gpt-4o-mini: 20,000 of 20,000 input tokens in 4 calls were not cached" in finding.text
    assert "$0.001125" in finding.text


def test_loops_budgets_concentration_and_unpriced(pricer) -> None:  # type: ignore[no-untyped-def]
    tests = {f"t::small{i}": simple(100) for i in range(4)}
    tests["t::agent"] = simple(9_700, 300, calls=12)
    tests["t::local"] = make_test([("(none)", "my-llm", 50, 5, 1)])
    found = recommendations(report_from_dict(report_doc(tests)), pricer)
    kinds = [f.kind for f in found]
    assert kinds.count("loop") == 1
    assert "t::agent makes 12 calls" in next(f.text for f in found if f.kind == "loop")
    assert "max_calls=15" in next(f.text for f in found if f.kind == "loop")
    assert any("no price for my-llm" in f.text for f in found)
    assert any(f.kind == "concentration" and "t::agent (10,000)" in f.text for f in found)
    budget = [f.text for f in found if f.kind == "budget"]
    assert budget[0].startswith("t::agent uses 10,000 tokens with no max_tokens")
    assert "token_budget(13000)" in budget[0]


@pytest.mark.parametrize(("value", "limit"), [(175, 220), (9_700, 13_000), (8, 10), (12, 15)])
def test_headroom_is_a_round_limit_above_a_quarter_more(value: int, limit: int) -> None:
    assert _headroom(value) == limit


def test_history_trend(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = []
    for i, tokens in enumerate([1000, 1100, 990]):
        totals = simple(tokens)
        totals = {k: v for k, v in totals.items() if k not in ("by_model", "by_operation")}
        lines.append(
            json.dumps({"created": f"run{i}", "totals": totals, "tests": 1, "passed": True})
        )
    path.write_text("\n".join(lines) + "\n")
    out = history_lines(read_history(path))
    assert out[2].split()[:4] == ["run1", "1", "1,100", "+10%"]
    assert out[-1] == (
        "trend over 3 runs: 1,000 -> 990 tokens (-1.0%); min 990, median 1,000, max 1,100"
    )
    path.write_text(lines[0] + "\n{oops\n")
    with pytest.raises(ValueError, match=r"h.jsonl:2: not a history line"):
        read_history(path)


def test_commands_end_to_end(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_agent(token_tracker):
            for _ in range(12):
                token_tracker.record(input_tokens=2000, output_tokens=50, model="gpt-4o-mini")
        """
    )
    for _ in range(2):
        pytester.runpytest("--tokenbudget-history=h.jsonl", "--tokenbudget-json=r.json")
    result = pytester.run(sys.executable, "-m", "pytest_tokenbudget.cli", "history", "h.jsonl")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["trend over 2 runs: 24,600 -> 24,600 tokens (+0.0%)*"])
    result = pytester.run(sys.executable, "-m", "pytest_tokenbudget.cli", "analyze", "r.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["1. [[]caching[]] gpt-4o-mini: 24,000 of 24,000 input tokens*"])
    assert main(["history"]) == 2  # no PATH and no `history` key
