"""Any split of a suite into CI shards, merged, gives exactly the unsplit run's numbers."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tokenbudget.baseline import dumps, merge_reports, report_from_dict
from pytest_tokenbudget.usage import Usage
from reportfactory import report_doc

counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    calls = draw(st.integers(0, 50))
    unpriced = draw(st.integers(0, calls))
    return Usage(
        draw(counts),
        draw(counts),
        draw(counts),
        draw(counts),
        draw(counts),
        calls,
        unpriced,
        draw(st.integers(0, 5)),
        0 if unpriced else draw(st.integers(0, 10**15)),  # up to $1,000 a test, in picodollars
    )


def entry(u: Usage, model: str) -> dict[str, Any]:
    d = u.to_dict()
    d["by_model"] = {model: u.to_dict()}
    d["by_operation"] = {"(none)": {**u.to_dict(), "by_model": {model: u.to_dict()}}}
    d["budget"] = None
    d["status"] = "passed"
    return d


suites = st.dictionaries(
    st.text(min_size=1, max_size=12).map(lambda s: f"tests/test_x.py::{s}"),
    st.tuples(usages(), st.sampled_from(["gpt-4o", "gpt-4o-mini", "(unknown)"])),
    min_size=1,
    max_size=40,
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(suite=suites, data=st.data())
def test_merge_of_any_split_equals_unsplit(suite: dict[str, Any], data: st.DataObject) -> None:
    tests = {nodeid: entry(u, model) for nodeid, (u, model) in suite.items()}
    n_shards = data.draw(st.integers(1, 6), label="shards")
    assignment = data.draw(
        st.lists(st.integers(0, n_shards - 1), min_size=len(tests), max_size=len(tests)),
        label="assignment",
    )
    shards: list[dict[str, Any]] = [{} for _ in range(n_shards)]
    for (nodeid, test), shard in zip(tests.items(), assignment):
        shards[shard][nodeid] = test

    def through_file(doc: dict[str, Any], name: str) -> Any:
        return report_from_dict(json.loads(dumps(doc)), name)

    whole = through_file(report_doc(tests), "whole")
    parts = [through_file(report_doc(s), f"shard{i}") for i, s in enumerate(shards)]
    merged = merge_reports(parts)
    # Exact, picodollars included. (A file's cost is null while any call is unpriced, so the
    # priced part of such a total is compared through the tests it is summed from.)
    assert merged.totals == sum((t.usage for t in whole.tests.values()), Usage())
    assert merged.to_dict()["totals"] == whole.to_dict()["totals"]
    assert merged.to_dict()["tests"] == whole.to_dict()["tests"]
    # and once more through the file format
    again = through_file(merged.to_dict(), "merged")
    assert again.to_dict()["totals"] == whole.to_dict()["totals"]
