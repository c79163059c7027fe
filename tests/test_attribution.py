"""Which tracker a call lands on, and what threads and pool tasks inherit (no pytest run)."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import pytest

from pytest_tokenbudget import threads
from pytest_tokenbudget.attribution import ATTRIBUTION, Attribution, late_note
from pytest_tokenbudget.tracker import TokenTracker


@pytest.fixture
def fresh() -> Iterator[Attribution]:
    """A fresh attribution (the outer run's is put back), thread starts and pools patched."""
    restore = ATTRIBUTION.reset()
    uninstall = threads.install()
    try:
        yield ATTRIBUTION
    finally:
        uninstall()
        restore()


def in_thread(fn: Callable[[], object]) -> object:
    """``fn()`` in a new thread (started here), its result."""
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def test_a_wider_fixture_takes_the_running_tests_place_but_not_its_threads(
    fresh: Attribution,
) -> None:
    fresh.start("t::a")
    test = fresh.tracker()
    bucket = fresh.bucket("<fixture db>")
    assert fresh.bucket("<fixture db>") is bucket
    fresh.fixture = "<fixture db>"
    assert fresh.tracker() is bucket
    assert in_thread(fresh.tracker) is bucket  # started by the fixture: follows the slot
    fresh.fixture = None
    go, seen = threading.Event(), []
    worker = threading.Thread(target=lambda: (go.wait(10), seen.append(fresh.tracker())))
    worker.start()  # started by the test's code: the test's thread
    fresh.fixture = "<fixture db>"
    go.set()
    worker.join()
    assert seen == [test]


def test_an_ended_tests_tracker_forwards_to_the_session_with_a_note(fresh: Attribution) -> None:
    fresh.start("t::a")
    tracker = fresh.tracker()
    tracker.record(input_tokens=5)
    assert fresh.finish() is tracker
    tracker.record(input_tokens=7, model="m")  # e.g. a reply that arrived after the test
    tracker.note("stream closed")
    assert tracker.usage.input_tokens == 5  # its figure is final
    assert fresh.session.usage.input_tokens == 7
    assert fresh.session.notes == {late_note("t::a"): 1, "stream closed": 1}


def test_an_uncounted_call_after_the_end_goes_to_the_session_with_its_reason(
    fresh: Attribution,
) -> None:
    fresh.start("t::a")
    tracker = fresh.tracker()
    tracker.uncounted("no usage", model="m")
    fresh.finish()
    tracker.uncounted("stream cut", model="m")  # e.g. a stream its thread finished later
    assert (tracker.usage.uncounted_calls, tracker.uncounted_reasons) == (1, {"no usage": 1})
    session = fresh.session
    assert (session.usage.uncounted_calls, session.uncounted_reasons) == (1, {"stream cut": 1})
    assert session.notes == {late_note("t::a"): 1}


def test_every_tracker_reads_the_runs_aliases_and_hook_when_it_counts(
    fresh: Attribution,
) -> None:
    session = fresh.session  # made before the plugin sets them
    told: list[tuple[str, int]] = []
    fresh.aliases = {"my-deployment": "gpt-4o"}
    fresh.recorded = lambda nodeid, usage: told.append((nodeid, usage.input_tokens))
    session.record(input_tokens=2, model="my-deployment")
    fresh.start("t::a")
    tracker = fresh.tracker()
    tracker.record(input_tokens=3, model="my-deployment")
    fresh.finish()
    tracker.record(input_tokens=5, model="my-deployment")  # forwarded: told once, as <session>
    assert list(session.by_model) == list(tracker.by_model) == ["gpt-4o"]
    assert told == [("<session>", 2), ("t::a", 3), ("<session>", 5)]
    alone = TokenTracker("alone")  # made by hand: in no run's report, so of no run
    alone.record(input_tokens=1, model="my-deployment")
    assert (list(alone.by_model), len(told)) == (["my-deployment"], 3)


def test_a_thread_of_an_ended_test_bills_the_session_never_the_next_test(
    fresh: Attribution,
) -> None:
    fresh.start("t::a")
    go, done = threading.Event(), threading.Event()

    def later() -> None:
        go.wait(10)
        in_thread(lambda: fresh.tracker().record(input_tokens=3))  # its own thread: still a's
        fresh.tracker().record(input_tokens=4)
        done.set()

    threading.Thread(target=later).start()
    fresh.finish()
    fresh.start("t::b")
    go.set()
    assert done.wait(10)
    assert fresh.current is None  # t::b got nothing
    assert fresh.session.usage.input_tokens == 7
    assert fresh.session.notes == {late_note("t::a"): 2}


def test_threads_started_outside_any_test_follow_the_running_test(fresh: Attribution) -> None:
    go, done, seen = threading.Event(), threading.Event(), []

    def server() -> None:
        go.wait(10)
        seen.append(fresh.tracker())
        seen.append(in_thread(fresh.tracker))  # a thread it starts: no test's either
        done.set()

    threading.Thread(target=server).start()
    fresh.start("t::a")
    go.set()
    assert done.wait(10)
    assert seen == [fresh.tracker(), fresh.tracker()]


def test_labels_belong_to_the_thread_or_task_that_opened_them(fresh: Attribution) -> None:
    tracker = TokenTracker("t")
    opened, recorded = threading.Event(), threading.Event()

    def unlabelled() -> None:
        opened.wait(10)
        tracker.record(input_tokens=2)
        recorded.set()

    other = threading.Thread(target=unlabelled)
    other.start()  # before any label is open
    with ThreadPoolExecutor(1) as pool, tracker.operation("plan"):
        opened.set()
        assert recorded.wait(10)
        in_thread(lambda: tracker.record(input_tokens=3))
        pool.submit(tracker.record, input_tokens=5).result()
        with tracker.operation("rank"):
            pool.submit(tracker.record, input_tokens=7).result()
    other.join()
    assert {k: u.input_tokens for k, u in tracker.by_operation.items()} == {
        "(none)": 2,
        "plan": 8,
        "rank": 7,
    }


def test_installs_nest_the_last_undoes_and_the_pool_is_patched_only_once_imported() -> None:
    code = """
import sys, threading
from pytest_tokenbudget import threads
start = threading.Thread.start
first, second = threads.install(), threads.install()
assert threading.Thread.start is not start
assert "concurrent.futures.thread" not in sys.modules  # never imported for this
from concurrent.futures import ThreadPoolExecutor
submit = ThreadPoolExecutor.__dict__["submit"]
assert submit.__wrapped__ is not None  # patched right after its import
first(); first()  # an undo counts once
assert threading.Thread.start is not start
second()
assert threading.Thread.start is start
assert ThreadPoolExecutor.__dict__["submit"] is submit.__wrapped__
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("ok\n", "")
