"""The token gate's verdict: one line that closes the summary, and pytest's final-line words.

A run the gate fails must never read as a plain pass: the verdict line is red, and pytest's
own final line gains the reason (``5 passed, 1 token regression``), which pytest never shows
in green. Warn-only runs and baseline updates say in words that they do not fail. Every count
comes from the report's ``violations`` (and, for an accepted baseline update, its comparison),
so the terminal, the JSON, the Markdown and the Action's outputs agree (pure).
"""

from __future__ import annotations

import msgspec

from ..fmt import plural
from ..gate.budget import LIMITS
from ..projection import headline_spend
from ..report import Report, counts

#: A violation's metric -> the limit a user sets for it (``total_tokens`` -> ``max_tokens``).
LIMIT_OF = {figure.replace("cost_pico", "cost_usd"): name for name, (figure, _) in LIMITS.items()}
REGRESSION = "token regression"
RUN_OVER_BUDGET = "run over token budget"


class GateVerdict(msgspec.Struct, frozen=True, gc=False):
    """The verdict line, its colour (pytest's: green, yellow, red) and final-line words."""

    text: str
    colour: str
    #: Words for pytest's final line and their counts ("token regression": 2); empty when
    #: nothing is worth a word there.
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)


def _run_limits(report: Report) -> list[str]:
    """The run budgets exceeded (``max_tokens``), by the limit a user sets."""
    return sorted(
        LIMIT_OF.get(str(v.metric), str(v.metric))
        for v in report.violations
        if v.kind == "run_budget" and v.nodeid is None
    )


def reasons(report: Report) -> list[str]:
    """Why the gate fails the run, each in the words every view uses (the terminal's verdict,
    the Markdown's gate line): ``3 regressions (2 tests and the total)``, ``1 test over
    budget``, ``run over budget (max_tokens)``. Empty when nothing fails it."""
    tally = counts(report)  # the numbers the Markdown, the comment and the Action show
    regressions = 0 if tally.accepted else tally.regressions
    why = []
    if regressions:
        tests = plural(tally.regressed, "test")
        detail = f" ({tests} and the total)" if tally.total_regressed and regressions > 1 else ""
        why.append(plural(regressions, "regression") + detail)
    if tally.over_budget:
        why.append(f"{plural(tally.over_budget, 'test')} over budget")
    run_limits = _run_limits(report)
    if run_limits:
        why.append(f"run over budget ({', '.join(run_limits)})")
    return why


def gate_verdict(report: Report, *, warn_only: bool, baseline_updated: bool) -> GateVerdict:
    """What the token gate decided about this run, and why; with ``runs_per_month``, what
    the run (or its change) costs a run and a month."""
    verdict = _verdict(report, warn_only=warn_only, baseline_updated=baseline_updated)
    spend = headline_spend(report)
    return msgspec.structs.replace(verdict, text=f"{verdict.text}; {spend}") if spend else verdict


def _verdict(report: Report, *, warn_only: bool, baseline_updated: bool) -> GateVerdict:
    tally = counts(report)
    regressions = 0 if tally.accepted else tally.regressions
    over = tally.over_budget
    run_limits = _run_limits(report)
    accepted = tally.regressions if baseline_updated and tally.accepted else 0
    comparison = report.baseline
    why = reasons(report)
    outcomes = {}
    if regressions:
        outcomes[REGRESSION + ("s" if regressions > 1 else "")] = regressions
    if run_limits:
        outcomes[RUN_OVER_BUDGET] = 1
    if why and warn_only:
        words = {f"{word} (warn-only)": count for word, count in outcomes.items()}
        if over:  # the tests passed, so pytest's line shows nothing of them
            words["over token budget (warn-only)"] = over
        return GateVerdict(
            f"token gate: not failing: warn-only — {', '.join(why)}", "yellow", words
        )
    if why:
        text = f"token gate: FAILED — {', '.join(why)}"
        if accepted:
            text += f" ({plural(accepted, 'regression')} accepted: baseline updated)"
        return GateVerdict(text, "red", outcomes)
    if accepted:
        return GateVerdict(
            f"token gate: accepted: baseline updated — {plural(accepted, 'regression')} "
            "taken into the baseline",
            "yellow",
        )
    compared = "no regression" if comparison is not None else "no baseline compared"
    if tally.inconclusive:
        compared += f" ({tally.inconclusive:,} inconclusive: within the noise)"
    return GateVerdict(f"token gate: passed — no budget exceeded, {compared}", "green")
