"""What the ``tokenbudget`` commands share: the project's settings, the regression rule's
options, one usage error and output to a file or stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import (
    Settings,
    SettingsError,
    parse_percent,
    parse_runs_per_month,
    read_pyproject,
    resolve,
)
from ..inert import inert
from ..metrics import DEFAULT_METRIC, METRICS, parse_metrics

if TYPE_CHECKING:
    from ..pricing import PriceTable


class UsageError(ValueError):
    """Bad usage found after parsing (exit 2)."""


def project_settings() -> Settings:
    """``[tool.tokenbudget]`` of ./pyproject.toml over the defaults: the plugin's own parsing."""
    path = Path.cwd() / "pyproject.toml"
    try:
        return resolve({}, read_pyproject(path), str(path))
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def project_pricer(settings: Settings) -> PriceTable:
    from ..pricing import load_pricer

    try:
        return load_pricer(settings["prices"], origin="[tool.tokenbudget.prices] of pyproject.toml")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def rule(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The regression rule: command line, else ./pyproject.toml, else the plugin's defaults."""

    def pick(given: Any, key: str) -> Any:
        return settings[key] if given is None else given

    return {
        "regression": pick(args.regression, "regression"),
        "min_tokens": pick(args.regression_min, "regression_min_tokens"),
        "metric": pick(args.metric, "regression_metric"),
        "pricer": project_pricer(settings),
        "confirm": settings["confirm"],
    }


def percent(value: str) -> float:
    try:
        return parse_percent(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def metrics(value: str) -> str:
    try:
        return ",".join(parse_metrics(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def runs_per_month(value: str) -> int:
    try:
        return parse_runs_per_month(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def non_negative_int(value: str) -> int:
    text = value.strip().replace("_", "").replace(",", "")
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"invalid number of tokens {value!r}: expected 0 or more")
    return int(text)


def print_text(text: str) -> None:
    """Print a text view: it names tests, models and operations from outside, and on a CI
    runner no line of it may read as a workflow command (``::error``, ``##[...]``)."""
    sys.stdout.write("\n".join(map(inert, text.split("\n"))))


def write_or_print(text: str, output: str | None) -> None:
    if output is None:
        print_text(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def add_rule_options(p: argparse.ArgumentParser) -> None:
    """The regression rule's options, with the plugin's defaults."""
    p.add_argument(
        "--regression",
        type=percent,
        default=None,
        metavar="PCT",
        help="growth that counts as a regression: '10%%', '0%%' (any growth) or 0.1 (default 10%%)",
    )
    p.add_argument(
        "--regression-min",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="ignore growth smaller than N tokens (noise floor, default 0)",
    )
    p.add_argument(
        "--metric",
        type=metrics,
        default=None,
        help=f"figures to compare, comma-separated: {', '.join(METRICS)} "
        f"(default {DEFAULT_METRIC})",
    )
