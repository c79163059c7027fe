"""Per-test pytest hooks, registered by role so every test pays for the fewest hooks.

A serial run or an xdist worker gets ``TestBounds``: each test's start (``logstart``), the only
per-test hook of a run that records nothing. From the first test's tracker on (or from the
start, when limits, spend protection or confirmation need them), ``watch.py``'s hooks watch
each test's reports and ship its usage on its teardown report: a plain run's one ``logreport``
hook, or a ``makereport`` wrapper for a run that checks its tests. An xdist controller gets
only ``logreport`` (which sums what the workers shipped). Serial and xdist runs add up the very
same payloads. Wider fixtures' usage goes to their buckets (``WideFixtures``, the base of
``TestBounds``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Generator

import pytest

from ..attribution import ATTRIBUTION
from ..buckets import FIXTURE_BUCKET
from .hooks import PluginObject

#: The teardown report's attribute that carries a test's usage (built-in types only).
REPORT_ATTR = "tokenbudget"

if TYPE_CHECKING:
    from typing import Mapping, Protocol

    from ..config import Settings
    from ..gate.budget import BudgetExceeded, Limits

    class Owner(Protocol):
        """What the per-test hooks need of the run (the session plugin)."""

        @property
        def settings(self) -> Settings: ...

        @property
        def limits(self) -> Mapping[str, Limits]:
            """Per-test limits by node id."""

        @property
        def bad_markers(self) -> Mapping[str, str]:
            """The error of each malformed marker, by node id."""

        #: The first request spend protection refused in each running test, by node id.
        refusals: dict[str, BudgetExceeded]

        def collect(self, nodeid: str, payload: dict[str, Any]) -> None:
            """A test finished in this process with ``payload``."""

        def confirmed(self, nodeid: str, payload: dict[str, Any]) -> None:
            """A confirmation attempt of a test finished in this process with ``payload``."""

    class Watcher(Protocol):
        """The hooks of a run that watches its tests' reports (``watch.Watching``)."""

        #: The running test's reports so far (None: its earlier phases were not seen).
        reports: list[pytest.TestReport] | None


#: The plugin name of the watching hooks (or, on an xdist controller, ``ControllerHooks``).
TESTS_PLUGIN = "tokenbudget-tests"
#: The plugin name of ``TestBounds`` (each test's start and end, wider fixtures' buckets).
BOUNDS_PLUGIN = "tokenbudget-test-bounds"


class Switch:
    """Attribution to one fixture's bucket (by name: made when something records into it),
    on and back (each ``on`` is followed by ``back``)."""

    __slots__ = ("bucket", "saved")

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.saved: str | None = None

    def on(self) -> None:
        self.saved, ATTRIBUTION.fixture = ATTRIBUTION.fixture, self.bucket

    def back(self) -> None:
        ATTRIBUTION.fixture = self.saved


class WideFixtures(PluginObject):
    """Serial run or xdist worker: usage in a fixture wider than function scope goes to that
    fixture's bucket. Such a fixture is set up by whichever test first needs it, and under xdist
    once per worker: billing that test would make per-test figures differ between serial and
    xdist runs. So while it is set up, and while its own teardown runs, attribution switches to
    ``<fixture NAME>`` (a run total, never a test's figure). Nested ones: the innermost being
    set up or torn down."""

    def __init__(self) -> None:
        #: The function-scoped fixtures set up so far: ``FixtureDef.scope`` is a property over
        #: an enum's ``value`` (about 2,000 instructions), and every test sets up its own.
        self.functions: set[pytest.FixtureDef[Any]] = set()

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        functions = self.functions
        if fixturedef in functions:  # every test's own fixtures: nothing more
            return (yield)
        if fixturedef.scope == "function":  # its scope is read once (it never changes)
            functions.add(fixturedef)
            return (yield)
        switch = Switch(FIXTURE_BUCKET.format(fixturedef.argname))
        # FixtureDef.finish runs its finalizers last in, first out: ``back`` (added before the
        # set-up) after the fixture's own teardown, ``on`` (added after) before it
        fixturedef.addfinalizer(switch.back)
        switch.on()
        try:
            return (yield)
        finally:
            switch.back()
            fixturedef.addfinalizer(switch.on)


class TestBounds(WideFixtures):
    """Serial run or xdist worker: each test's start for attribution (its end is the next
    start, or the run's: ``ATTRIBUTION.close``), and the buckets of wider fixtures: the only
    per-test hooks a suite that never records pays for (a report wrapper would cost it about
    fifteen times more). ``watch`` adds the watching hooks (``watch.Watching``) for good:
    when the first test's tracker is made (``ATTRIBUTION.activate``), or before any test when
    limits, spend protection or confirmation need every report."""

    def __init__(
        self, watcher: Callable[[], Watcher], pluginmanager: pytest.PytestPluginManager
    ) -> None:
        super().__init__()
        #: Makes the hooks of a run that watches (their module is loaded only by such a run).
        self.watcher = watcher
        #: The hooks it made, once watching began.
        self.hooks: Watcher | None = None
        self.pluginmanager = pluginmanager
        self.watching = False
        self._lock = threading.Lock()
        #: The hook is attribution's own ``start``, with no call in between: it is all that
        #: each test of a run that records nothing costs (a test's end: ``ATTRIBUTION.close``).
        self.pytest_runtest_logstart: Callable[[str], None] = ATTRIBUTION.start

    def watch(self, during_test: bool) -> None:
        """Watch every test's reports from now on (once; from any thread). ``during_test``:
        the running test's earlier phases were not seen (see ``Watching.reports``)."""
        with self._lock:
            if self.watching:
                return
            self.watching = True
        ATTRIBUTION.activate = None
        hooks = self.hooks = self.watcher()
        if during_test:
            hooks.reports = None
        self.pluginmanager.register(hooks, TESTS_PLUGIN)


def per_test_hooks(
    watcher: Callable[[], Watcher], pluginmanager: pytest.PytestPluginManager, watch: bool
) -> TestBounds:
    """Register a serial run's or xdist worker's per-test hooks: :class:`TestBounds`, handing
    over to the hooks ``watcher`` makes (``watch.Watching``) at once (``watch``) or when the
    first test's tracker is made."""
    bounds = TestBounds(watcher, pluginmanager)
    pluginmanager.register(bounds, BOUNDS_PLUGIN)
    if watch:
        bounds.watch(during_test=False)
    else:
        ATTRIBUTION.activate = lambda: bounds.watch(during_test=True)
    return bounds


def budget_markers(
    items: list[pytest.Item], every: bool
) -> list[tuple[pytest.Item, pytest.Mark | None]]:
    """Each test with a ``token_budget`` marker and its closest one, like
    ``item.get_closest_marker`` but with each parent's read once for all its tests; ``every``:
    the tests without one too (a default limit applies to them). One loop, no call per test:
    collection pays it for every test of every run."""
    found: list[tuple[pytest.Item, pytest.Mark | None]] = []
    inherited: dict[object, pytest.Mark | None] = {}
    for item in items:
        marker = None
        for own in item.own_markers:
            if own.name == "token_budget":
                marker = own
                break
        else:
            parent = item.parent
            if parent is not None:
                if parent not in inherited:
                    inherited[parent] = parent.get_closest_marker("token_budget")
                marker = inherited[parent]
        if marker is not None or every:
            found.append((item, marker))
    return found


class ControllerHooks(PluginObject):
    """xdist controller: sum what the workers shipped on their teardown reports."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, REPORT_ATTR, None)
        if payload is not None and report.when == "teardown":
            self.owner.collect(report.nodeid, payload)
