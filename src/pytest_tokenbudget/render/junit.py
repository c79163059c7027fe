"""Token figures as JUnit XML properties: a test's own, and a saved report's (pure).

Jenkins, GitLab and Azure DevOps show a test case's ``<properties>``. The plugin hands each
test's figures to pytest's own mechanism (``user_properties``, what ``record_property`` fills)
when the test ends, so ``--junitxml`` writes them, serial or under xdist;
``tokenbudget report --format junit`` writes the same properties from a saved report.
This module loads no report model at import: the plugin uses :func:`properties` per test.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..fmt import plain_number
from ..usage import Usage

if TYPE_CHECKING:
    from xml.etree import ElementTree as ET

    from ..report import Report

#: Every property name starts with it: a test's properties are found (and replaced) by it.
PREFIX = "tokenbudget."
#: The figures every test with usage carries, in this order.
FIGURES = ("total_tokens", "input_tokens", "output_tokens", "calls", "cost_usd")
#: What ``cost_usd`` holds while a call's model has no price (unknown, never $0).
UNPRICED = "unpriced"
#: Characters XML 1.0 cannot hold at all, even escaped (pytest's junitxml replaces them too).
#: Compiled on first use (by ``re``'s cache): its character set takes ~50M instructions to
#: build, which no test's properties need.
_ILLEGAL = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_SKIPPED = ("skipped", "xfailed")


def properties(usage: Usage) -> list[tuple[str, object]]:
    """``(name, value)`` of a usage's figures: counts as ints, the cost as the JSON report's
    number written without an exponent (``unpriced`` when unknown); ``uncounted_calls`` too
    when some calls could not be read (the figures are then a lower bound)."""
    cost = usage.cost_usd
    found: list[tuple[str, object]] = [
        (_TOTAL, usage.total_tokens),
        (_INPUT, usage.input_tokens),
        (_OUTPUT, usage.output_tokens),
        (_CALLS, usage.calls),
        (_COST, UNPRICED if cost is None else plain_number(cost)),
    ]
    if usage.uncounted_calls:
        found.append((_UNCOUNTED, usage.uncounted_calls))
    return found


#: The property names, each the figure's under the prefix (one string per test, not five).
_TOTAL, _INPUT, _OUTPUT, _CALLS, _COST, _UNCOUNTED = (
    PREFIX + name for name in (*FIGURES, "uncounted_calls")
)


def junit_names(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a test case, as pytest's junitxml names it (so that tools match
    this file's test cases with pytest's own): ``tests.test_a.TestX``, ``test_y[1]``."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    return ".".join(names[:-1]), names[-1] + bracket + params


def xml_safe(text: str) -> str:
    """``text`` with what XML cannot hold shown as ``#x1B`` (as pytest's junitxml does)."""
    return re.sub(_ILLEGAL, lambda m: f"#x{ord(m.group()):02X}", text)


def render_junit(report: Report) -> str:
    """A JUnit XML document of the tests with usage (by node id), each with its properties
    and its outcome as the report recorded it; the run's totals are the suite's properties."""
    from xml.etree import ElementTree as ET  # not for the plugin's per-test properties

    from ..report import tests_with_usage

    rows = sorted(tests_with_usage(report.tests))
    messages: dict[str, list[str]] = {}
    for violation in report.violations:
        if violation.nodeid is not None:
            messages.setdefault(violation.nodeid, []).append(violation.message)
    statuses = [str(rec.status) for _, rec in rows]
    suite = ET.Element(
        "testsuite",
        name="tokenbudget",
        tests=str(len(rows)),
        failures=str(statuses.count("failed") + statuses.count("xpassed")),
        errors=str(statuses.count("error")),
        skipped=str(sum(statuses.count(s) for s in _SKIPPED)),
    )
    add_properties(suite, properties(report.usage))
    for (nodeid, rec), status in zip(rows, statuses):
        classname, name = junit_names(nodeid)
        case = ET.SubElement(suite, "testcase", classname=xml_safe(classname), name=xml_safe(name))
        add_properties(case, properties(rec.usage))
        said = "\n".join(messages.get(nodeid, []))
        if status in ("failed", "xpassed", "error"):
            tag = "error" if status == "error" else "failure"
            ET.SubElement(case, tag, message=xml_safe(said or status))
        elif status in _SKIPPED:
            ET.SubElement(case, "skipped", message=status)
        elif said:  # warn-only: the test passed, its violation is still said
            ET.SubElement(case, "system-out").text = xml_safe(said)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def add_properties(parent: ET.Element, props: list[tuple[str, object]]) -> None:
    from xml.etree import ElementTree as ET

    holder = ET.SubElement(parent, "properties")
    for name, value in props:
        ET.SubElement(holder, "property", name=name, value=str(value))
