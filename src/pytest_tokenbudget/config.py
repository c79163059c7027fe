"""Settings: one table of options shared by the pytest plugin and the ``tokenbudget`` command.

Each setting has a parser that raises ValueError with a plain-language reason; callers add
where the value came from (command line or ``[tool.tokenbudget]`` of a pyproject.toml).
Precedence: command line > ``[tool.tokenbudget]`` > default.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .metrics import DEFAULT_METRIC, METRICS, parse_metrics
from .parsers import (
    choice,
    parse_aliases,
    parse_bool,
    parse_confirm,
    parse_fraction,
    parse_non_negative_int,
    parse_path,
    parse_percent,
    parse_positive_int,
    parse_runs_per_month,
    parse_table,
    parse_usd,
)

DEFAULT_BASELINE = "tokenbudget-baseline.json"


def closest(name: str, known: Sequence[str]) -> str | None:
    """The known name a typo most likely meant, or None when none is close."""
    import difflib

    found = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_options(args: Sequence[str]) -> list[str]:
    """Messages for ``--tokenbudget-*`` arguments that name no option, with the closest one.

    argparse would only say "unrecognized arguments", without naming the option meant.
    """
    prefix = "--tokenbudget-"
    names = [s.option[len(prefix) :] for s in SETTINGS if s.option is not None]
    out = []
    for arg in args:
        if arg == "--":
            break
        option = arg.split("=", 1)[0]
        if not option.startswith(prefix) or option[len(prefix) :] in names:
            continue
        meant = closest(option[len(prefix) :], names)
        hint = f"; did you mean {prefix}{meant}?" if meant else ""
        out.append(f"unknown option {option}{hint}")
    return out


class Setting:
    """One option and config key (a plain class: every pytest run builds these, and a named
    tuple or dataclass would compile code for its class when the plugin loads)."""

    __slots__ = ("default", "flag", "help", "key", "metavar", "option", "parse")

    def __init__(
        self,
        key: str,
        parse: Callable[[object], Any],
        default: Any,
        help: str,
        *,
        flag: bool = False,
        option: str | None = None,
        metavar: str | None = None,
    ) -> None:
        self.key, self.parse, self.default, self.help = key, parse, default, help
        #: Command-line flag taking no value (store_true).
        self.flag = flag
        #: The command-line option; None: a config-only setting.
        self.option = option
        self.metavar = metavar


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "baseline",
        parse_path,
        DEFAULT_BASELINE,
        f"baseline file (default: {DEFAULT_BASELINE} in rootdir)",
        option="--tokenbudget-baseline",
        metavar="PATH",
    ),
    Setting(
        "update_baseline",
        parse_bool,
        False,
        "write/merge this run into the baseline file",
        flag=True,
        option="--tokenbudget-update-baseline",
    ),
    Setting(
        "regression",
        parse_percent,
        0.10,
        "fail when tokens grow more than PCT over the baseline (default 10%)",
        option="--tokenbudget-regression",
        metavar="PCT",
    ),
    Setting(
        "regression_min_tokens",
        parse_non_negative_int,
        0,
        "ignore growth smaller than N tokens (noise floor)",
        option="--tokenbudget-regression-min",
        metavar="N",
    ),
    Setting(
        "regression_metric",
        lambda value: ",".join(parse_metrics(value)),
        DEFAULT_METRIC,
        "figures the regression rule compares, comma-separated (a test regresses when any "
        "does): " + ", ".join(METRICS),
        option="--tokenbudget-regression-metric",
        metavar="M[,M...]",
    ),
    Setting(
        "confirm",
        parse_confirm,
        0,
        "run a test that looks regressed up to K more times and judge it on all its samples "
        "(default 0)",
        option="--tokenbudget-confirm",
        metavar="K",
    ),
    Setting(
        "max_tokens",
        parse_positive_int,
        None,
        "whole-run token budget",
        option="--tokenbudget-max-tokens",
        metavar="N",
    ),
    Setting(
        "max_cost_usd",
        parse_usd,
        None,
        "whole-run cost budget in USD",
        option="--tokenbudget-max-cost",
        metavar="USD",
    ),
    Setting(
        "test_max_tokens",
        parse_positive_int,
        None,
        "default per-test token budget",
        option="--tokenbudget-test-max-tokens",
        metavar="N",
    ),
    Setting(
        "json",
        parse_path,
        None,
        "write the JSON report to PATH",
        option="--tokenbudget-json",
        metavar="PATH",
    ),
    Setting(
        "markdown",
        parse_path,
        None,
        "write a Markdown report to PATH",
        option="--tokenbudget-markdown",
        metavar="PATH",
    ),
    Setting(
        "html",
        parse_path,
        None,
        "write a self-contained HTML report to PATH",
        option="--tokenbudget-html",
        metavar="PATH",
    ),
    Setting(
        "openmetrics",
        parse_path,
        None,
        "write the run's totals as OpenMetrics text to PATH (GitLab merge-request metrics)",
        option="--tokenbudget-openmetrics",
        metavar="PATH",
    ),
    Setting(
        "history",
        parse_path,
        None,
        "append one JSON line per run to PATH",
        option="--tokenbudget-history",
        metavar="PATH",
    ),
    Setting(
        "capture",
        choice("auto", "off"),
        "auto",
        "automatic OpenAI/Anthropic SDK capture: auto (default) or off",
        option="--tokenbudget-capture",
        metavar="auto|off",
    ),
    Setting(
        "warn_only",
        parse_bool,
        False,
        "report budget violations but do not fail",
        flag=True,
        option="--tokenbudget-warn-only",
    ),
    Setting(
        "enforce",
        parse_bool,
        False,
        "refuse further LLM requests once a test or the run reached a budget",
        flag=True,
        option="--tokenbudget-enforce",
    ),
    Setting(
        "top",
        parse_non_negative_int,
        10,
        "tests listed in the summary (default 10; 0 = every test with usage)",
        option="--tokenbudget-top",
        metavar="N",
    ),
    Setting(
        "runs_per_month",
        parse_runs_per_month,
        None,
        "project every changing cost figure to a month of N runs of this suite",
        option="--tokenbudget-runs-per-month",
        metavar="N",
    ),
    Setting("warn_at", parse_fraction, 0.8, "share of a budget at which a test is near budget"),
    Setting("prices", parse_table, None, "price overrides, USD per million tokens"),
    Setting("aliases", parse_aliases, None, "served or deployment name -> model it is priced as"),
    Setting("files", parse_table, None, "globs -> max tokens for `tokenbudget count`"),
)
BY_KEY = {s.key: s for s in SETTINGS}


class SettingsError(ValueError):
    """A bad setting; the message names the key or option, the value and where it came from."""


class Settings:
    """The resolved settings and where each came from (a plain class: see ``Setting``)."""

    def __init__(self, values: dict[str, Any], sources: dict[str, str] | None = None) -> None:
        self.values = values
        self.sources: dict[str, str] = {} if sources is None else sources

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def given(self, key: str) -> bool:
        return self.sources.get(key, "default") != "default"


def read_pyproject(path: Path) -> dict[str, Any]:
    """The ``[tool.tokenbudget]`` table of ``path`` ({} when the file or table is absent)."""
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):  # imported here: a suite without pyproject.toml skips it
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None
    table = data.get("tool", {}).get("tokenbudget", {})
    if not isinstance(table, dict):
        raise SettingsError(f"[tool.tokenbudget] in {path} must be a table, got {table!r}")
    return table


def resolve(cli: Mapping[str, Any], file_table: Mapping[str, Any], file_name: str) -> Settings:
    """Merge command line values (None = not given), the config table and the defaults."""
    keys = [s.key for s in SETTINGS if s.key != "update_baseline"]
    unknown = sorted(set(file_table) - set(keys))
    if unknown:
        meant = closest(unknown[0], keys)
        raise SettingsError(
            f"unknown key {unknown[0]!r} in [tool.tokenbudget] of {file_name}; "
            + (f"did you mean {meant!r}? " if meant else "")
            + f"known keys: {', '.join(keys)}"
        )
    settings = Settings({})
    for setting in SETTINGS:
        value = cli.get(setting.key)
        if value is not None and value is not False:
            settings.values[setting.key] = value
            settings.sources[setting.key] = f"command line {setting.option}"
        elif setting.key in file_table:
            where = f"[tool.tokenbudget] of {file_name}"
            try:
                settings.values[setting.key] = setting.parse(file_table[setting.key])
            except ValueError as exc:
                raise SettingsError(
                    f"bad value for {setting.key} = {file_table[setting.key]!r} in {where}: {exc}"
                ) from None
            settings.sources[setting.key] = where
        else:
            settings.values[setting.key] = setting.default
            settings.sources[setting.key] = "default"
    return settings
