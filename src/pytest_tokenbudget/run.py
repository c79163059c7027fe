"""One run's usage, test by test, and the report built from it (pure: no pytest).

Each test arrives once, as the built-in payload shipped on its teardown report, so serial runs
and xdist runs feed this the same data and produce the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from .tracker import SESSION_BUCKET, cells_from_payload, group
from .usage import Usage, add_into, breakdown_to_dict

REPORT_SCHEMA = "pytest-tokenbudget/report@1"


@dataclass
class TestUsage:
    cells: dict[tuple[str, str], Usage]
    status: str = "passed"
    budget: dict[str, Any] | None = None

    @property
    def usage(self) -> Usage:
        return sum(self.cells.values(), Usage())

    def to_dict(self) -> dict[str, Any]:
        out = self.usage.to_dict()
        out["by_model"] = breakdown_to_dict(group(self.cells, 0))
        by_operation: dict[str, Any] = {}
        for op, op_usage in sorted(group(self.cells, 1).items()):
            models = {m: u for (m, o), u in self.cells.items() if o == op}
            by_operation[op] = {**op_usage.to_dict(), "by_model": breakdown_to_dict(models)}
        out["by_operation"] = by_operation
        out["budget"] = self.budget
        out["status"] = self.status
        return out


@dataclass
class RunUsage:
    """Everything one run recorded, as the controller sees it."""

    tests: dict[str, TestUsage] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def add_test(self, nodeid: str, payload: Mapping[str, Any]) -> TestUsage:
        """Add one test's payload (a retried/re-reported test id adds up)."""
        cells = cells_from_payload(payload)
        entry = self.tests.get(nodeid)
        if entry is None:
            entry = self.tests[nodeid] = TestUsage({})
        for key, usage in cells.items():
            entry.cells[key] = entry.cells[key] + usage if key in entry.cells else usage
        entry.status = str(payload.get("status", entry.status))
        if payload.get("budget") is not None:
            entry.budget = dict(payload["budget"])
        for note, count in payload.get("notes", {}).items():
            self.notes[note] = self.notes.get(note, 0) + int(count)
        return entry

    def add_session(self, payload: Mapping[str, Any]) -> None:
        """Usage recorded outside any test (one payload per process)."""
        if payload.get("cells") or payload.get("notes"):
            entry = self.add_test(SESSION_BUCKET, {**payload, "status": "session"})
            if not entry.cells:
                del self.tests[SESSION_BUCKET]

    @property
    def totals(self) -> Usage:
        return sum((t.usage for t in self.tests.values()), Usage())

    def cells(self) -> dict[tuple[str, str], Usage]:
        out: dict[tuple[str, str], Usage] = {}
        for test in self.tests.values():
            for key, usage in test.cells.items():
                out[key] = out[key] + usage if key in out else usage
        return out

    def by_model(self) -> dict[str, Usage]:
        return self._group(0)

    def by_operation(self) -> dict[str, Usage]:
        return self._group(1)

    def _group(self, index: int) -> dict[str, Usage]:
        out: dict[str, Usage] = {}
        for test in self.tests.values():
            for key, usage in test.cells.items():
                add_into(out, key[index], usage)
        return out

    def __bool__(self) -> bool:
        return bool(self.tests or self.notes)

    def to_report(
        self,
        *,
        pricing: Mapping[str, str],
        violations: list[dict[str, Any]] | None = None,
        baseline: Mapping[str, Any] | None = None,
        passed: bool = True,
        created: datetime | None = None,
    ) -> dict[str, Any]:
        created = created or datetime.now(timezone.utc)
        return {
            "schema": REPORT_SCHEMA,
            "created": created.isoformat(timespec="seconds"),
            "totals": self.totals.to_dict(),
            "tests": {nodeid: self.tests[nodeid].to_dict() for nodeid in sorted(self.tests)},
            "baseline": dict(baseline) if baseline is not None else None,
            "violations": list(violations or []),
            "pricing": dict(pricing),
            "passed": passed,
            "notes": [format_note(n, c) for n, c in sorted(self.notes.items())],
        }


def format_note(note: str, count: int) -> str:
    return note if count == 1 else f"{note} (x{count})"
