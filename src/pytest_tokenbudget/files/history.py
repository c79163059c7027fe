"""The history file (``--tokenbudget-history``): one JSON line per run, for trends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from ..report import Report, tests_only
from ..usage import Usage


def append_history(path: Path, report: Report) -> None:
    """Append the run's totals and verdict as one line."""
    line = {
        "created": report.created,
        "totals": msgspec.to_builtins(report.totals),
        "tests": len(tests_only(report.tests)),
        "violations": len(report.violations),
        "passed": report.passed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")


def read_history(path: Path) -> list[dict[str, Any]]:
    """The runs of a history file; ValueError naming a bad line."""
    runs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
            Usage.from_dict(run["totals"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}:{number}: not a history line ({exc}); each line is written by "
                "--tokenbudget-history"
            ) from None
        runs.append(run)
    return runs
