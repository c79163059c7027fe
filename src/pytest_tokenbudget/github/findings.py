"""What a run's report tells the workflow: the action's outputs and one annotation a finding.

A finding is a violation of the report, or a regression that a baseline update accepted; each
becomes an ``::error`` (it fails the job) or a ``::warning`` (it does not), placed on the test's
``def`` line where the file can be found.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from msgspec import UnsetType

from ..fmt import plain_number
from ..records import Violation
from ..report import Report, counts
from .workflow import TITLE, workflow_command

__all__ = ["ANNOTATION_LIMIT", "OUTPUT_NAMES", "annotation_lines", "findings", "outputs"]

#: GitHub shows at most 10 error annotations per step; more would be dropped silently.
ANNOTATION_LIMIT = 10
#: The action's outputs (action.yml), in the order :func:`outputs` writes them.
OUTPUT_NAMES = ("total-tokens", "cost-usd", "regressions", "violations", "passed", "report-json")

_TITLES = {
    "test_budget": "token budget exceeded",
    "run_budget": "run token budget exceeded",
    "regression": "token regression",
}


def findings(report: Report) -> list[Violation]:
    """The report's violations, plus the regressions a baseline update accepted.

    A run with ``--tokenbudget-update-baseline`` does not count its regressions as violations
    (it passes); they are in its comparison, and the action still shows them, as warnings.
    """
    found = list(report.violations)
    comparison = report.baseline
    if comparison is None or any(v.kind == "regression" for v in found):
        return found
    accepted = [
        Violation(kind="regression", message=c.message, nodeid=c.nodeid)
        for c in comparison.regressions
    ]
    if comparison.total.regressed:
        accepted.append(Violation(kind="regression", message=comparison.total.message))
    return found + accepted


def outputs(report: Report, report_path: str = "") -> dict[str, str]:
    """The action's outputs, counted as every view counts them (:func:`counts`):
    ``regressions`` the tests that regressed and the total when it did (accepted into the
    baseline or not), ``violations`` every entry, budgets and regressions."""
    cost = report.totals.cost_usd
    tally = counts(report)
    return {
        "total-tokens": str(report.usage.total_tokens),
        "cost-usd": "" if cost is None or isinstance(cost, UnsetType) else plain_number(cost),
        "regressions": str(tally.regressions),
        "violations": str(tally.violations),
        "passed": "true" if report.passed else "false",
        "report-json": report_path,
    }


def _locate(
    nodeid: str, root: Path | None, workspace: Path | None
) -> tuple[str | None, int | None]:
    """The test's file (relative to the workspace, as GitHub wants it) and its ``def`` line.

    Node ids are relative to pytest's rootdir, which the report does not record: look for the
    file from the directory pytest ran in upwards to the workspace.
    """
    path, _, rest = nodeid.partition("::")
    if not path or path.startswith("<") or not path.endswith(".py"):
        return None, None
    name = rest.split("::")[-1].split("[")[0] if rest else ""
    if root is None:
        return path, None
    root = root.resolve()
    top = workspace.resolve() if workspace is not None else None
    for folder in [root, *root.parents]:
        candidate = folder / path
        if candidate.is_file():
            break
        if folder == top:
            return path, None
    else:
        return path, None
    shown = candidate.as_posix()
    if top is not None:
        with contextlib.suppress(ValueError):
            shown = candidate.relative_to(top).as_posix()
    line = None
    if name:
        pattern = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(")
        try:
            text = candidate.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        for number, source in enumerate(text.splitlines(), 1):
            if pattern.match(source):
                line = number
                break
    return shown, line


def annotation_lines(
    report: Report,
    *,
    warn_only: bool = False,
    update_baseline: bool = False,
    root: Path | None = None,
    workspace: Path | None = None,
    limit: int = ANNOTATION_LIMIT,
) -> list[str]:
    """Workflow commands for the report's findings.

    Errors where the finding fails the job; warnings where it does not (``warn-only``, or
    regressions being accepted into the baseline), so that a green job shows no red marks.
    """
    lines = []
    for v in findings(report):
        failing = not warn_only and not (v.kind == "regression" and update_baseline)
        title = _TITLES.get(v.kind, v.kind or "token budget")
        file = line = None
        if v.nodeid:
            title = f"{v.nodeid}: {title}"
            file, line = _locate(v.nodeid, root, workspace)
        lines.append(
            workflow_command(
                "error" if failing else "warning", v.message, file=file, line=line, title=title
            )
        )
    if len(lines) > limit:
        more = len(lines) - (limit - 1)
        level = "error" if any(x.startswith("::error") for x in lines[limit - 1 :]) else "warning"
        summary = f"... and {more} more token budget findings (see the job summary)"
        lines = [*lines[: limit - 1], workflow_command(level, summary, title=TITLE)]
    return lines
