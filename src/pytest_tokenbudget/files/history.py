"""The history file (``--tokenbudget-history``): one JSON line per run, for trends.

Runs that end at once (CI shards on one machine) append under the file's lock, each line in
one write, so lines never interleave.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from ..atomicfile import read_bytes
from ..filelock import locked
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
    text = json.dumps(line, sort_keys=True) + "\n"
    with locked(path), path.open("ab") as fh:
        if fh.tell():  # a line cut short by a killed run must not swallow this one
            with path.open("rb") as old:
                old.seek(-1, 2)
                if old.read(1) != b"\n":
                    text = "\n" + text
        fh.write(text.encode("utf-8"))


def read_history(path: Path) -> list[dict[str, Any]]:
    """The runs of a history file; ValueError naming a bad line."""
    runs = []
    try:
        text = read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as bad:
        raise ValueError(f"{path}: not UTF-8 text (byte {bad.start}: {bad.reason})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
            Usage.from_dict(run["totals"])
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ValueError(
                f"{path}:{number}: not a history line ({exc}); each line is written by "
                "--tokenbudget-history"
            ) from None
        runs.append(run)
    return runs
