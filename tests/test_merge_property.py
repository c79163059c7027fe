"""Any split of a suite into CI shards, merged, gives exactly the unsplit run's numbers."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tokenbudget.files.baseline import (
    dumps,
    load_report,
    report_from_dict,
    write_json_atomic,
)
from pytest_tokenbudget.files.merge import merge_reports
from pytest_tokenbudget.files.shards import merge_files
from pytest_tokenbudget.records import figures
from pytest_tokenbudget.usage import Usage
from reportfactory import as_json, report_doc

counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    calls = draw(st.integers(0, 50))
    unpriced = draw(st.integers(0, calls))
    return Usage(
        input_tokens=draw(counts),
        output_tokens=draw(counts),
        cache_read_tokens=draw(counts),
        cache_write_tokens=draw(counts),
        reasoning_tokens=draw(counts),
        calls=calls,
        unpriced_calls=unpriced,
        refused_calls=draw(st.integers(0, 5)),
        uncounted_calls=draw(st.integers(0, 5)),
        # up to $1,000 a test, in picodollars
        cost_pico=0 if unpriced else draw(st.integers(0, 10**15)),
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


def as_old(record: Any) -> Any:
    """A record as a version before ``uncounted_calls`` wrote it (where it is 0: none then)."""
    if isinstance(record, dict):
        return {k: as_old(v) for k, v in record.items() if not (k == "uncounted_calls" and v == 0)}
    return record


def split(tests: dict[str, Any], data: st.DataObject, most: int) -> list[dict[str, Any]]:
    """The tests dealt to 1..most shards at random."""
    n_shards = data.draw(st.integers(1, most), label="shards")
    assignment = data.draw(
        st.lists(st.integers(0, n_shards - 1), min_size=len(tests), max_size=len(tests)),
        label="assignment",
    )
    shards: list[dict[str, Any]] = [{} for _ in range(n_shards)]
    for (nodeid, test), shard in zip(tests.items(), assignment):
        shards[shard][nodeid] = test
    return shards


@settings(derandomize=True, max_examples=150, deadline=None)
@given(suite=suites, data=st.data())
def test_merge_of_any_split_equals_unsplit(suite: dict[str, Any], data: st.DataObject) -> None:
    tests = {nodeid: entry(u, model) for nodeid, (u, model) in suite.items()}
    shards = split(tests, data, most=6)
    # shards written before uncounted_calls existed merge with the others all the same
    old = data.draw(st.lists(st.booleans(), min_size=len(shards), max_size=len(shards)))
    shards = [as_old(shard) if was_old else shard for shard, was_old in zip(shards, old)]

    def through_file(doc: dict[str, Any], name: str) -> Any:
        return report_from_dict(json.loads(dumps(doc)), name)

    whole = through_file(report_doc(tests), "whole")
    parts = [through_file(report_doc(s), f"shard{i}") for i, s in enumerate(shards)]
    merged = merge_reports(parts)
    # Exact, picodollars included. (A file's cost is null while any call is unpriced, so the
    # priced part of such a total is compared through the tests it is summed from.)
    assert merged.totals == figures(sum((t.usage for t in whole.tests.values()), Usage()))
    assert as_json(merged)["totals"] == as_json(whole)["totals"]
    # the same records (an old shard's breakdowns are kept as it wrote them: without the zeros)
    assert as_old(as_json(merged)["tests"]) == as_old(as_json(whole)["tests"])
    assert {n: r.cells() for n, r in merged.tests.items()} == {
        n: r.cells() for n, r in whole.tests.items()
    }
    # and once more through the file format
    again = through_file(as_json(merged), "merged")
    assert as_json(again)["totals"] == as_json(whole)["totals"]


@settings(derandomize=True, max_examples=60, deadline=None)
@given(suite=suites, data=st.data())
def test_merge_files_writes_what_the_in_memory_merge_writes(
    suite: dict[str, Any], data: st.DataObject
) -> None:
    """The file-to-file merge (records copied as text) gives the same bytes, any split."""
    tests = {nodeid: entry(u, model) for nodeid, (u, model) in suite.items()}
    tests["<session>"] = {**entry(Usage(1, 2, calls=1), "gpt-4o"), "status": "session"}
    shards = split(tests, data, most=4)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, shard in enumerate(shards):
            paths.append(os.path.join(tmp, f"shard{i}.json"))
            write_json_atomic(paths[-1], report_doc(shard))
        merge_files(paths, os.path.join(tmp, "files.json"), parallel=False)
        in_memory = merge_reports([load_report(p) for p in paths])
        write_json_atomic(os.path.join(tmp, "memory.json"), in_memory)
        texts = [
            re.sub(rb'"created": "[^"]*"', b"", Path(tmp, name).read_bytes())
            for name in ("files.json", "memory.json")
        ]
    assert texts[0] == texts[1]
