"""``--tokenbudget-confirm=K``: a test that looks regressed runs again, up to K times, in the
same session, serially and on xdist workers alike (pytest glue).

After a test's normal protocol, its usage is judged against the baseline's samples
(:mod:`..gate.noise`); while the verdict could still change, the item runs again through
pytest's own ``runtestprotocol`` (as pytest-rerunfailures re-runs one), not logged: its
outcome never counts, its payload is a sample of the test and its usage goes to the
``<confirmation>`` bucket. A worker ships its samples to the controller when it finishes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator, Protocol

import pytest
from _pytest.runner import runtestprotocol

from ..attribution import ATTRIBUTION
from ..tracker import cells_from_payload
from ..usage import EMPTY, Usage
from .hooks import PluginObject

if TYPE_CHECKING:
    from ..config import Settings
    from ..gate.verdicts import NoiseGate
    from ..records import TestRecord
    from .watch import PerTestHooks


class Owner(Protocol):
    """What confirmation needs of the run (the session plugin)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def baseline_path(self) -> Path: ...

    def confirmed(self, nodeid: str, payload: dict[str, Any]) -> None:
        """A confirmation attempt finished in this process with ``payload``."""


class Confirmation(PluginObject):
    """Serial run or xdist worker: re-run each test that looks regressed."""

    def __init__(self, owner: Owner, hooks: PerTestHooks) -> None:
        self.owner = owner
        self.hooks = hooks
        self.confirm: int = owner.settings["confirm"]
        self.gate: NoiseGate | None = None
        self.baseline: dict[str, TestRecord] | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        result = yield
        first = self.hooks.shipped
        old = self.baseline_of(item)
        if old is not None and first is not None and not first.get("rerun"):
            runs = [usage_of(first)]
            while self.wants_more(item.nodeid, old, runs):
                runs.append(self.run_again(item, nextitem))
        return result

    def baseline_of(self, item: pytest.Item) -> TestRecord | None:
        if self.baseline is None:
            self.load(item.session)
        assert self.baseline is not None
        return self.baseline.get(item.nodeid)

    def load(self, session: pytest.Session) -> None:
        from ..files.baseline import load_baseline
        from ..files.codec import BaselineError
        from ..gate.verdicts import NoiseGate
        from ..report import tests_only

        self.baseline = {}
        try:  # a corrupt baseline is the controller's to report
            baseline = load_baseline(self.owner.baseline_path, check=False)
        except BaselineError:
            return
        if baseline is None:
            return
        ran = {item.nodeid for item in session.items}
        common = {n: rec for n, rec in tests_only(baseline.tests).items() if n in ran}
        metrics = self.owner.settings["regression_metric"].split(",")
        gate = NoiseGate(common, metrics, self.confirm)
        if gate.figures:
            self.baseline, self.gate = common, gate

    def wants_more(self, nodeid: str, old: TestRecord, runs: list[Usage]) -> bool:
        from ..gate.regression import as_fraction
        from ..gate.verdicts import looks_open

        assert self.gate is not None
        settings = self.owner.settings
        return looks_open(
            self.gate,
            nodeid,
            old,
            runs,
            as_fraction(settings["regression"]),
            settings["regression_min_tokens"],
        )

    def run_again(self, item: pytest.Item, nextitem: pytest.Item | None) -> Usage:
        self.hooks.confirming = True
        try:
            ATTRIBUTION.start(item.nodeid)  # as TestBounds' logstart does for a logged run
            runtestprotocol(item, nextitem=nextitem, log=False)
        finally:
            self.hooks.confirming = False
        shipped = self.hooks.shipped
        if shipped is None:  # it recorded nothing this time: a sample of zeros
            self.owner.confirmed(item.nodeid, {"cells": []})
            return EMPTY
        return usage_of(shipped)


def usage_of(payload: dict[str, Any]) -> Usage:
    return sum(cells_from_payload(payload).values(), EMPTY)
