"""The floor of the ``record()`` row: a pytest plugin doing only what PRODUCT.md requires of a
manual record and of a test that records, the least way, for ``overhead_instructions.py`` to
measure as it measures this plugin (``-p contract_floor -p no:tokenbudget``).

Each ``record(...)`` checks its figures (bad ones raise ValueError), prices the call at its
model's flat rates, takes the operation label in force in its thread or task, and adds it to
the test's (model, operation) sums under a lock. Each test's sums leave on its teardown report
(its status read from the call report), and the run ends with a JSON report (sorted keys,
2-space indent, msgspec's C encoder) where each test has its totals, ``by_model``,
``by_operation`` and ``status``. Nothing else: no capture, aliases, deduplication, late
records, buckets, budgets, baseline, summary or xdist. Not a product: a yardstick.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any, Generator

import msgspec
import pytest

from pytest_tokenbudget.usage import TOKEN_FIELDS

OPERATION: ContextVar[str | None] = ContextVar("floor_operation", default=None)
#: pico-USD per input and output token.
RATES = {"gpt-4o-mini": (150_000, 600_000)}
#: The figures it keeps: the token counts, calls and cost (named as this plugin names them).
FIELDS = (*TOKEN_FIELDS, "calls", "cost_pico")
MAX_COUNT = 10**12


class Tracker:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self.lock = threading.Lock()
        self.cells: dict[tuple[str, str], list[int]] = {}

    def record(
        self,
        response: object = None,
        /,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        model: str | None = None,
        operation: str | None = None,
        response_id: str | None = None,
        cost_usd: float | None = None,
    ) -> None:
        if not (
            type(input_tokens)
            is type(output_tokens)
            is type(cache_read_tokens)
            is type(cache_write_tokens)
            is type(reasoning_tokens)
            is int
            and (cache_read_tokens | cache_write_tokens | reasoning_tokens) >= 0
            and cache_read_tokens + cache_write_tokens <= input_tokens <= MAX_COUNT
            and reasoning_tokens <= output_tokens <= MAX_COUNT
            and (model is None or type(model) is str)
            and (operation is None or type(operation) is str)
        ):
            raise ValueError("record(): bad figures")
        rates = RATES.get(model) if model is not None else None
        cost = 0 if rates is None else input_tokens * rates[0] + output_tokens * rates[1]
        key = (model or "(none)", operation or OPERATION.get() or "(none)")
        self.lock.acquire()
        try:
            held = self.cells.get(key)
            if held is None:
                held = self.cells[key] = [0] * len(FIELDS)
            held[0] += input_tokens
            held[1] += output_tokens
            held[2] += cache_read_tokens
            held[3] += cache_write_tokens
            held[4] += reasoning_tokens
            held[5] += 1
            held[6] += cost
        finally:
            self.lock.release()


_running: list[Tracker] = []
_tests: dict[str, tuple[dict[tuple[str, str], list[int]], str]] = {}


@pytest.fixture
def token_tracker(request: pytest.FixtureRequest) -> Tracker:
    tracker = Tracker(request.node.nodeid)
    _running.append(tracker)
    return tracker


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[STATUS] = report.outcome
    elif report.when == "teardown" and _running:
        tracker = _running.pop()
        with tracker.lock:
            cells = {key: list(sums) for key, sums in tracker.cells.items()}
        _tests[tracker.nodeid] = (cells, item.stash.get(STATUS, report.outcome))
    return report


STATUS = pytest.StashKey[str]()


def _group(cells: dict[tuple[str, str], list[int]], part: int) -> dict[str, dict[str, int]]:
    sums: dict[str, list[int]] = {}
    for key, figures in cells.items():
        into = sums.setdefault(key[part], [0] * len(FIELDS))
        into[:] = map(int.__add__, into, figures)
    return {name: dict(zip(FIELDS, figures)) for name, figures in sums.items()}


def pytest_sessionfinish(session: pytest.Session) -> None:
    tests: dict[str, dict[str, Any]] = {}
    run = [0] * len(FIELDS)
    for nodeid, (cells, status) in _tests.items():
        total = [0] * len(FIELDS)
        for figures in cells.values():
            total[:] = map(int.__add__, total, figures)
        run[:] = map(int.__add__, run, total)
        entry: dict[str, Any] = dict(zip(FIELDS, total))
        entry.update(by_model=_group(cells, 0), by_operation=_group(cells, 1), status=status)
        tests[nodeid] = entry
    data = msgspec.json.encode({"tests": tests, "totals": dict(zip(FIELDS, run))}, order="sorted")
    path = session.config.rootpath / "floor-report.json"
    path.write_bytes(msgspec.json.format(data, indent=2) + b"\n")
