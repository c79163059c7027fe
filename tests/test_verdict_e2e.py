"""The token gate's verdict: the line that closes the ``tokenbudget`` section, and pytest's own
final line, for every way a run can end (serial and ``-n 2``). A run the gate fails never ends
on a green line."""

from __future__ import annotations

import re

import pytest

from runs import DIST

RED, GREEN, YELLOW = "\x1b[31m", "\x1b[32m", "\x1b[33m"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

SUITE = """
import pytest

def test_agent(token_tracker):
    token_tracker.record(input_tokens={agent}, output_tokens=10, model="gpt-4o-mini")

@pytest.mark.token_budget(max_tokens=1_000, max_calls=2)
def test_tool(token_tracker):
    token_tracker.record(input_tokens={tool}, output_tokens=10, model="gpt-4o-mini")
"""

# scenario: (suite figures, options, exit status, final line, verdict line, verdict colour)
SCENARIOS = {
    "pass": (
        {"agent": 100, "tool": 10},
        [],
        0,
        "2 passed",
        "token gate: passed — no budget exceeded, no regression",
        GREEN,
    ),
    "budget-failure": (
        {"agent": 100, "tool": 2_000},
        ["--tokenbudget-regression-min=100000"],
        1,
        "1 failed, 1 passed",
        "token gate: FAILED — 1 test over budget",
        RED,
    ),
    "regression": (
        {"agent": 300, "tool": 10},
        [],
        1,
        "2 passed, 2 token regressions",
        "token gate: FAILED — 2 regressions (1 test and the total)",
        RED,
    ),
    "run-budget": (
        {"agent": 100, "tool": 10},
        ["--tokenbudget-max-tokens=50"],
        1,
        "2 passed, 1 run over token budget",
        "token gate: FAILED — run over budget (max_tokens)",
        RED,
    ),
    "warn-only": (
        {"agent": 300, "tool": 2_000},
        ["--tokenbudget-warn-only"],
        0,
        "2 passed, 3 token regressions (warn-only), 1 over token budget (warn-only)",
        "token gate: not failing: warn-only — 3 regressions (2 tests and the total), "
        "1 test over budget",
        YELLOW,
    ),
    "baseline-update": (
        {"agent": 300, "tool": 10},
        ["--tokenbudget-update-baseline"],
        0,
        "2 passed",
        "token gate: accepted: baseline updated — 2 regressions taken into the baseline",
        YELLOW,
    ),
}


@pytest.mark.parametrize("dist", DIST)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_verdict_and_final_line(pytester: pytest.Pytester, scenario: str, dist: list[str]) -> None:
    figures, options, status, final, verdict, colour = SCENARIOS[scenario]
    pytester.makepyfile(test_suite=SUITE.format(agent=100, tool=10))
    pytester.runpytest("--tokenbudget-update-baseline").assert_outcomes(passed=2)
    pytester.makepyfile(test_suite=SUITE.format(**figures))

    result = pytester.runpytest("--color=yes", *options, *dist)

    assert result.ret == status
    raw = [line for line in result.outlines if line.strip()]
    plain = [ANSI.sub("", line) for line in raw]
    at = plain.index(verdict)  # the verdict is one line, and the section's last
    assert raw[at].startswith(colour), raw[at]
    assert re.fullmatch(rf"=+ {re.escape(final)} in [\d.]+s =+", plain[-1]), plain[-1]
    # pytest's final line takes the colour of its most serious word: never green when the
    # token gate has something to say (pytest shows words it does not know in yellow)
    # the regression line itself says when it does not fail the run
    said = {"warn-only": "not failing: warn-only", "baseline-update": "accepted: baseline updated"}
    (compared,) = [line for line in plain if line.startswith("baseline tokenbudget-baseline.json")]
    if scenario in said:
        assert compared.endswith(f") — {said[scenario]}"), compared
    else:
        assert compared.endswith(")"), compared
    expected = {"pass": GREEN, "baseline-update": GREEN, "budget-failure": RED}
    assert raw[-1].startswith(expected.get(scenario, YELLOW)), raw[-1]
    # nothing of ours after the verdict: pytest's own sections or its final line
    assert plain[at + 1].startswith("="), plain[at + 1]
