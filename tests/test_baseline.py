from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget.files.baseline import (
    Baseline,
    baseline_from_report,
    baseline_from_reports,
    dumps,
    load_baseline,
    load_baseline_or_report,
    load_report,
    report_from_dict,
    update_baseline,
    update_file,
    write_json_atomic,
)
from pytest_tokenbudget.files.codec import BaselineError
from pytest_tokenbudget.files.merge import merge_reports
from pytest_tokenbudget.report import BASELINE_SCHEMA
from pytest_tokenbudget.usage import Usage
from reportfactory import as_json, make_test, report_doc, simple


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def report(tests: dict[str, Any], name: str = "r", **extra: Any) -> Any:
    return report_from_dict(report_doc(tests, **extra), name)


AGENT = make_test([("retrieve", "gpt-4o-mini", 3000, 100, 2), ("answer", "gpt-4o", 1900, 100, 1)])


def test_report_round_trip(tmp_path: Path) -> None:
    doc = report_doc({"t::agent": AGENT, "t::b": simple(10, 5, status="failed")})
    path = write(tmp_path / "r.json", doc)
    rep = load_report(path)
    assert rep.tests["t::agent"].usage.total_tokens == 5100
    assert rep.tests["t::agent"].by_operation["retrieve"].by_model["gpt-4o-mini"].calls == 2
    assert rep.tests["t::b"].status == "failed"
    assert as_json(rep) == doc


def test_file_format_sorted_indented_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write_json_atomic(path, {"b": 1, "a": {"d": 2, "c": "é"}})
    text = path.read_bytes().decode("utf-8")
    assert text == '{\n  "a": {\n    "c": "é",\n    "d": 2\n  },\n  "b": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temp file left


def test_atomic_write_keeps_permissions(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text("{}")
    path.chmod(0o640)
    write_json_atomic(path, {"x": 1})
    assert path.stat().st_mode & 0o777 == 0o640


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"old": true}\n')
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert path.read_text() == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]


def test_missing_baseline_is_none_missing_report_is_error(tmp_path: Path) -> None:
    assert load_baseline(tmp_path / "nope.json") is None
    assert load_baseline_or_report(tmp_path / "nope.json") is None
    with pytest.raises(BaselineError, match=r"nope\.json: report file not found"):
        load_report(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", r"not valid JSON \(line 1, column 1"),
        ('{"schema": "pytest-tokenbudget/baseline@1", "tests": {', "not valid JSON"),
        ("[]", "expected a JSON object, got list"),
        ('{"schema": "other/thing@1", "tests": {}}', "schema is 'other/thing@1'"),
        ('{"tests": {}}', "schema is None"),
        ('{"schema": "pytest-tokenbudget/baseline@1"}', "Object missing required field `tests`"),
        (
            '{"schema": "pytest-tokenbudget/baseline@1", "tests": {"t::a": {"input_tokens": -1}}}',
            r"tests\['t::a'\]\.input_tokens: Expected `int` >= 0, got -1",
        ),
        (
            '{"schema": "pytest-tokenbudget/baseline@1", "tests": {"t::a": {"by_model": '
            '{"gpt": {"output_tokens": "5"}}}}}',
            r"tests\['t::a'\]\.by_model\['gpt'\]\.output_tokens: Expected `int`, got `str`",
        ),
        (
            '{"schema": "pytest-tokenbudget/baseline@1", "tests": {"t::a": {"by_operation": '
            '{"op": {"by_model": {"m": {"input_tokens": 1, "total_tokens": 7}}}}}}}',
            r"tests\['t::a'\]\.by_operation\['op'\]\.by_model\['m'\]: total_tokens 7",
        ),
        (
            '{"schema": "pytest-tokenbudget/baseline@1", "tests": {"t::a": {"input_tokens": 5}},'
            ' "totals": {"input_tokens": 9}}',
            r"totals \(9 tokens, 0 calls\) do not match the sum of its tests \(5 tokens",
        ),
        (
            '{"schema": "pytest-tokenbudget/baseline@1", "tests": {"t::a": {"calls": 1, '
            '"cost_usd": null}}}',
            "cost_usd is null but unpriced_calls is 0",
        ),
    ],
)
def test_corrupt_baseline_names_file_field_and_fix(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "tokenbudget-baseline.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BaselineError, match=expected) as info:
        load_baseline(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "pytest --tokenbudget-update-baseline" in message
    assert isinstance(info.value, ValueError)


def test_baseline_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(b'{"x": "\xff"}')
    with pytest.raises(BaselineError, match="not UTF-8"):
        load_baseline(path)


def test_corrupt_report_names_fix(tmp_path: Path) -> None:
    doc = report_doc({"t::a": simple(5)})
    doc["passed"] = "yes"
    with pytest.raises(
        BaselineError, match=r"r\.json: passed: Expected `bool`, got `str`.*--tokenbudget-json"
    ):
        load_report(write(tmp_path / "r.json", doc))


def test_report_used_as_baseline(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", report_doc({"t::a": simple(5, status="failed")}))
    base = load_baseline_or_report(path)
    assert base is not None
    assert base.tests["t::a"].usage.input_tokens == 5


def test_baseline_file_round_trip(tmp_path: Path) -> None:
    base = baseline_from_report(report({"t::agent": AGENT, "t::b": simple(7, 3)}))
    path = tmp_path / "b.json"
    write_json_atomic(path, base.to_doc())
    data = json.loads(path.read_text())
    assert data["schema"] == BASELINE_SCHEMA
    assert data["totals"]["total_tokens"] == 5110
    assert set(data["tests"]["t::agent"]) >= {"by_model", "by_operation", "total_tokens"}
    assert "status" not in data["tests"]["t::agent"]
    loaded = load_baseline(path)
    assert loaded is not None
    assert as_json(loaded.to_doc()) == as_json(base.to_doc())
    assert path.read_text() == dumps(base.to_doc())


def test_baseline_leaves_out_failed_skipped_and_error_tests() -> None:
    rep = report(
        {
            "t::ok": simple(1),
            "t::fail": simple(2, status="failed"),
            "t::err": simple(3, status="error"),
            "t::skip": simple(0, 0, 0, status="skipped"),
            "<session>": simple(4, status="session"),
            "<fixture db>": simple(5, status="bucket"),
        }
    )
    assert sorted(baseline_from_report(rep).tests) == ["t::ok"]  # buckets: never compared
    assert len(baseline_from_report(rep, include_failed=True).tests) == 4


def test_update_replaces_what_ran_and_keeps_the_rest() -> None:
    old = baseline_from_report(report({"t::a": simple(100), "t::b": simple(200)}))
    new = baseline_from_report(report({"t::b": simple(50), "t::c": simple(7)}))
    merged = update_baseline(old, new)
    assert {n: t.usage.input_tokens for n, t in merged.tests.items()} == {
        "t::a": 100,
        "t::b": 50,
        "t::c": 7,
    }
    assert merged.totals.input_tokens == 157
    assert update_baseline(None, new).tests == new.tests


def test_update_drops_the_buckets_earlier_versions_stored() -> None:
    old = Baseline(dict(report({"t::a": simple(1), "<session>": simple(9)}).tests))
    merged = update_baseline(old, baseline_from_report(report({"t::b": simple(2)})))
    assert sorted(merged.tests) == ["t::a", "t::b"]
    assert merged.totals.input_tokens == 3


@pytest.mark.parametrize("known", [False, True], ids=["read-again", "unchanged"])
def test_updating_a_file_drops_the_buckets_earlier_versions_stored(
    tmp_path: Path, known: bool
) -> None:
    path = tmp_path / "baseline.json"
    write_json_atomic(
        path, Baseline(dict(report({"t::a": simple(1), "<session>": simple(9)}).tests)).to_doc()
    )
    read = load_baseline(path, keep_checked=True) if known else None
    new = baseline_from_report(report({"t::b": simple(2)}))
    done = update_file(path, new, replace_corrupt=False, known=read)
    assert (done.tests, done.replaced, done.added, done.kept) == (2, 0, 1, 1)
    assert done.totals.input_tokens == 3
    written = load_baseline(path)
    assert written is not None
    assert sorted(written.tests) == ["t::a", "t::b"]
    assert written.totals.input_tokens == 3


def test_failed_test_keeps_its_previous_baseline_entry() -> None:
    old = baseline_from_report(report({"t::a": simple(100)}))
    new = baseline_from_report(report({"t::a": simple(3, status="failed")}))
    assert update_baseline(old, new).tests["t::a"].usage.input_tokens == 100


def test_baseline_from_several_runs_max_and_median() -> None:
    runs = [
        report({"t::a": make_test([("op", "gpt-4o", 100, o, 1)]), "t::only1": simple(9)})
        for o in (10, 40, 20)
    ]
    runs[1].tests.pop("t::only1")
    runs.append(report({"t::a": make_test([("op", "gpt-4o", 130, 5, 2), ("x", "m2", 1, 1, 1)])}))
    top = baseline_from_reports(runs, "max").tests["t::a"]
    assert (top.usage.input_tokens, top.usage.output_tokens, top.usage.calls) == (131, 40, 3)
    assert top.usage.total_tokens == 171
    assert top.by_operation["op"].by_model["gpt-4o"].output_tokens == 40
    assert top.by_operation["x"].usage.calls == 1
    assert top.by_model["m2"].unpriced_calls == 1
    med = baseline_from_reports(runs, "median").tests["t::a"]
    # input 100,100,100,131 -> upper median 100; output 10,40,20,6 -> 20; calls 1,1,1,3 -> 1
    assert (med.usage.input_tokens, med.usage.output_tokens, med.usage.calls) == (100, 20, 1)
    assert med.by_operation["x"].usage.calls == 0  # absent from three runs of four
    assert baseline_from_reports(runs).tests["t::only1"].usage.input_tokens == 9
    with pytest.raises(ValueError, match="stat must be one of max, median, got 'mean'"):
        baseline_from_reports(runs, "mean")


def test_merge_shards_recomputes_totals_exactly() -> None:
    tests = {f"t::{i}": make_test([("op", "gpt-4o", 1000 + i, 7 * i, 1)]) for i in range(10)}
    tests["<session>"] = simple(11, 1, status="session")
    whole = report(tests)
    shard1 = report({k: v for k, v in tests.items() if k < "t::5"}, "s1", passed=False)
    shard2 = report({k: v for k, v in tests.items() if k >= "t::5"}, "s2")
    shard2.notes.append("model x is unpriced")
    merged = merge_reports([shard1, shard2])
    assert merged.usage == whole.usage
    assert merged.tests == whole.tests
    assert merged.passed is False
    assert "model x is unpriced" in merged.notes


def test_merge_refuses_overlap_unless_allowed() -> None:
    a = report({"t::a": simple(5), "t::b": simple(1)}, "a.json")
    b = report({"t::a": make_test([("op", "gpt-4o", 3, 3, 1)])}, "b.json")
    with pytest.raises(
        BaselineError, match=r"1 test id\(s\).*t::a in a\.json and b\.json.*--allow-overlap"
    ):
        merge_reports([a, b])
    both = merge_reports([a, b], allow_overlap=True)
    assert both.tests["t::a"].usage.input_tokens == 8
    assert set(both.tests["t::a"].by_model) == {"gpt-4o-mini", "gpt-4o"}
    assert both.usage.total_tokens == 5 + 1 + 6


def test_merge_sums_every_bucket() -> None:
    a = report({"<session>": simple(5, status="session"), "<fixture db>": simple(1)}, "a")
    b = report({"<session>": simple(6, status="session"), "<fixture db>": simple(2)}, "b")
    merged = merge_reports([a, b])
    assert merged.tests["<session>"].usage.input_tokens == 11
    assert merged.tests["<fixture db>"].usage.input_tokens == 3


def test_merge_round_trips_through_a_file(tmp_path: Path) -> None:
    a = report({"t::a": AGENT}, "a")
    b = report({"t::b": simple(3, 4)}, "b")
    path = tmp_path / "m.json"
    write_json_atomic(path, merge_reports([a, b]))
    merged = load_report(path)
    assert merged.usage == a.usage + b.usage
    assert merged.usage.cost_usd == pytest.approx(a.usage.cost_usd + b.usage.cost_usd)  # type: ignore[operator]


def test_fast_path_agrees_with_usage_from_dict() -> None:
    docs: list[dict[str, Any]] = [
        Usage(
            input_tokens=10,
            output_tokens=5,
            cache_read_tokens=1,
            cache_write_tokens=1,
            reasoning_tokens=2,
            calls=3,
            refused_calls=1,
            uncounted_calls=2,
            cost_pico=123_456_789,
        ).to_dict(),
        Usage(10, 5, calls=2, unpriced_calls=1).to_dict(),
        Usage().to_dict(),
        {"input_tokens": 3, "cost_usd": 0.1},
        {**Usage(1, 1, calls=1, cost_pico=10**15).to_dict()},
    ]
    rep = report_from_dict(report_doc({f"t::{i}": d for i, d in enumerate(docs)}))
    for i, d in enumerate(docs):
        assert rep.tests[f"t::{i}"].usage == Usage.from_dict(d)


def test_baseline_object_defaults() -> None:
    assert Baseline({}).totals == Usage()


def test_dumps_is_the_file_format() -> None:
    """Sorted keys, 2-space indent and trailing newline, as json.dumps would lay it out.

    Floats are the shortest text that reads back exactly, without exponent signs
    (``0.000027``, ``1e300``), so the layout is compared with floats set aside.
    """
    docs: list[Any] = [
        report_doc({"t::agent": AGENT, "t::é|`x`": simple(3, status="failed")}),
        {"b": [1, 2, None, True, False, [], {}, {"z": '\u2028\n"q"'}], "a": 10**30, "c": "x"},
        [],
        "text",
    ]
    for doc in docs:
        assert json.loads(dumps(doc)) == doc  # floats read back exactly
        layout = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        assert re.sub(r"-?[0-9.]+(e[-+]?[0-9]+)?", "N", dumps(doc)) == re.sub(
            r"-?[0-9.]+(e[-+]?[0-9]+)?", "N", layout
        )
    assert dumps({"cost_usd": 2.7e-05, "big": 1e300}) == (
        '{\n  "big": 1e300,\n  "cost_usd": 0.000027\n}\n'
    )
    assert json.loads(dumps({"x": 2.7e-05}))["x"] == 2.7e-05
