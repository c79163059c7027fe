"""One run's usage, test by test, and the report built from it (pure: no pytest).

Each test arrives once, as the built-in payload shipped on its teardown report, so serial runs
and xdist runs feed this the same data and produce the same report. A test run again through
the normal protocol (pytest-rerunfailures) arrives once per attempt, the later ones marked
``rerun``: its figure is its last attempt's, and the earlier ones go to the ``<reruns>`` bucket.
Each process ships its buckets (``<session>``, ``<fixture NAME>``) when it ends.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

import msgspec

from .buckets import BUCKET_STATUS, CONFIRMATION_BUCKET, RERUNS_BUCKET, SESSION_BUCKET
from .fmt import some
from .sums import UNTRACKED, total
from .tracker import cells_from_payload
from .usage import EMPTY, Cell, Usage, add_into, group

if TYPE_CHECKING:  # the records are loaded when the run ends
    from .records import TestRecord, Violation
    from .report import Report


#: The figures a confirmed test keeps samples of.
SAMPLED_FIGURES = ("input_tokens", "output_tokens", "calls")


class TestUsage(msgspec.Struct):
    """One test's usage as the run adds it up (a msgspec struct, like the records: a
    dataclass costs ten times more to define, and a run that records defines it)."""

    __test__ = False  # not a pytest test class

    cells: dict[Cell, Usage]
    status: str = "passed"
    #: The test's BudgetRecord as shipped (built-in types), when it has limits.
    budget: dict[str, Any] | None = None
    #: The usage of each confirmation attempt (``--tokenbudget-confirm``), in order.
    confirmations: list[Usage] = msgspec.field(default_factory=list)

    @property
    def usage(self) -> Usage:
        return total(self.cells.values())

    def with_samples(self, record: TestRecord) -> TestRecord:
        """``record`` (``records.test_record`` of this test) with its confirmation samples."""
        if not self.confirmations:
            return record
        from .records import make_samples

        runs = [self.usage, *self.confirmations]
        samples = {name: [getattr(u, name) for u in runs] for name in SAMPLED_FIGURES}
        return msgspec.structs.replace(record, samples=make_samples(samples))


class RunUsage(msgspec.Struct):
    """Everything one run recorded, as the controller sees it."""

    tests: dict[str, TestUsage] = msgspec.field(default_factory=dict)
    notes: dict[str, int] = msgspec.field(default_factory=dict)
    #: Why calls could not be counted: reason -> {test node id: calls}.
    uncounted: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    #: Each confirmed test's extra attempts' usage (``--tokenbudget-confirm``), in order.
    confirmed: dict[str, list[Usage]] = msgspec.field(default_factory=dict)
    #: The model ids that served the run's calls, with their fingerprints (``environment``).
    served: dict[str, set[str]] = msgspec.field(default_factory=dict)

    def add_test(self, nodeid: str, payload: Mapping[str, Any]) -> None:
        """Add one test's payload: a rerun replaces the earlier attempts (they go to the
        ``<reruns>`` bucket; a last attempt that recorded nothing leaves no entry, as a run
        without reruns would); a test id that repeats otherwise (``--keep-duplicates``) adds
        up."""
        rerun = payload.get("rerun")
        if rerun:
            earlier = self.tests.pop(nodeid, None)
            if earlier is not None and earlier.cells:
                self.add_cells(RERUNS_BUCKET, earlier.cells, BUCKET_STATUS)
            if rerun == UNTRACKED:
                return
        entry = self.add_cells(nodeid, cells_from_payload(payload), "passed")
        entry.status = str(payload.get("status", entry.status))
        if payload.get("budget") is not None:
            entry.budget = dict(payload["budget"])
        if payload.get("notes") or payload.get("uncounted"):
            self.add_notes(nodeid, payload)  # most payloads bring none of them
        elif "served" in payload:  # most that record: their models, without fingerprints
            self.add_served(payload["served"])

    def add_confirmation(self, nodeid: str, payload: Mapping[str, Any]) -> None:
        """A confirmation attempt of test ``nodeid``: a sample of the test, its usage billed to
        the ``<confirmation>`` bucket (the test's figures stay its first attempt's)."""
        cells = cells_from_payload(payload)
        self.confirmed.setdefault(nodeid, []).append(sum(cells.values(), EMPTY))
        if cells:
            self.add_cells(CONFIRMATION_BUCKET, cells, BUCKET_STATUS)
        self.add_notes(CONFIRMATION_BUCKET, payload)

    def add_buckets(self, payloads: Mapping[str, Mapping[str, Any]]) -> None:
        """One process's buckets by name (``<session>``, ``<fixture NAME>``); an empty one
        brings only its notes."""
        for name, payload in payloads.items():
            status = "session" if name == SESSION_BUCKET else BUCKET_STATUS
            if not self.add_cells(name, cells_from_payload(payload), status).cells:
                del self.tests[name]
            self.add_notes(name, payload)

    def add_cells(self, nodeid: str, cells: Mapping[Cell, Usage], status: str) -> TestUsage:
        entry = self.tests.get(nodeid)
        if entry is None:  # its cells as they come (no addition)
            entry = self.tests[nodeid] = TestUsage(dict(cells), status)
            return entry
        for key, usage in cells.items():
            add_into(entry.cells, key, usage)
        return entry

    def add_notes(self, nodeid: str, payload: Mapping[str, Any]) -> None:
        """The notes of test (or bucket) ``nodeid``'s payload, and why its calls were not
        counted."""
        for note, count in payload.get("notes", {}).items():
            self.notes[note] = self.notes.get(note, 0) + int(count)
        for reason, count in payload.get("uncounted", {}).items():
            tests = self.uncounted.setdefault(reason, {})
            tests[nodeid] = tests.get(nodeid, 0) + int(count)
        self.add_served(payload.get("served", {}))

    def add_served(self, served: Mapping[str, list[str]]) -> None:
        """The model ids that served a payload's calls, each with its fingerprints."""
        known = self.served
        for model, fingerprints in served.items():
            seen = known.get(model)
            if seen is None:
                seen = known[model] = set()
            if fingerprints:
                seen.update(fingerprints)

    @property
    def totals(self) -> Usage:
        # every cell of every test, added field by field at C speed (no Usage per addition)
        return total([u for t in self.tests.values() for u in t.cells.values()])

    def cells(self) -> dict[Cell, Usage]:
        found: dict[Cell, list[Usage]] = {}
        for test in self.tests.values():
            for key, usage in test.cells.items():
                found.setdefault(key, []).append(usage)
        return {key: total(usages) for key, usages in found.items()}

    def by_model(self) -> dict[str, Usage]:
        return group(self.cells(), "model")

    def breakdowns(self) -> tuple[dict[str, Usage], dict[str, Usage]]:
        """The run's usage by model and by operation (what the report's records add up to)."""
        cells = self.cells()
        return group(cells, "model"), group(cells, "operation")

    def violations(self) -> list[Violation]:
        """The per-test budget violations, in test id order."""
        from .records import Violation

        return [
            msgspec.convert(v, Violation)
            for nodeid in sorted(self.tests)
            for v in (self.tests[nodeid].budget or {}).get("violations", [])
        ]

    def __bool__(self) -> bool:
        return bool(self.tests or self.notes)

    def to_report(
        self,
        *,
        pricing: Mapping[str, str],
        created: datetime | None = None,
        sdks: Mapping[str, str] | None = None,
    ) -> Report:
        """The run's report, without comparison or verdict (the gate adds those); ``sdks``:
        the SDK versions installed (``environment.sdk_versions``), for its ``environment``."""
        from .environment import Environment
        from .records import figures, test_record
        from .report import Report

        created = created or datetime.now(timezone.utc)
        for nodeid, extra in self.confirmed.items():
            if nodeid in self.tests:
                self.tests[nodeid].confirmations = extra
        return Report(
            tests={
                nodeid: entry.with_samples(test_record(entry.cells, entry.status, entry.budget))
                for nodeid, entry in sorted(self.tests.items())
            },
            totals=figures(self.totals),
            created=created.isoformat(timespec="seconds"),
            baseline=None,
            violations=[],
            pricing=dict(pricing),
            passed=True,
            notes=[uncounted_note(r, t) for r, t in sorted(self.uncounted.items())]
            + [format_note(n, c) for n, c in sorted(self.notes.items())],
            environment=Environment(
                {model: sorted(fps) for model, fps in sorted(self.served.items())},
                dict(sdks or {}),
                pricing.get("version"),
            ),
        )


def format_note(note: str, count: int) -> str:
    return note if count == 1 else f"{note} (x{count})"


def uncounted_note(reason: str, tests: Mapping[str, int]) -> str:
    """``tests/test_a.py::test_x: 1 call not counted (REASON)``: the tests that had calls not
    counted for one reason, the first three by name."""
    calls = sum(tests.values())
    return (
        f"{some(sorted(tests))}: {calls:,} call{'s' if calls != 1 else ''} not counted ({reason})"
    )
