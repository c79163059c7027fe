"""JUnit XML through pytest's own ``--junitxml``: each test with usage carries its figures as
properties (pytest's ``user_properties``), serial and under ``-n 2`` (the worker's properties
travel on the teardown report to the controller's junitxml), equal to the JSON report's; and
``tokenbudget report --format junit`` writes the same properties from that report."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from fakellm import FakeLLM
from pytest_tokenbudget.cli import main
from runs import DIST, run_report

pytest.importorskip("openai")

INNER = """
import json, os
import openai
import pytest

URL = os.environ["TOKENBUDGET_FAKE_LLM"]

def chat(i):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
    reply = {"input_tokens": 1000 * i + 7, "output_tokens": 10 * i + 3, "cache_read_tokens": i}
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": ""}],
                                   extra_headers={"x-fake-reply": json.dumps(reply)})
    client.close()

@pytest.fixture
def calls_at_teardown():
    yield
    chat(9)  # after the test's call: still the test's own figure, known when it ends

def test_sdk(request):
    request.node.user_properties.append(("mine", "kept"))  # the test's own, beside ours
    chat(1)
    chat(2)

def test_teardown_call(calls_at_teardown, token_tracker):
    token_tracker.record(input_tokens=5, output_tokens=1, model="gpt-4o")

def test_unpriced(token_tracker):
    token_tracker.record(input_tokens=70, output_tokens=7, model="my-local-llm")

def test_fails(token_tracker):
    token_tracker.record(input_tokens=40, output_tokens=4, model="gpt-4o-mini")
    assert False

@pytest.mark.parametrize("n", [1, 2])
def test_param(token_tracker, n):
    token_tracker.record(input_tokens=n, output_tokens=n, model="gpt-4o-mini")

def test_no_usage(token_tracker):
    pass

def test_plain():
    pass

ATTEMPTS = []

@pytest.mark.flaky(reruns=1)
def test_rerun(token_tracker):
    ATTEMPTS.append(1)
    token_tracker.record(input_tokens=100 * len(ATTEMPTS), output_tokens=1, model="gpt-4o-mini")
    assert len(ATTEMPTS) > 1
"""

FIGURES = ("total_tokens", "input_tokens", "output_tokens", "calls", "cost_usd")


def junit_cases(path: Any) -> dict[str, list[tuple[str, str]]]:
    """Each test case of a JUnit file by ``classname::name``: its properties in order."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props = [(p.get("name", ""), p.get("value", "")) for p in case.iter("property")]
        out[f"{case.get('classname')}::{case.get('name')}"] = props
    return out


def expected(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A report record's figures as the properties must say them."""
    cost = record["cost_usd"]
    props = [(f"tokenbudget.{name}", str(record[name])) for name in FIGURES[:-1]]
    return [*props, ("tokenbudget.cost_usd", "unpriced" if cost is None else str(cost))]


def same_cost(junit: str, report: float | None) -> bool:
    return junit == "unpriced" if report is None else float(junit) == report


@pytest.mark.parametrize("dist", DIST)
def test_junit_properties_are_the_reports_figures(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inner=INNER)
    result, report = run_report(pytester, "--junitxml=j.xml", "-p", "rerunfailures", *dist)
    assert result.parseoutcomes() == {"passed": 8, "failed": 1, "rerun": 1}
    cases = junit_cases(pytester.path / "j.xml")
    tests = {nodeid: t for nodeid, t in report["tests"].items() if nodeid != "<reruns>"}
    assert sorted(tests) == [
        "test_inner.py::test_fails",
        "test_inner.py::test_no_usage",
        "test_inner.py::test_param[1]",
        "test_inner.py::test_param[2]",
        "test_inner.py::test_rerun",
        "test_inner.py::test_sdk",
        "test_inner.py::test_teardown_call",
        "test_inner.py::test_unpriced",
    ]
    # the figures the server served, and the teardown call counted in the test's own figure
    assert tests["test_inner.py::test_sdk"]["input_tokens"] == 1007 + 2007
    assert tests["test_inner.py::test_teardown_call"]["calls"] == 2
    assert tests["test_inner.py::test_rerun"]["input_tokens"] == 200  # the last attempt's
    for nodeid, record in tests.items():
        props = [p for p in cases["test_inner::" + nodeid.split("::")[1]] if p[0] != "mine"]
        if not record["calls"]:
            assert props == [], nodeid  # only tests with usage carry them
            continue
        want = expected(record)
        assert [name for name, _ in props] == [name for name, _ in want], nodeid
        assert props[:4] == want[:4], nodeid  # counts: exactly the report's
        assert same_cost(props[4][1], record["cost_usd"]), (nodeid, props[4], record)
        assert "e-" not in props[4][1]  # a plain decimal, never 1.5e-05
    # the test's own record_property stays, beside ours; a plain test has none
    assert cases["test_inner::test_sdk"][0] == ("mine", "kept")
    assert cases["test_inner::test_plain"] == []
    assert tests["test_inner.py::test_unpriced"]["cost_usd"] is None
    assert dict(cases["test_inner::test_unpriced"])["tokenbudget.cost_usd"] == "unpriced"
    # the report's number, its shortest decimal
    sdk_cost = dict(cases["test_inner::test_sdk"])["tokenbudget.cost_usd"]
    assert sdk_cost == format(Decimal(repr(tests["test_inner.py::test_sdk"]["cost_usd"])), "f")

    # the same properties from the saved report
    assert main(["report", "r.json", "--format", "junit", "-o", "from-report.xml"]) == 0
    saved = junit_cases(pytester.path / "from-report.xml")
    assert sorted(saved) == sorted(
        "test_inner::" + nodeid.split("::")[1]
        for nodeid, record in tests.items()
        if record["calls"]
    )
    for name, props in saved.items():
        assert props == [p for p in cases[name] if p[0] != "mine"], name


@pytest.mark.parametrize("dist", DIST)
def test_without_junitxml_no_test_gets_properties(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    """The properties are for ``--junitxml`` alone (PRODUCT.md): without it no test pays for
    them, and a test's own ``record_property`` is all its report carries."""
    pytester.makepyfile(test_inner=INNER)
    pytester.makeconftest(
        """
        import json

        def pytest_runtest_logreport(report):
            if report.when == "teardown":
                with open("props.jsonl", "a") as f:
                    f.write(json.dumps([report.nodeid, report.user_properties]) + "\\n")
        """
    )
    result, report = run_report(pytester, "-p", "rerunfailures", *dist)
    assert result.parseoutcomes() == {"passed": 8, "failed": 1, "rerun": 1}
    assert report["tests"]["test_inner.py::test_sdk"]["calls"] == 2  # usage was counted
    seen = [json.loads(line) for line in (pytester.path / "props.jsonl").read_text().splitlines()]
    assert {nodeid for nodeid, _ in seen} >= {
        "test_inner.py::test_sdk",
        "test_inner.py::test_param[1]",
    }
    # (under xdist the worker and the controller both log each report: the same entries twice)
    assert {n: props for n, props in seen if props} == {
        "test_inner.py::test_sdk": [["mine", "kept"]]
    }


def test_junit_from_a_report_has_outcomes_totals_and_safe_names(
    pytester: pytest.Pytester,
) -> None:
    """The saved report's outcomes as JUnit's, the run's totals as the suite's properties,
    and node ids XML cannot hold made safe as pytest's junitxml does."""
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.parametrize("name", ["a b", 'q"<&>'])
        def test_odd(token_tracker, name):
            token_tracker.record(input_tokens=3, output_tokens=2, model="gpt-4o-mini")

        @pytest.mark.token_budget(max_tokens=10)
        def test_over(token_tracker):
            token_tracker.record(input_tokens=30, output_tokens=2, model="gpt-4o-mini")

        @pytest.mark.skip
        def test_skipped():
            pass

        class TestGroup:
            def test_in_class(self, token_tracker):
                token_tracker.record(input_tokens=1, output_tokens=1, model="gpt-4o-mini")
        """
    )
    result, report = run_report(pytester)
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    assert main(["report", "r.json", "--format", "junit", "-o", "j.xml"]) == 0
    text = (pytester.path / "j.xml").read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>')
    root = ET.fromstring(text)
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib == {
        "name": "tokenbudget",
        "tests": "4",
        "failures": "1",
        "errors": "0",
        "skipped": "0",
    }
    totals = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert totals["tokenbudget.total_tokens"] == str(report["totals"]["total_tokens"]) == "44"
    assert float(str(totals["tokenbudget.cost_usd"])) == report["totals"]["cost_usd"]
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert sorted(cases) == [
        ("test_x", "test_odd[a b]"),
        ("test_x", 'test_odd[q"<&>]'),
        ("test_x", "test_over"),
        ("test_x.TestGroup", "test_in_class"),
    ]
    failure = cases[("test_x", "test_over")].find("failure")
    assert failure is not None
    assert "token budget exceeded: 32 tokens > max_tokens 10" in failure.get("message", "")
    assert cases[("test_x.TestGroup", "test_in_class")].find("failure") is None


def test_junit_names_and_properties_unit() -> None:
    from pytest_tokenbudget.render.junit import junit_names, properties, xml_safe
    from pytest_tokenbudget.usage import Usage

    assert junit_names("tests/a/test_b.py::TestC::test_d[x::y/z]") == (
        "tests.a.test_b.TestC",
        "test_d[x::y/z]",
    )
    assert junit_names("test_b.py::test_d") == ("test_b", "test_d")
    assert xml_safe("a\x00b\x1b\ud800c\tok") == "a#x00b#x1B#xD800c\tok"
    usage = Usage(input_tokens=10, output_tokens=2, calls=1, uncounted_calls=2, cost_pico=15)
    assert properties(usage) == [
        ("tokenbudget.total_tokens", 12),
        ("tokenbudget.input_tokens", 10),
        ("tokenbudget.output_tokens", 2),
        ("tokenbudget.calls", 1),
        ("tokenbudget.cost_usd", "0.000000000015"),
        ("tokenbudget.uncounted_calls", 2),
    ]
    assert dict(properties(Usage(calls=1, unpriced_calls=1)))["tokenbudget.cost_usd"] == (
        "unpriced"
    )
