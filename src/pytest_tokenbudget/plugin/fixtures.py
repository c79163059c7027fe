"""Usage in a fixture wider than function scope goes to that fixture's bucket.

Such a fixture is set up by whichever test first needs it, and under xdist once per worker:
billing that test would make per-test figures differ between serial and xdist runs. So while
it is set up, and while its own teardown runs, attribution switches to ``<fixture NAME>`` (a
run total, never a test's figure). Nested ones: the innermost being set up or torn down.
"""

from __future__ import annotations

from typing import Any, Generator

import pytest

from ..attribution import ATTRIBUTION
from ..buckets import FIXTURE_BUCKET
from .hooks import PluginObject


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
    """Serial run or xdist worker: attribute wider-scope fixtures' usage to their buckets."""

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
