"""``merge_files`` (what ``tokenbudget merge`` runs): the same file as the in-memory merge.

Each case runs with the check in this process and in a second one (``parallel``), since big
merges use the second and small ones (like these) would not otherwise.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget.files import shards as shards_module
from pytest_tokenbudget.files.baseline import load_report, write_json_atomic
from pytest_tokenbudget.files.codec import BaselineError
from pytest_tokenbudget.files.merge import merge_reports
from pytest_tokenbudget.files.shards import merge_files
from reportfactory import make_test, report_doc, simple

pytestmark = pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])


def write(path: Path, doc: dict[str, Any], *, compact: bool = False) -> str:
    if compact:
        path.write_text(json.dumps(doc), encoding="utf-8")
    else:
        write_json_atomic(path, doc)
    return str(path)


def without_created(path: str) -> bytes:
    return re.sub(rb'"created": "[^"]*"', b"", Path(path).read_bytes())


def expected_file(paths: list[str], out: Path, *, allow_overlap: bool = False) -> str:
    merged = merge_reports([load_report(p) for p in paths], allow_overlap=allow_overlap)
    write_json_atomic(out, merged)
    return str(out)


def shards(tmp_path: Path) -> list[str]:
    return [
        write(
            tmp_path / "s1.json",
            report_doc(
                {
                    "tests/test_a.py::test_agent[é]": make_test(
                        [("retrieve", "gpt-4o-mini", 1200, 30, 2), ("answer", "gpt-4o", 800, 90, 1)]
                    ),
                    "tests/test_b.py::test_z": simple(5, 1, status="failed"),
                    "<session>": simple(7, 0, status="session"),
                    "<fixture db>": simple(11, 1, status="bucket"),
                    "<reruns>": simple(13, 1, status="bucket"),
                },
                violations=[{"kind": "budget", "nodeid": "x", "message": "over"}],
            ),
        ),
        # hand-made or from another tool: one line, keys unsorted; re-laid out on the way
        write(
            tmp_path / "s2.json",
            report_doc(
                {
                    "tests/test_a.py::test_m": simple(40, 4),
                    "<session>": simple(3, 0, status="session"),
                    "<fixture db>": simple(17, 1, status="bucket"),
                }
            ),
            compact=True,
        ),
        write(tmp_path / "s3.json", report_doc({})),
    ]


def test_same_file_as_the_in_memory_merge(tmp_path: Path, parallel: bool) -> None:
    paths = shards(tmp_path)
    out = tmp_path / "merged.json"
    merged, count = merge_files(paths, str(out), parallel=parallel)
    assert count == 6
    assert without_created(str(out)) == without_created(expected_file(paths, tmp_path / "e.json"))
    # the buckets of the shards are summed (never an overlap), the totals recomputed exactly
    back = load_report(out)
    assert back.tests["<session>"].input_tokens == 10
    assert back.tests["<fixture db>"].input_tokens == 28
    assert back.tests["<reruns>"].input_tokens == 13
    assert back.usage == merged.usage
    assert back.usage.input_tokens == 1200 + 800 + 5 + 7 + 40 + 3 + 28 + 13
    assert len(back.violations) == 1
    assert back.notes[-1].startswith("merged from 3 reports")


def test_overlap_is_refused_or_summed(tmp_path: Path, parallel: bool) -> None:
    a = write(tmp_path / "a.json", report_doc({"t::a": simple(5), "t::b": simple(1)}))
    b = write(tmp_path / "b.json", report_doc({"t::a": make_test([("op", "gpt-4o", 3, 3, 1)])}))
    out = tmp_path / "m.json"
    out.write_text("previous\n", encoding="utf-8")
    with pytest.raises(BaselineError, match=r"1 test id\(s\) appear in more than one report: t::a"):
        merge_files([a, b], str(out), parallel=parallel)
    assert out.read_text(encoding="utf-8") == "previous\n"
    merge_files([a, b], str(out), allow_overlap=True, parallel=parallel)
    expected = expected_file([a, b], tmp_path / "e.json", allow_overlap=True)
    assert without_created(str(out)) == without_created(expected)
    assert load_report(out).tests["t::a"].input_tokens == 8


def test_a_bad_figure_anywhere_stops_it_and_keeps_the_old_output(
    tmp_path: Path, parallel: bool
) -> None:
    good = write(tmp_path / "good.json", report_doc({"t::a": simple(5)}))
    doc = report_doc({"t::x": make_test([("op", "gpt-4o", 3, 3, 1)])})
    doc["tests"]["t::x"]["by_operation"]["op"]["by_model"]["gpt-4o"]["calls"] = -2
    bad = write(tmp_path / "bad.json", doc)
    out = tmp_path / "m.json"
    out.write_text("previous\n", encoding="utf-8")
    with pytest.raises(BaselineError) as info:
        merge_files([good, bad], str(out), parallel=parallel)
    message = str(info.value)
    assert message.startswith(f"{bad}: tests['t::x'].by_operation['op'].by_model['gpt-4o'].calls")
    assert "got -2" in message
    assert "--tokenbudget-json" in message  # the fix
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "good.json", "m.json"]


def test_unreadable_inputs_are_named(tmp_path: Path, parallel: bool) -> None:
    good = write(tmp_path / "good.json", report_doc({"t::a": simple(5)}))
    out = str(tmp_path / "m.json")
    with pytest.raises(BaselineError, match=r"missing\.json: report file not found"):
        merge_files([good, str(tmp_path / "missing.json")], out, parallel=parallel)
    (tmp_path / "base.json").write_text(
        '{"schema": "pytest-tokenbudget/baseline@1", "tests": {}}', encoding="utf-8"
    )
    with pytest.raises(BaselineError, match=r"base\.json: schema is 'pytest-tokenbudget/basel"):
        merge_files([good, str(tmp_path / "base.json")], out, parallel=parallel)
    (tmp_path / "cut.json").write_text('{"schema": "pytest-tokenbudget/report@1", "te', "utf-8")
    with pytest.raises(BaselineError, match=r"cut\.json: not valid JSON \(line 1, column"):
        merge_files([good, str(tmp_path / "cut.json")], out, parallel=parallel)
    assert not Path(out).exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked checker")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_checker_that_dies_is_replaced_by_a_check_here(
    tmp_path: Path, parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not parallel:
        pytest.skip("only the parallel merge has a checker")
    paths = shards(tmp_path)
    monkeypatch.setattr(shards_module.threading, "active_count", lambda: 1)  # fork, not spawn
    monkeypatch.setattr(shards_module, "_check_into", lambda paths, conn: os._exit(3))
    out = tmp_path / "merged.json"
    merge_files(paths, str(out), parallel=True)
    assert without_created(str(out)) == without_created(expected_file(paths, tmp_path / "e.json"))


@pytest.mark.skipif(not hasattr(os, "writev"), reason="POSIX writev")
def test_short_writes_and_no_writev_give_the_same_file(
    tmp_path: Path, parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = shards(tmp_path)
    expected = without_created(expected_file(paths, tmp_path / "e.json"))
    real_writev = os.writev

    def short_writev(fd: int, buffers: list[Any]) -> int:  # the kernel may take less
        first = bytes(buffers[0])
        return real_writev(fd, [first[: max(1, len(first) // 2)]])

    monkeypatch.setattr(os, "writev", short_writev)
    merge_files(paths, str(tmp_path / "short.json"), parallel=parallel)
    assert without_created(str(tmp_path / "short.json")) == expected
    monkeypatch.delattr(os, "writev")
    merge_files(paths, str(tmp_path / "plain.json"), parallel=parallel)
    assert without_created(str(tmp_path / "plain.json")) == expected
