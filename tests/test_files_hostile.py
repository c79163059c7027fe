"""Hostile files get a clear error naming file, place and fix (exit 2 for the command, 4 for
pytest); every object of every file written is key-sorted; `count` reads regular files only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget.cli import main as tokenbudget
from reportfactory import report_doc, simple
from runs import DIST

GOOD = (
    '{"schema": "pytest-tokenbudget/baseline@1", "tests": {"t.py::test_a": '
    '{"input_tokens": 5, "output_tokens": 1, "calls": 1, "cost_usd": 0.25}}}'
)
DEEP = '{"schema": "pytest-tokenbudget/baseline@1", "tests": {"t.py::test_a": {"by_model": '
HOSTILE = {
    "deep-array": (DEEP + "[" * 1500 + "]" * 1500 + "}}}").encode(),
    "deep-object": (DEEP + '{"a": ' * 1500 + "1" + "}" * 1500 + "}}}").encode(),
    "lone-surrogate": GOOD.replace("test_a", "test_\\ud800a").encode(),
    "duplicate-field": GOOD.replace(
        '"input_tokens": 5', '"input_tokens": 5, "input_tokens": 7'
    ).encode(),
    "duplicate-test": (GOOD[:-2] + ', "t.py::test_a": {"input_tokens": 9}}}').encode(),
    "nan": GOOD.replace("0.25", "NaN").encode(),
    "infinity": GOOD.replace("0.25", "-Infinity").encode(),
    "out-of-range": GOOD.replace("0.25", "1e400").encode(),
    "bom": b"\xef\xbb\xbf" + GOOD.encode(),
    "utf-16": GOOD.encode("utf-16"),
}
MESSAGES = {
    "deep-array": "line 1, column *: nested more than 100 levels deep (a file of ours is 6)",
    "deep-object": "line 1, column *: nested more than 100 levels deep (a file of ours is 6)",
    "lone-surrogate": "line 1, column *: \\ud800 is half of a UTF-16 surrogate pair (no text can "
    "hold it); remove it or write the whole character",
    "duplicate-field": "tests['t.py::test_a'].input_tokens appears twice in one object (which "
    "one counts is unknowable); keep one",
    "duplicate-test": "tests['t.py::test_a'] appears twice in one object (which one counts is "
    "unknowable); keep one",
    "nan": "line 1, column *: NaN is not a JSON number (write a number, or null for an unknown "
    "cost)",
    "infinity": "line 1, column *: -Infinity is not a JSON number (write a number, or null for an "
    "unknown cost)",
    "out-of-range": "line 1, column *: 1e400 is out of range for a number",
    "bom": "the file starts with a byte order mark; save it as UTF-8 without a byte order mark",
    "utf-16": "the file is UTF-16 text; save it as UTF-8 without a byte order mark",
}


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern ("*" kept as the wildcard, "[" matched as itself)."""
    return text.replace("[", "[[]")


FIX = "; delete it or regenerate it with `pytest --tokenbudget-update-baseline`"


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["compare", "report-baseline"])
def test_the_command_names_file_place_and_fix_and_exits_2(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(HOSTILE[case])
    report = tmp_path / "r.json"
    report.write_text(json.dumps(report_doc({"t.py::test_a": simple(5, 1)})))
    argv = (
        ["compare", str(bad), str(report)]
        if command == "compare"
        else ["report", str(report), "--baseline", str(bad)]
    )
    assert tokenbudget(argv) == 2
    _, err = capfd.readouterr()
    assert "Traceback" not in err
    head, _, _ = err.partition(": error: ")
    assert head == f"tokenbudget {argv[0]}"
    pattern = f"tokenbudget {argv[0]}: error: {bad}: {literal(MESSAGES[case])}{FIX}"
    assert fnmatch(err.strip(), pattern), err


@pytest.mark.parametrize("dist", DIST)
@pytest.mark.parametrize(
    "case", ["deep-object", "lone-surrogate", "duplicate-test", "nan", "utf-16"]
)
def test_pytest_names_file_place_and_fix_and_exits_4(
    pytester: pytest.Pytester, dist: list[str], case: str
) -> None:
    pytester.makepyfile("def test_a(token_tracker):\n    token_tracker.record(input_tokens=1)\n")
    (pytester.path / "tokenbudget-baseline.json").write_bytes(HOSTILE[case])
    result = pytester.runpytest(*dist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: tokenbudget: *tokenbudget-baseline.json: {literal(MESSAGES[case])}{FIX}"]
    )
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR>" not in text


def unsorted(obj: Any, where: str = "$") -> list[str]:
    """The places of every object whose keys are not in sorted order."""
    bad = []
    if isinstance(obj, dict):
        if list(obj) != sorted(obj):
            bad.append(where)
        for key, value in obj.items():
            bad += unsorted(value, f"{where}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            bad += unsorted(value, f"{where}[{i}]")
    return bad


def reversed_keys(obj: Any) -> Any:
    """``obj`` with every object's keys in reverse order (as a careless tool might write it)."""
    if isinstance(obj, dict):
        return {k: reversed_keys(obj[k]) for k in sorted(obj, reverse=True)}
    if isinstance(obj, list):
        return [reversed_keys(v) for v in obj]
    return obj


def test_an_update_writes_every_object_key_sorted_whatever_order_its_files_had(
    tmp_path: Path,
) -> None:
    tests = {f"t.py::test_{i}": simple(100 + i, 10) for i in range(5)}
    old = json.loads(json.dumps(report_doc(tests)))
    baseline = {"schema": "pytest-tokenbudget/baseline@1", "tests": old["tests"]}
    for rec in baseline["tests"].values():
        del rec["budget"], rec["status"]
    (tmp_path / "base.json").write_text(json.dumps(reversed_keys(baseline), indent=2))
    new = report_doc({"t.py::test_9": simple(7, 1), "t.py::test_0": simple(1, 1)})
    (tmp_path / "r.json").write_text(json.dumps(reversed_keys(new), indent=2))
    argv = [
        "baseline",
        "update",
        str(tmp_path / "r.json"),
        "--baseline",
        str(tmp_path / "base.json"),
    ]
    assert tokenbudget(argv) == 0
    written = json.loads((tmp_path / "base.json").read_text())
    assert len(written["tests"]) == 6
    assert unsorted(written) == []


@pytest.mark.parametrize("dist", DIST)
def test_the_plugin_rewrites_an_unsorted_baseline_sorted(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    tests = {f"test_other.py::test_{i}": simple(100 + i, 10) for i in range(3)}
    baseline = {"schema": "pytest-tokenbudget/baseline@1", "tests": report_doc(tests)["tests"]}
    for rec in baseline["tests"].values():
        del rec["budget"], rec["status"]
    (pytester.path / "tokenbudget-baseline.json").write_text(
        json.dumps(reversed_keys(json.loads(json.dumps(baseline))))
    )
    pytester.makepyfile(
        "def test_a(token_tracker):\n"
        "    with token_tracker.operation('zeta'):\n"
        "        token_tracker.record(input_tokens=1, model='gpt-4o-mini')\n"
        "    with token_tracker.operation('alpha'):\n"
        "        token_tracker.record(input_tokens=1, model='gpt-4o')\n"
    )
    assert pytester.runpytest("--tokenbudget-update-baseline", *dist).ret == 0
    written = json.loads((pytester.path / "tokenbudget-baseline.json").read_text())
    assert len(written["tests"]) == 4
    assert unsorted(written) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_count_skips_fifos_and_devices_and_never_hangs(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "a.txt").write_text("hello world")
    os.mkfifo(tmp_path / "prompts" / "pipe")
    (tmp_path / "prompts" / "zero").symlink_to("/dev/zero")
    code = (
        "import sys; from pytest_tokenbudget.cli import main\n"
        "sys.exit(main(['count', 'prompts', 'prompts/pipe', '--json']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [f["path"] for f in data["files"]] == ["prompts/a.txt"]
    assert data["skipped_why"] == {
        "prompts/pipe": "a FIFO, not a regular file",
        "prompts/zero": "a character device, not a regular file",
    }
