"""End-to-end: output paths checked before any test, each output written on its own, runs that
run no tests write nothing, a baseline rewritten or symlinked, a corrupt one regenerated."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runs import DIST, read_json

SUITE = """
import os, pathlib

HERE = pathlib.Path(__file__).parent

def test_one(token_tracker):
    (HERE / "ran-one").write_text("")
    token_tracker.record(input_tokens=100, output_tokens=10, model="gpt-4o-mini")

def test_two(token_tracker):
    (HERE / "ran-two").write_text("")
    token_tracker.record(input_tokens=200, output_tokens=20, model="gpt-4o-mini")
    action = os.environ.get("DURING_RUN")
    if action == "markdown-becomes-a-folder":
        (HERE / "r.md").mkdir()
    elif action == "rewrite-baseline":
        data = (HERE / "other.json").read_bytes()
        with open(HERE / "tokenbudget-baseline.json", "r+b") as fh:  # in place, as cp does
            fh.write(data)
            fh.truncate()
"""

ALL_OUTPUTS = [
    "--tokenbudget-json=r.json",
    "--tokenbudget-markdown=r.md",
    "--tokenbudget-html=r.html",
    "--tokenbudget-openmetrics=m.txt",
    "--tokenbudget-history=h.jsonl",
    "--tokenbudget-update-baseline",
]


def no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback (most recent call last)" not in text, text
    assert "INTERNALERROR>" not in text, text


@pytest.mark.parametrize("dist", DIST)
@pytest.mark.parametrize(
    ("make", "option", "reason"),
    [
        ("folder r.json", "--tokenbudget-json=r.json", "it is a folder, not a regular file"),
        ("file out", "--tokenbudget-markdown=out/r.md", "*out is a file, not a folder"),
        ("file out", "--tokenbudget-html=out/deeper/r.html", "*out is a file, not a folder"),
        ("file h", "--tokenbudget-history=h/x/h.jsonl", "*h is a file, not a folder"),
        ("folder m.txt", "--tokenbudget-openmetrics=m.txt", "it is a folder, not a regular file"),
        ("folder b.json", "--tokenbudget-baseline=b.json", "it is a folder, not a regular file"),
    ],
)
def test_a_bad_output_path_is_a_usage_error_before_any_test(
    pytester: pytest.Pytester, dist: list[str], make: str, option: str, reason: str
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    kind, name = make.split()
    if kind == "folder":
        (pytester.path / name).mkdir()
    else:
        (pytester.path / name).write_text("")
    extra = ["--tokenbudget-update-baseline"] if "baseline" in option else []
    result = pytester.runpytest(option, *extra, *dist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    shown = "--tokenbudget-update-baseline" if "baseline" in option else option.split("=")[0]
    result.stderr.fnmatch_lines([f"ERROR: tokenbudget: {shown}: cannot write *: {reason}"])
    assert not (pytester.path / "ran-one").exists()
    no_traceback(result)


@pytest.mark.parametrize("dist", DIST)
def test_two_outputs_on_one_file_are_refused(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--tokenbudget-json=r.out", "--tokenbudget-html=r.out", *dist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: tokenbudget: --tokenbudget-json and --tokenbudget-html both write *r.out; *"]
    )
    assert not (pytester.path / "ran-one").exists()


@pytest.mark.parametrize("dist", DIST)
@pytest.mark.parametrize("warn_only", [[], ["--tokenbudget-warn-only"]], ids=["gate", "warn"])
def test_an_output_failing_at_the_end_costs_only_itself(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    dist: list[str],
    warn_only: list[str],
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    monkeypatch.setenv("DURING_RUN", "markdown-becomes-a-folder")
    result = pytester.runpytest(*ALL_OUTPUTS, *warn_only, *dist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # warn-only too: an output was lost
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= tokenbudget =*",
            "run total: 330 tokens*",
            "baseline updated: *tokenbudget-baseline.json (2 tests)",
            "json report written to *r.json",
            "html report written to *r.html",
            "openmetrics report written to *m.txt",
            "tokenbudget: --tokenbudget-markdown: could not write *r.md: Is a directory "
            "(the run fails: an output was lost)",
            "*= 2 passed, 1 tokenbudget output lost in *",
        ]
    )
    no_traceback(result)
    assert read_json(pytester)["totals"]["total_tokens"] == 330
    assert "<html" in (pytester.path / "r.html").read_text()
    assert "tokenbudget_run_total_tokens 330\n" in (pytester.path / "m.txt").read_text()
    [line] = (pytester.path / "h.jsonl").read_text().splitlines()
    assert json.loads(line)["totals"]["total_tokens"] == 330
    assert read_json(pytester, "tokenbudget-baseline.json")["totals"]["total_tokens"] == 330


NO_TEST_RUNS = [
    ["--collect-only"],
    ["--co", "-q"],
    ["--fixtures"],
    ["--fixtures-per-test"],
    ["--setup-plan"],
    ["-k", "no_such_test"],
    ["-k", "no_such_test", "-n", "2"],
    ["--co", "-n", "2"],
]


@pytest.mark.parametrize("args", NO_TEST_RUNS, ids=" ".join)
def test_runs_that_run_no_tests_write_nothing(pytester: pytest.Pytester, args: list[str]) -> None:
    pytester.makepyfile(test_suite=SUITE)
    outputs = ALL_OUTPUTS[:5]
    assert pytester.runpytest(*outputs, "--tokenbudget-update-baseline").ret == 0
    names = ["r.json", "r.md", "r.html", "m.txt", "h.jsonl", "tokenbudget-baseline.json"]
    before = {name: (pytester.path / name).read_bytes() for name in names}
    result = pytester.runpytest(*outputs, "--tokenbudget-update-baseline", *args)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    after = {name: (pytester.path / name).read_bytes() for name in names}
    assert after == before
    no_traceback(result)


@pytest.mark.parametrize("args", [["--help"], ["--markers"], ["--co"], ["--fixtures"]])
def test_a_corrupt_baseline_does_not_stop_runs_that_run_no_tests(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "tokenbudget-baseline.json").write_text("{oops")
    assert pytester.runpytest(*args).ret == pytest.ExitCode.OK
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: tokenbudget: *tokenbudget-baseline.json: not valid JSON*"])


@pytest.mark.parametrize("dist", DIST)
def test_the_advice_for_a_corrupt_baseline_works(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    """'regenerate it with --tokenbudget-update-baseline': that run replaces it."""
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "tokenbudget-baseline.json").write_text('{"schema": 1, "tests": {')
    result = pytester.runpytest(*dist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*regenerate it with `pytest --tokenbudget-update-baseline`"])

    result = pytester.runpytest("--tokenbudget-update-baseline", *dist)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "note: no comparison: *tokenbudget-baseline.json: not valid JSON*",
            "note: replaced the unreadable baseline with this run's 2 tests",
            "baseline updated: *(2 tests)",
        ]
    )
    result = pytester.runpytest(*dist)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["baseline tokenbudget-baseline.json: No regression.*"])


def small_baseline(tokens: int) -> str:
    usage = {"input_tokens": tokens, "output_tokens": 0, "calls": 1, "cost_usd": None}
    usage["unpriced_calls"] = 1
    tests = {"test_suite.py::test_one": usage, "test_suite.py::test_two": usage}
    return json.dumps({"schema": "pytest-tokenbudget/baseline@1", "tests": tests})


@pytest.mark.parametrize("dist", DIST)
def test_a_baseline_rewritten_in_place_during_the_run_gives_a_message_not_a_signal(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dist: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    # A big baseline whose two tests regressed: explaining them reads their breakdowns late in
    # the run, after a test rewrote the file in place with a much smaller one.
    record = json.loads(small_baseline(10))["tests"]["test_suite.py::test_one"]
    record["by_operation"] = {"(none)": {**record, "by_model": {"gpt-4o-mini": dict(record)}}}
    gone = [f"test_gone.py::test_{i}" for i in range(3000)]
    tests = {
        nodeid: record for nodeid in [*gone, "test_suite.py::test_one", "test_suite.py::test_two"]
    }
    big = {"schema": "pytest-tokenbudget/baseline@1", "tests": tests}
    (pytester.path / "tokenbudget-baseline.json").write_text(json.dumps(big, indent=2))
    (pytester.path / "other.json").write_text(small_baseline(1))
    monkeypatch.setenv("DURING_RUN", "rewrite-baseline")
    result = pytester.runpytest_subprocess("--tokenbudget-json=r.json", *dist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the regressions, against the first read
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "regression: test_suite.py::test_two: 10 -> 220 tokens*",
            "note: *tokenbudget-baseline.json changed during the run (another program wrote "
            "it): this run was compared with the baseline as it was when the run started",
        ]
    )
    no_traceback(result)


@pytest.mark.parametrize("dist", DIST)
def test_an_update_merges_into_the_baseline_as_it_is_at_the_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dist: list[str]
) -> None:
    """The run read 3,002 tests; another program rewrote the file in place meanwhile with 3
    tests: the update merges into those 3, not into what the run read."""
    pytester.makepyfile(test_suite=SUITE)
    record = json.loads(small_baseline(10))["tests"]["test_suite.py::test_one"]
    tests = {f"test_gone.py::test_{i}": record for i in range(3000)}
    tests.update(json.loads(small_baseline(10))["tests"])
    big = {"schema": "pytest-tokenbudget/baseline@1", "tests": tests}
    (pytester.path / "tokenbudget-baseline.json").write_text(json.dumps(big))
    other = json.loads(small_baseline(1))
    other["tests"]["test_kept.py::test_x"] = record
    (pytester.path / "other.json").write_text(json.dumps(other))
    monkeypatch.setenv("DURING_RUN", "rewrite-baseline")
    result = pytester.runpytest("--tokenbudget-update-baseline", *dist)
    assert result.ret == pytest.ExitCode.OK
    written = read_json(pytester, "tokenbudget-baseline.json")
    assert sorted(written["tests"]) == [
        "test_kept.py::test_x",
        "test_suite.py::test_one",
        "test_suite.py::test_two",
    ]
    assert written["tests"]["test_suite.py::test_two"]["input_tokens"] == 200


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
@pytest.mark.parametrize("dist", DIST)
def test_a_symlinked_baseline_is_updated_through_its_link(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    shared = pytester.path / "shared"
    shared.mkdir()
    (shared / "base.json").write_text(small_baseline(10))
    link = pytester.path / "tokenbudget-baseline.json"
    link.symlink_to(Path("shared") / "base.json")
    result = pytester.runpytest("--tokenbudget-update-baseline", *dist)
    assert result.ret == pytest.ExitCode.OK
    assert link.is_symlink()
    assert os.readlink(link) == os.path.join("shared", "base.json")
    target = json.loads((shared / "base.json").read_text())
    assert target["totals"]["total_tokens"] == 330
    assert sorted(p.name for p in shared.iterdir()) == ["base.json"]  # no lock, no temp left
    assert not list(pytester.path.glob(".tokenbudget-baseline.json*"))


def test_outputs_through_a_dangling_link_create_its_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "r.json").symlink_to("reports-r.json")
    assert pytester.runpytest("--tokenbudget-json=r.json").ret == pytest.ExitCode.OK
    assert (pytester.path / "r.json").is_symlink()
    assert json.loads((pytester.path / "reports-r.json").read_text())["totals"]["calls"] == 2


def test_the_history_keeps_whole_lines_after_a_cut_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "h.jsonl").write_text('{"created": "cut sho')  # a run killed mid-line
    assert pytester.runpytest("--tokenbudget-history=h.jsonl").ret == pytest.ExitCode.OK
    lines = (pytester.path / "h.jsonl").read_text().splitlines()
    assert lines[0] == '{"created": "cut sho'
    assert json.loads(lines[1])["totals"]["total_tokens"] == 330
