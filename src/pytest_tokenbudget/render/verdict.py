"""The token gate's verdict: one line that closes the summary, and pytest's final-line words.

A run the gate fails must never read as a plain pass: the verdict line is red, and pytest's
own final line gains the reason (``5 passed, 1 token regression``), which pytest never shows
in green. Warn-only runs and baseline updates say in words that they do not fail. Every count
comes from the report's ``violations`` (and, for an accepted baseline update, its comparison),
so the terminal, the JSON, the Markdown and the Action's outputs agree (pure).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..gate.budget import LIMITS
from ..report import Report

#: A violation's metric -> the limit a user sets for it (``total_tokens`` -> ``max_tokens``).
LIMIT_OF = {figure.replace("cost_pico", "cost_usd"): name for name, (figure, _) in LIMITS.items()}
REGRESSION = "token regression"
RUN_OVER_BUDGET = "run over token budget"


@dataclass(frozen=True)
class GateVerdict:
    """The verdict line, its colour (pytest's: green, yellow, red) and final-line words."""

    text: str
    colour: str
    #: Words for pytest's final line and their counts ("token regression": 2); empty when
    #: nothing is worth a word there.
    outcomes: dict[str, int] = field(default_factory=dict)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def gate_verdict(report: Report, *, warn_only: bool, baseline_updated: bool) -> GateVerdict:
    """What the token gate decided about this run, and why."""
    violations = report.violations
    regressions = sum(1 for v in violations if v.kind == "regression")
    over = {v.nodeid for v in violations if v.kind != "regression" and v.nodeid is not None}
    run_limits = sorted(
        LIMIT_OF.get(str(v.metric), str(v.metric))
        for v in violations
        if v.kind == "run_budget" and v.nodeid is None
    )
    accepted = 0
    comparison = report.baseline
    if baseline_updated and comparison is not None and not regressions:
        accepted = len(comparison.regressions) + (1 if comparison.total.regressed else 0)
    why = []
    if regressions:
        total = any(v.kind == "regression" and v.nodeid is None for v in violations)
        tests = _plural(regressions - total, "test")
        detail = f" ({tests} and the total)" if total and regressions > 1 else ""
        why.append(_plural(regressions, "regression") + detail)
    if over:
        why.append(f"{_plural(len(over), 'test')} over budget")
    if run_limits:
        why.append(f"run over budget ({', '.join(run_limits)})")
    outcomes = {}
    if regressions:
        outcomes[REGRESSION + ("s" if regressions > 1 else "")] = regressions
    if run_limits:
        outcomes[RUN_OVER_BUDGET] = 1
    if why and warn_only:
        words = {f"{word} (warn-only)": count for word, count in outcomes.items()}
        if over:  # the tests passed, so pytest's line shows nothing of them
            words["over token budget (warn-only)"] = len(over)
        return GateVerdict(
            f"token gate: not failing: warn-only — {', '.join(why)}", "yellow", words
        )
    if why:
        text = f"token gate: FAILED — {', '.join(why)}"
        if accepted:
            text += f" ({_plural(accepted, 'regression')} accepted: baseline updated)"
        return GateVerdict(text, "red", outcomes)
    if accepted:
        return GateVerdict(
            f"token gate: accepted: baseline updated — {_plural(accepted, 'regression')} "
            "taken into the baseline",
            "yellow",
        )
    compared = "no regression" if comparison is not None else "no baseline compared"
    return GateVerdict(f"token gate: passed — no budget exceeded, {compared}", "green")
