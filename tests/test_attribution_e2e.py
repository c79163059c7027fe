"""Every call lands on the right figure: wider-scope fixtures fill buckets of their own, reruns
keep the last attempt, threads keep their test and label. Serial and ``-n 2`` give the same
per-test figures, and a baseline recorded one way holds the other way."""

from __future__ import annotations

from typing import Any

import pytest

from fakellm import FakeLLM
from runs import DIST, read_json, run_report

pytest.importorskip("openai")

ASK = """
import json, os, pathlib
import openai
import pytest

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
HERE = pathlib.Path(__file__).parent

def ask(input_tokens):
    with openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-fake-reply": json.dumps(
                {"input_tokens": input_tokens, "output_tokens": 1})},
        )

def ran(what):
    '''Leave a mark naming this process: which workers set up what.'''
    worker = os.environ.get("PYTEST_XDIST_WORKER", "serial")
    (HERE / f"ran-{what}-{worker}").write_text("")
"""

FIXTURES = """
from ask import ask, ran
import pytest

@pytest.fixture(scope="session")
def index():
    ran("index")
    ask(1000)

@pytest.fixture(scope="session")
def lazy():
    ask(7000)

@pytest.fixture(scope="module")
def module_client(request):
    ran("module_client")
    ask(300)
    request.getfixturevalue("lazy")  # set up inside this one: its own bucket, then back
    ask(300)
    yield
    ask(500)

@pytest.fixture(scope="class")
def per_class():
    ran("per_class")
    ask(40)
    yield
    ask(60)
"""

SUITE = {
    "test_index": """
        import pytest
        from ask import ask

        @pytest.mark.parametrize("i", range(6))
        def test_uses_index(index, i):
            ask(10 + i)
        """,
    "test_module": """
        from ask import ask

        def test_first(module_client):
            ask(20)

        def test_second(module_client):
            ask(21)

        class TestClass:
            def test_one(self, per_class):
                ask(30)

            def test_two(self, per_class):
                ask(31)
        """,
}


def workers(pytester: pytest.Pytester, what: str) -> int:
    """How many processes set up ``what`` (each left a mark)."""
    return len(list(pytester.path.glob(f"ran-{what}-*")))


def figures(entry: dict[str, Any]) -> tuple[int, int, int]:
    return entry["input_tokens"], entry["output_tokens"], entry["calls"]


def own_figures(report: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {n: figures(t) for n, t in report["tests"].items() if not n.startswith("<")}


def make_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ask=ASK)
    pytester.makeconftest(FIXTURES)
    pytester.makepyfile(**SUITE)


def test_wider_fixtures_fill_their_own_buckets_so_serial_and_xdist_agree(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    make_suite(pytester)
    result, serial = run_report(pytester, "--tokenbudget-update-baseline", json="serial.json")
    result.assert_outcomes(passed=10)
    tests = serial["tests"]
    # each test: its own call only, whichever test set a fixture up or tore it down
    assert figures(tests["test_index.py::test_uses_index[0]"]) == (10, 1, 1)
    assert figures(tests["test_index.py::test_uses_index[5]"]) == (15, 1, 1)
    assert figures(tests["test_module.py::test_first"]) == (20, 1, 1)
    assert figures(tests["test_module.py::test_second"]) == (21, 1, 1)
    assert figures(tests["test_module.py::TestClass::test_one"]) == (30, 1, 1)
    assert figures(tests["test_module.py::TestClass::test_two"]) == (31, 1, 1)
    # set-up and teardown in the fixture's bucket; one set up inside another: its own
    assert figures(tests["<fixture index>"]) == (1000, 1, 1)
    assert figures(tests["<fixture module_client>"]) == (1100, 3, 3)
    assert figures(tests["<fixture lazy>"]) == (7000, 1, 1)
    assert figures(tests["<fixture per_class>"]) == (100, 2, 2)
    assert tests["<fixture index>"]["status"] == "bucket"
    assert serial["totals"]["input_tokens"] == 9200 + sum(range(10, 16)) + 20 + 21 + 30 + 31
    assert serial["totals"]["calls"] == fake_llm.totals()["calls"] == 10 + 7
    result.stdout.fnmatch_lines(["fixture index, wider than a test (<fixture index>): 1,001 *"])
    baseline = read_json(pytester, "tokenbudget-baseline.json")
    assert sorted(baseline["tests"]) == sorted(own_figures(serial))  # buckets are not stored

    for mark in pytester.path.glob("ran-*"):
        mark.unlink()
    result, xdist = run_report(pytester, "-n", "2", json="xdist.json")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=10)
    assert own_figures(xdist) == own_figures(serial)
    comparison = xdist["baseline"]
    assert (comparison["regressions"], comparison["new"], comparison["missing"]) == ([], [], [])
    assert not comparison["total"]["regressed"]
    # once per process that needed it
    tests = xdist["tests"]
    assert workers(pytester, "index") == 2  # 6 tests of one file: both workers get some
    assert figures(tests["<fixture index>"]) == (2000, 2, 2)
    modules = workers(pytester, "module_client")
    assert figures(tests["<fixture module_client>"]) == (1100 * modules, 3 * modules, 3 * modules)
    assert figures(tests["<fixture lazy>"]) == (7000 * modules, modules, modules)
    classes = workers(pytester, "per_class")
    assert figures(tests["<fixture per_class>"]) == (100 * classes, 2 * classes, 2 * classes)


RERUN = """
from ask import HERE, ask

def test_flaky():
    ask(100)
    first = not (HERE / "attempted").exists()
    (HERE / "attempted").write_text("")
    assert not first, "fails on its first attempt only"

def test_quiet_on_rerun():
    if not (HERE / "quiet").exists():
        (HERE / "quiet").write_text("")
        ask(50)
        raise AssertionError("fails on its first attempt only")

def test_steady():
    ask(20)
"""


@pytest.mark.parametrize(
    "shape", [[], ["--junitxml=j.xml"]], ids=["logreport", "makereport"]
)  # a plain run's watching knows a rerun by its test id, a run with checks by its item
@pytest.mark.parametrize("dist", DIST)
def test_a_rerun_test_keeps_its_last_attempt_and_the_earlier_go_to_reruns(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str], shape: list[str]
) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(ask=ASK, test_rerun=RERUN)
    for name in ("attempted", "quiet"):  # the baseline run: no test fails
        (pytester.path / name).write_text("")
    result = pytester.runpytest("--tokenbudget-update-baseline")
    result.assert_outcomes(passed=3)
    for name in ("attempted", "quiet"):
        (pytester.path / name).unlink()
    fake_llm.clear()

    result, report = run_report(pytester, "--reruns", "1", *dist, *shape)
    assert result.parseoutcomes() == {"passed": 3, "rerun": 2}
    assert result.ret == pytest.ExitCode.OK  # no false regression against the baseline
    tests = report["tests"]
    assert figures(tests["test_rerun.py::test_flaky"]) == (100, 1, 1)
    assert tests["test_rerun.py::test_flaky"]["status"] == "passed"
    assert "test_rerun.py::test_quiet_on_rerun" not in tests  # its last attempt used nothing
    assert figures(tests["test_rerun.py::test_steady"]) == (20, 1, 1)
    assert figures(tests["<reruns>"]) == (150, 2, 2)
    assert report["totals"]["input_tokens"] == 270 == fake_llm.totals()["input_tokens"]
    comparison = report["baseline"]
    assert comparison["regressions"] == comparison["new"] == comparison["missing"] == []
    result.stdout.fnmatch_lines(["earlier attempts of rerun tests (<reruns>): 152 tokens *"])


def test_a_test_id_repeated_without_a_rerun_adds_up(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    """``--keep-duplicates`` runs another item with the same id: not a rerun, so both count."""
    pytester.makepyfile(ask=ASK, test_twice="from ask import ask\ndef test_it(): ask(10)\n")
    result, report = run_report(pytester, "test_twice.py", "test_twice.py", "--keep-duplicates")
    result.assert_outcomes(passed=2)
    assert figures(report["tests"]["test_twice.py::test_it"]) == (20, 2, 2)
    assert "<reruns>" not in report["tests"]


THREADS = """
import threading
from concurrent.futures import ThreadPoolExecutor
from ask import ask

def by_operation(token_tracker):
    return {op: u.input_tokens for op, u in token_tracker.by_operation.items()}

def test_labels_belong_to_their_thread(token_tracker):
    opened, unlabelled_done = threading.Event(), threading.Event()

    def labelled():
        with token_tracker.operation("plan"):
            opened.set()
            assert unlabelled_done.wait(10)
            ask(1)

    def unlabelled():  # runs while "plan" is open in the other thread
        assert opened.wait(10)
        ask(2)
        unlabelled_done.set()

    threads = [threading.Thread(target=labelled), threading.Thread(target=unlabelled)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert by_operation(token_tracker) == {"plan": 1, "(none)": 2}

def test_new_threads_and_pool_tasks_inherit_the_label(token_tracker):
    with ThreadPoolExecutor(2) as pool:
        pool.submit(ask, 4).result()  # its worker starts here, outside any label
        with token_tracker.operation("retrieve"):
            t = threading.Thread(target=ask, args=(8,))
            t.start()
            t.join()
            pool.submit(ask, 16).result()
            with token_tracker.operation("rank"):
                pool.submit(ask, 32).result()
        pool.submit(ask, 64).result()
    assert by_operation(token_tracker) == {"(none)": 68, "retrieve": 24, "rank": 32}
"""


@pytest.mark.parametrize("dist", DIST)
def test_operation_labels_belong_to_the_thread_that_opened_them(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(ask=ASK, test_threads=THREADS)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=2)
    ops = report["tests"]["test_threads.py::test_labels_belong_to_their_thread"]["by_operation"]
    assert {op: o["input_tokens"] for op, o in ops.items()} == {"plan": 1, "(none)": 2}


LATE = """
import threading
from ask import ask

go, done = threading.Event(), threading.Event()

def test_a():
    def later():
        assert go.wait(10)
        ask(700)
        done.set()
    threading.Thread(target=later).start()
    ask(1)

def test_b():
    go.set()  # test_a has ended: its thread calls now, while this test runs
    assert done.wait(10)
"""


@pytest.mark.parametrize("dist", DIST)
def test_a_thread_calling_after_its_test_ended_bills_the_session_never_the_next_test(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(ask=ASK, test_late=LATE)
    dist = [*dist, "--dist=loadfile"] if dist else []  # both tests in one process, in order
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=2)
    tests = report["tests"]
    assert figures(tests["test_late.py::test_a"]) == (1, 1, 1)
    assert "test_late.py::test_b" not in tests
    assert figures(tests["<session>"]) == (700, 1, 1)
    note = "test_late.py::test_a: a thread it started recorded usage after it ended: in <session>"
    assert note in report["notes"]
    result.stdout.fnmatch_lines([f"note: {note}"])
