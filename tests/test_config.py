"""Unit tests for the settings table (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_tokenbudget.config import (
    SettingsError,
    parse_fraction,
    parse_percent,
    parse_positive_int,
    parse_usd,
    read_pyproject,
    resolve,
    unknown_options,
)


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), ("0%", 0.0), ("0.1", 0.1), (0.25, 0.25)])
def test_percent(text: object, value: float) -> None:
    assert parse_percent(text) == value


@pytest.mark.parametrize("text", ["ten", "-5%", "%", "", True, None, "nan"])
def test_percent_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="percentage"):
        parse_percent(text)


def test_numbers() -> None:
    assert parse_positive_int("5_000") == 5000
    assert parse_positive_int(7) == 7
    for bad in ("0", 0, -3, "1.5", 2.0, True):
        with pytest.raises(ValueError, match="positive whole number"):
            parse_positive_int(bad)
    assert parse_usd("$1.50") == 1_500_000_000_000
    with pytest.raises(ValueError, match="US dollars"):
        parse_usd("0")
    assert parse_fraction("80%") == 0.8
    with pytest.raises(ValueError, match="between 0"):
        parse_fraction(1.5)


def test_precedence_command_line_then_file_then_default() -> None:
    settings = resolve({"max_tokens": 500}, {"max_tokens": 900, "regression": "5%"}, "pp.toml")
    assert settings["max_tokens"] == 500
    assert settings.sources["max_tokens"] == "command line --tokenbudget-max-tokens"
    assert settings["regression"] == 0.05
    assert settings.sources["regression"] == "[tool.tokenbudget] of pp.toml"
    assert settings["regression_metric"] == "total_tokens"
    assert not settings.given("regression_metric")


def test_a_false_flag_does_not_mask_the_file() -> None:
    settings = resolve({"warn_only": None}, {"warn_only": True}, "pp.toml")
    assert settings["warn_only"] is True


def test_bad_file_value_names_key_value_and_source() -> None:
    with pytest.raises(SettingsError) as info:
        resolve({}, {"max_tokens": -5}, "/x/pyproject.toml")
    message = str(info.value)
    assert "max_tokens = -5" in message
    assert "[tool.tokenbudget] of /x/pyproject.toml" in message
    assert "positive whole number" in message


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(SettingsError, match=r"unknown key 'max_tokenz'.*did you mean 'max_tokens'"):
        resolve({}, {"max_tokenz": 5}, "pp.toml")
    with pytest.raises(SettingsError) as info:
        resolve({}, {"zzz": 5}, "pp.toml")  # nothing close: no guess
    assert "did you mean" not in str(info.value)
    with pytest.raises(SettingsError, match="unknown key 'update_baseline'"):
        resolve({}, {"update_baseline": True}, "pp.toml")


def test_read_pyproject(tmp_path: Path) -> None:
    assert read_pyproject(tmp_path / "missing.toml") == {}
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.tokenbudget]\nmax_tokens = 10\n")
    assert read_pyproject(path) == {"max_tokens": 10}
    path.write_text("[tool.tokenbudget\n")
    with pytest.raises(SettingsError, match="cannot read"):
        read_pyproject(path)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--tokenbudget-jsn=r.json"],
            ["unknown option --tokenbudget-jsn; did you mean --tokenbudget-json?"],
        ),
        (
            ["-q", "--tokenbudget-max-token", "5"],
            ["unknown option --tokenbudget-max-token; did you mean --tokenbudget-max-tokens?"],
        ),
        (["--tokenbudget-frobnicate"], ["unknown option --tokenbudget-frobnicate"]),
        (["--tokenbudget-json=r.json", "--tokenbudget-top=3", "--tokenbudget-update-baseline"], []),
        (["--", "--tokenbudget-jsn"], []),  # after "--": not an option
        (["--junitxml=x.xml", "-k", "tokenbudget"], []),
    ],
)
def test_unknown_options_suggest_the_closest(args: list[str], expected: list[str]) -> None:
    assert unknown_options(args) == expected
