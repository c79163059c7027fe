"""A suite that records nothing pays only for each test's start and end (issue 26): no report
hook, no accounting loaded. Watching each test's reports starts with the first test's tracker,
which may be made in any phase of any test, and no figure or status changes for it."""

from __future__ import annotations

import ast

import pytest

from fakellm import FakeLLM
from runs import DIST, run_report
from test_attribution_e2e import ASK

pytest.importorskip("openai")

#: Each process (serial run, xdist controller and workers) writes which plugins see each report
#: (``pytest_runtest_makereport`` or ``pytest_runtest_logreport``) and which of our modules it
#: loaded.
SEEN = """
import sys

def pytest_sessionfinish(session):
    names = [
        f"{hook}:{impl.plugin_name}"
        for hook in ("makereport", "logreport")
        for impl in getattr(session.config.hook, "pytest_runtest_" + hook).get_hookimpls()
    ]
    loaded = sorted(m for m in sys.modules if m.startswith(("pytest_tokenbudget", "msgspec")))
    who = getattr(session.config, "workerinput", {}).get("workerid", "main")
    (session.config.rootpath / f"seen-{who}.txt").write_text(repr((names, loaded)))
"""

#: Loaded by a run that records something (or has limits): never by one that records nothing.
ACCOUNTING = (
    "msgspec",
    "pytest_tokenbudget.tracker",
    "pytest_tokenbudget.usage",
    "pytest_tokenbudget.sums",
    "pytest_tokenbudget.pricing.table",
    "pytest_tokenbudget.run",
    "pytest_tokenbudget.records",
)


def seen(pytester: pytest.Pytester) -> dict[str, tuple[list[str], list[str]]]:
    found = {}
    for path in pytester.path.glob("seen-*.txt"):
        found[path.stem[5:]] = ast.literal_eval(path.read_text())
    return found


def run_one_call(pytester: pytest.Pytester, conftest: str, *args: str) -> None:
    """A run (in a subprocess) whose one test makes one call, with ``conftest``."""
    pytester.makeconftest(conftest)
    pytester.makepyfile(ask=ASK)
    pytester.makepyfile(test_calls="from ask import ask\ndef test_a():\n    ask(3)\n")
    result, report = run_report(pytester, *args, subprocess=True)
    result.assert_outcomes(passed=1)
    assert report["tests"]["test_calls.py::test_a"]["input_tokens"] == 3


@pytest.mark.parametrize("dist", DIST)
def test_a_suite_that_records_nothing_has_no_report_hook_and_loads_no_accounting(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makeconftest(SEEN)
    pytester.makepyfile(test_idle="".join(f"def test_{i}():\n    pass\n" for i in range(6)))
    result = pytester.runpytest_subprocess(*dist)
    result.assert_outcomes(passed=6)
    processes = seen(pytester)
    assert "main" in processes  # and under xdist the workers that wrote theirs in time
    assert not dist or any(who.startswith("gw") for who in processes)
    for who, (names, loaded) in processes.items():
        if who != "main" or not dist:  # an xdist controller sums what its workers report
            assert not [name for name in names if "tokenbudget" in name], who
        assert not set(ACCOUNTING) & set(loaded), who


#: Each process writes, for every plugin object of ours, what ``dir()`` lists and the hooks
#: pluggy registered of it.
LISTED = """
def pytest_sessionfinish(session):
    pm = session.config.pluginmanager
    objects = {
        name: (sorted(dir(plugin)), sorted(c.name for c in pm.get_hookcallers(plugin) or ()))
        for name, plugin in pm.list_name_plugin()
        if name.startswith("tokenbudget-")
    }
    who = getattr(session.config, "workerinput", {}).get("workerid", "main")
    (session.config.rootpath / f"listed-{who}.txt").write_text(repr(objects))
"""


@pytest.mark.parametrize("options", [[], ["--junitxml=j.xml"]])
@pytest.mark.parametrize("dist", DIST)
def test_our_plugin_objects_list_only_their_hooks(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str], options: list[str]
) -> None:
    """pytest looks for fixtures at every name ``dir()`` gives of a registered plugin (about
    200 Python instructions a name): ours list their hooks alone, and every one of them."""
    run_one_call(pytester, LISTED, *dist, *options)
    processes = {p.stem: ast.literal_eval(p.read_text()) for p in pytester.path.glob("listed-*")}
    assert "listed-main" in processes
    names = set()
    for who, objects in processes.items():
        for name, (listed, hooks) in objects.items():
            assert listed == hooks, (who, name)
            names.add(name)
    expected = {"tokenbudget-session", "tokenbudget-tests"}
    assert expected | ({"tokenbudget-xdist"} if dist else {"tokenbudget-test-bounds"}) <= names


def test_our_hookspec_and_entry_point_modules_list_only_what_pytest_reads() -> None:
    """pluggy asks of each name a hookspec module lists whether it is a spec (about 500 Python
    instructions a name) and pytest looks for fixtures at each name of a plugin module."""
    from pytest_tokenbudget import pytest_entry
    from pytest_tokenbudget.plugin import hookspecs

    specs = [name for name in vars(hookspecs) if name.startswith("pytest_")]
    assert dir(hookspecs) == sorted(specs)
    assert len(specs) == 3
    assert dir(pytest_entry) == sorted(pytest_entry.__all__)
    assert "token_tracker" in dir(pytest_entry)


@pytest.mark.parametrize(
    ("options", "hook"),
    [
        ([], "logreport"),  # a plain run: one plain hook, half a wrapper's cost
        (["--junitxml=j.xml"], "makereport"),  # needs the item: the test's properties
        (["--tokenbudget-test-max-tokens=100"], "makereport"),  # fails reports over budget
        (["--tokenbudget-max-tokens=100"], "makereport"),  # spend protection: refusals
        (["--keep-duplicates"], "makereport"),  # a repeated id is not always a rerun
    ],
)
@pytest.mark.parametrize("dist", DIST)
def test_a_recording_suite_watches_reports_from_its_first_tracker(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str], options: list[str], hook: str
) -> None:
    """Watching starts with the first test's tracker, in the run's shape: a plain run's one
    ``logreport`` hook, or a ``makereport`` wrapper for a run that checks its tests' reports."""
    run_one_call(pytester, SEEN, *dist, *options)
    ran_the_test = [
        names for who, (names, _) in seen(pytester).items() if who != "main" or not dist
    ]
    assert any(f"{hook}:tokenbudget-tests" in names for names in ran_the_test)
    for names in ran_the_test:
        assert (
            names.count("makereport:tokenbudget-tests") + names.count("logreport:tokenbudget-tests")
            <= 1
        ), names


@pytest.mark.parametrize("dist", DIST)
def test_trackers_that_count_nothing_load_no_price_table_and_report_its_version(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    """A run whose tests ask for the tracker but make no call prices nothing: its report still
    names the table (source and version), as a run that loaded it does."""
    from pytest_tokenbudget.pricing import load_pricer

    pytester.makeconftest(SEEN)
    pytester.makepyfile(test_t="def test_a(token_tracker):\n    pass\n")
    result, report = run_report(pytester, *dist, subprocess=True)
    result.assert_outcomes(passed=1)
    table = load_pricer()
    assert report["pricing"] == {"source": table.source, "version": table.version}
    assert report["tests"]["test_t.py::test_a"]["calls"] == 0
    for who, (_, loaded) in seen(pytester).items():
        assert "pytest_tokenbudget.pricing.table" not in loaded, who


#: The first usage of each test comes in its fixture's teardown, after the test's outcome: each
#: worker's first tracker is made there, after reports it did not watch.
LATE = """
import pytest
from ask import ask

@pytest.fixture
def judge():
    yield
    ask(7)

def test_fails(judge):
    assert False

def test_xfails(judge):
    pytest.xfail("known")

def test_skips(judge):
    pytest.skip("not today")

def test_passes(judge):
    pass
"""


@pytest.mark.parametrize("dist", DIST)
def test_a_first_tracker_made_in_teardown_keeps_the_test_status(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(ask=ASK, test_late=LATE)
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=1, failed=1, xfailed=1, skipped=1)
    tests = report["tests"]
    assert {name.split("::")[1]: t["status"] for name, t in tests.items()} == {
        "test_fails": "failed",
        "test_xfails": "xfailed",
        "test_skips": "skipped",
        "test_passes": "passed",
    }
    assert all(t["input_tokens"] == 7 and t["calls"] == 1 for t in tests.values())


def test_usage_after_a_tests_last_report_goes_to_the_session(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    pytester.makepyfile(ask=ASK, test_after="def test_quiet():\n    pass\n")
    pytester.makeconftest(
        """
        from ask import ask

        def pytest_runtest_logreport(report):
            if report.when == "teardown":
                ask(9)  # the test has ended: not its usage
        """
    )
    result, report = run_report(pytester)
    result.assert_outcomes(passed=1)
    assert report["tests"]["<session>"]["input_tokens"] == 9
    assert "test_after.py::test_quiet" not in report["tests"]
    assert report["totals"]["calls"] == fake_llm.totals()["calls"] == 1


#: Each process writes which of our modules pytest's assertion rewriter loaded.
LOADERS = """
import sys

def pytest_sessionfinish(session):
    rewritten = sorted(
        name for name, module in list(sys.modules.items())
        if name.startswith("pytest_tokenbudget")
        and type(getattr(module, "__loader__", None)).__name__ == "AssertionRewritingHook"
    )
    loaded = sorted(m for m in sys.modules if m.startswith("pytest_tokenbudget"))
    who = getattr(session.config, "workerinput", {}).get("workerid", "main")
    (session.config.rootpath / f"seen-{who}.txt").write_text(repr((rewritten, loaded)))
"""


@pytest.mark.parametrize("dist", DIST)
def test_only_the_package_is_imported_through_the_assertion_rewriter_and_no_pricing_loads(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    """pytest marks an installed plugin's package for its assertion rewriter, which loads each
    module far more slowly than Python's import: the package unmarks itself as it is imported,
    so its entry point and the run's machinery load plainly (and ``lazy.py``, which only names
    the package's own exports, is not loaded at all by a run that asks for none, nor is the
    pricing package by a run that prices nothing)."""
    pytester.makeconftest(LOADERS)
    pytester.makepyfile(test_idle="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess(*dist)
    result.assert_outcomes(passed=1)
    processes = seen(pytester)
    assert "main" in processes
    for who, (rewritten, loaded) in processes.items():
        assert rewritten == ["pytest_tokenbudget"], who
        assert "pytest_tokenbudget.plugin.session" in loaded, who  # the run's machinery: plainly
        assert "pytest_tokenbudget.lazy" not in loaded, who
        assert not [m for m in loaded if m.startswith("pytest_tokenbudget.pricing")], who


#: Statuses a plain run reads from logged reports and a run with checks from made ones: a failed
#: subtest is logged as its own call report (pytest's ``subtests`` fixture).
STATUSES = """
import pytest

def test_subtest_fails(token_tracker, subtests):
    token_tracker.record(input_tokens=5)
    with subtests.test(msg="one"):
        assert False
    with subtests.test(msg="two"):
        pass

def test_subtests_pass(token_tracker, subtests):
    token_tracker.record(input_tokens=5)
    with subtests.test(msg="one"):
        pass

@pytest.mark.xfail(strict=True)
def test_xpass_strict(token_tracker):
    token_tracker.record(input_tokens=5)

def test_skips(token_tracker):
    token_tracker.record(input_tokens=5)
    pytest.skip("later")
"""


@pytest.mark.parametrize("options", [[], ["--junitxml=j.xml"]], ids=["plain", "checked"])
@pytest.mark.parametrize("dist", DIST)
def test_both_shapes_of_watching_give_the_same_statuses(
    pytester: pytest.Pytester, dist: list[str], options: list[str]
) -> None:
    pytest.importorskip("_pytest.subtests")
    pytester.makepyfile(test_statuses=STATUSES)
    result, report = run_report(pytester, *dist, *options)
    result.assert_outcomes(passed=1, failed=3, skipped=1)  # a failed subtest counts too
    assert {n.split("::")[1]: t["status"] for n, t in report["tests"].items()} == {
        "test_subtest_fails": "failed",
        "test_subtests_pass": "passed",
        "test_xpass_strict": "failed",
        "test_skips": "skipped",
    }
    assert all(t["input_tokens"] == 5 for t in report["tests"].values())
