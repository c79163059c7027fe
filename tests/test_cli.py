from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget.cli import main
from reportfactory import make_test, report_doc, simple


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    agent1 = make_test(
        [("retrieve", "gpt-4o-mini", 3000, 100, 2), ("answer", "gpt-4o", 1900, 100, 1)]
    )
    agent2 = make_test(
        [("retrieve", "gpt-4o-mini", 5100, 100, 6), ("answer", "gpt-4o", 1900, 350, 1)]
    )
    return {
        "old": write(
            tmp_path / "old.json", report_doc({"t::agent": agent1, "t::chat": simple(2000)})
        ),
        "new": write(
            tmp_path / "new.json", report_doc({"t::agent": agent2, "t::chat": simple(1500)})
        ),
        "same": write(
            tmp_path / "same.json", report_doc({"t::agent": agent1, "t::chat": simple(1900)})
        ),
        "base": str(tmp_path / "tokenbudget-baseline.json"),
        "dir": str(tmp_path),
    }


def test_baseline_update_then_compare(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["baseline", "update", files["old"], "--baseline", files["base"]]) == 0
    assert "created" in capsys.readouterr().out
    assert json.loads(Path(files["base"]).read_text())["schema"] == "pytest-tokenbudget/baseline@1"

    assert main(["compare", files["base"], files["new"]]) == 1
    out = capsys.readouterr().out
    assert "t::agent" in out
    assert "5,100  7,450" in out
    assert "REGRESSION" in out

    assert main(["compare", files["base"], files["same"]]) == 0
    out = capsys.readouterr().out
    assert "Improvements (1, saved 100 tokens" in out
    assert out.endswith("No regression.\n")


def test_compare_options(files: dict[str, str]) -> None:
    assert main(["compare", files["old"], files["new"], "--regression", "50%"]) == 0
    assert main(["compare", files["old"], files["new"], "--regression", "0.4"]) == 1
    assert main(["compare", files["old"], files["new"], "--regression-min", "3000"]) == 0
    assert main(["compare", files["old"], files["new"], "--metric", "output_tokens"]) == 1
    assert (
        main(
            [
                "compare",
                files["old"],
                files["new"],
                "--metric",
                "input_tokens",
                "--regression",
                "30%",
            ]
        )
        == 1
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "{dir}/nope.json", "{new}"], "nope.json: baseline file not found; create it"),
        (["compare", "{old}", "{dir}/nope.json"], "nope.json: report file not found"),
        (["compare", "{old}", "{new}", "--regression", "ten"], "invalid percentage 'ten'"),
        (["compare", "{old}", "{new}", "--regression-min", "-1"], "invalid number of tokens '-1'"),
        (
            ["compare", "{old}", "{new}", "--metric", "cost"],
            "invalid metric 'cost' (unknown figure 'cost')",
        ),
        (["compare", "{old}"], "the following arguments are required: REPORT"),
        (["merge", "{old}"], "the following arguments are required: -o/--output"),
        (["merge", "{old}", "{new}", "-o", "{dir}/m.json"], "appear in more than one report"),
        (["report", "{old}", "--format", "pdf"], "invalid choice: 'pdf'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["baseline"], "the following arguments are required: ACTION"),
        (["baseline", "update", "{dir}/corrupt.json"], "corrupt.json: not valid JSON"),
        (
            ["baseline", "update", "{old}", "--baseline", "{dir}/corrupt.json"],
            "corrupt.json: not valid JSON (line 1, column 2: Expecting property name enclosed "
            "in double quotes); delete it or regenerate it with "
            "`pytest --tokenbudget-update-baseline`",
        ),
    ],
)
def test_bad_usage_exits_2_with_clear_message(
    files: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    Path(files["dir"], "corrupt.json").write_text("{oops", encoding="utf-8")
    assert main([a.format(**files) for a in argv]) == 2
    assert message in capsys.readouterr().err


def test_corrupt_baseline_is_not_overwritten(files: dict[str, str]) -> None:
    Path(files["base"]).write_text("{oops", encoding="utf-8")
    assert main(["baseline", "update", files["new"], "--baseline", files["base"]]) == 2
    assert Path(files["base"]).read_text() == "{oops"


def test_baseline_update_several_runs_and_partial(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "baseline",
                "update",
                files["old"],
                files["same"],
                "--stat",
                "max",
                "--baseline",
                files["base"],
            ]
        )
        == 0
    )
    data = json.loads(Path(files["base"]).read_text())
    assert data["tests"]["t::chat"]["input_tokens"] == 2000
    partial = write(Path(files["dir"], "partial.json"), report_doc({"t::chat": simple(7)}))
    assert main(["baseline", "update", partial, "--baseline", files["base"]]) == 0
    assert (
        "1 test(s) replaced, 0 added, 1 kept; 2 tests" in capsys.readouterr().out.splitlines()[-1]
    )
    data = json.loads(Path(files["base"]).read_text())
    assert data["tests"]["t::chat"]["input_tokens"] == 7
    assert data["tests"]["t::agent"]["input_tokens"] == 4900


def test_merge(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d = Path(files["dir"])
    s1 = write(d / "s1.json", report_doc({"t::a": simple(10, 1)}))
    s2 = write(d / "s2.json", report_doc({"t::b": simple(20, 2), "t::c": simple(30, 3)}))
    out = str(d / "merged.json")
    assert main(["merge", s1, s2, "-o", out]) == 0
    assert "merged 2 reports into" in capsys.readouterr().out
    merged = json.loads(Path(out).read_text())
    assert merged["totals"]["total_tokens"] == 66
    assert sorted(merged["tests"]) == ["t::a", "t::b", "t::c"]
    assert main(["merge", s1, s1, "-o", out, "--allow-overlap"]) == 0
    assert json.loads(Path(out).read_text())["totals"]["total_tokens"] == 22


def test_report_formats(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", files["new"], "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("<!-- pytest-tokenbudget -->")
    assert "no baseline to compare with" in md
    assert main(["report", files["new"], "--format", "markdown", "--baseline", files["old"]]) == 0
    assert "❌ **1 regressed**" in capsys.readouterr().out
    assert main(["report", files["new"]]) == 0
    text = capsys.readouterr().out
    assert text.startswith("tokenbudget report: 2 tests\nrun total: 8,950 tokens (input 8,500")
    out = str(Path(files["dir"], "r.md"))
    assert main(["report", files["new"], "--format", "markdown", "-o", out]) == 0
    assert Path(out).read_text().startswith("<!-- pytest-tokenbudget -->")


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_tokenbudget import __version__
    from pytest_tokenbudget.cli import build_parser

    assert main([]) == 0  # bare `tokenbudget`: the help, not an error
    bare = capsys.readouterr()
    assert bare.out.startswith("usage: tokenbudget")
    assert not bare.err
    assert main(["-h"]) == 0
    assert capsys.readouterr().out == bare.out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tokenbudget {__version__}\n"
    # every subcommand: a one-line description in the list, and a description of its own
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    listed = {action.dest: action.help for action in sub._choices_actions}  # type: ignore[attr-defined]
    assert sorted(listed) == sorted(sub.choices)  # type: ignore[arg-type]
    for name, parser in sub.choices.items():  # type: ignore[union-attr]
        assert listed[name], name
        assert "\n" not in listed[name], name
        assert f"  {name} " in bare.out, name
        assert parser.description, name
        assert main([name, "-h"]) == 0
        assert parser.description.split()[0] in capsys.readouterr().out


def console_script() -> str:
    found = Path(sys.executable).parent / "tokenbudget"
    if found.exists():
        return str(found)
    which = shutil.which("tokenbudget")
    if which is None:
        pytest.skip("console script `tokenbudget` not installed")
    return which


def test_console_script(files: dict[str, str]) -> None:
    script = console_script()
    run = subprocess.run(
        [script, "compare", files["old"], files["new"]], capture_output=True, text=True, check=False
    )
    assert run.returncode == 1, run.stderr
    assert "t::agent" in run.stdout
    run = subprocess.run(
        [script, "compare", files["old"], files["same"]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    Path(files["base"]).write_text("[1, 2", encoding="utf-8")
    run = subprocess.run(
        [script, "compare", files["base"], files["new"]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "tokenbudget-baseline.json: not valid JSON" in run.stderr
    assert "Traceback" not in run.stderr


def test_compare_reads_the_rule_and_prices_from_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_tokenbudget.files.baseline import write_json_atomic
    from reportfactory import report_doc, simple

    old, new = tmp_path / "old.json", tmp_path / "new.json"
    write_json_atomic(old, report_doc({"t::a": simple(1000)}))
    write_json_atomic(new, report_doc({"t::a": simple(1080)}))  # +8%
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(old), str(new)]) == 0  # default 10%
    (tmp_path / "pyproject.toml").write_text('[tool.tokenbudget]\nregression = "5%"\n')
    assert main(["compare", str(old), str(new)]) == 1
    assert main(["compare", str(old), str(new), "--regression", "9%"]) == 0
    (tmp_path / "pyproject.toml").write_text("[tool.tokenbudget]\nregression = -1\n")
    assert main(["compare", str(old), str(new)]) == 2
    assert "bad value for regression = -1" in capsys.readouterr().err


def test_compare_checks_the_breakdowns_it_reads(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """compare leaves by_operation raw until it explains a regression; a bad one is then named.

    A bad breakdown of a test that did not move is not read by the comparison (the whole file
    is checked by pytest, `baseline update` and `merge`).
    """
    old = json.loads(Path(files["old"]).read_text(encoding="utf-8"))
    old["tests"]["t::agent"]["by_operation"]["answer"]["by_model"]["gpt-4o"]["calls"] = "1"
    bad = write(Path(files["dir"]) / "bad.json", old)
    assert main(["compare", bad, files["new"]]) == 2
    err = capsys.readouterr().err
    assert (
        "bad.json: tests['t::agent'].by_operation['answer'].by_model['gpt-4o'].calls: "
        "Expected `int`, got `str`; delete it or regenerate it" in err
    )
    same = json.loads(Path(files["same"]).read_text(encoding="utf-8"))
    same["tests"]["t::agent"] = old["tests"]["t::agent"]
    unread = write(Path(files["dir"]) / "unread.json", same)
    assert main(["compare", unread, files["same"]]) == 0
    assert main(["baseline", "update", unread, "--baseline", files["base"]]) == 2
    assert "unread.json: tests['t::agent'].by_operation['answer']" in capsys.readouterr().err
