"""The action's inputs: from the environment that ``action.yml`` sets to pytest's arguments.

Inputs arrive as strings in ``INPUT_*`` variables (never pasted into a shell); a bad one stops
the step with an :class:`InputError` naming the input and its value.
"""

from __future__ import annotations

import shlex
from typing import Mapping

__all__ = [
    "FLAG_INPUTS",
    "VALUE_INPUTS",
    "InputError",
    "parse_bool",
    "parse_comment_mode",
    "pytest_argv",
]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}

#: Action input -> (environment variable set by action.yml, pytest option).
VALUE_INPUTS = {
    "baseline": ("INPUT_BASELINE", "--tokenbudget-baseline"),
    "regression": ("INPUT_REGRESSION", "--tokenbudget-regression"),
    "max-tokens": ("INPUT_MAX_TOKENS", "--tokenbudget-max-tokens"),
    "max-cost-usd": ("INPUT_MAX_COST_USD", "--tokenbudget-max-cost"),
}
FLAG_INPUTS = {
    "update-baseline": ("INPUT_UPDATE_BASELINE", "--tokenbudget-update-baseline"),
    "warn-only": ("INPUT_WARN_ONLY", "--tokenbudget-warn-only"),
}


class InputError(ValueError):
    """A bad action input; the message names it and the value."""


def parse_bool(name: str, value: str | None, default: bool = False) -> bool:
    """Action inputs are strings; anything but a clear yes/no is a mistake worth stopping on."""
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError(f"input {name!r}: expected true or false, got {value!r}")


def parse_comment_mode(value: str | None) -> str:
    """The ``comment`` input: ``always`` (``true``, the default), ``on-change`` or ``never``
    (``false``)."""
    text = (value or "").strip().lower()
    if text in ("always", "on-change", "never"):
        return text
    try:
        return "always" if parse_bool("comment", text, default=True) else "never"
    except InputError:
        raise InputError(
            f"input 'comment': expected always, on-change or never (or true/false), got {value!r}"
        ) from None


def pytest_argv(env: Mapping[str, str], json_path: str) -> list[str]:
    """pytest's arguments: the user's first, then ours, so that ours win (argparse: last wins).

    ``pytest-args`` is split like a POSIX shell splits words, but nothing is expanded or run.
    """
    raw = env.get("INPUT_PYTEST_ARGS", "")
    try:
        args = shlex.split(raw)
    except ValueError as exc:
        raise InputError(f"input 'pytest-args': {exc} in {raw!r}") from None
    args.append(f"--tokenbudget-json={json_path}")
    for var, option in VALUE_INPUTS.values():
        value = env.get(var, "").strip()
        if value:
            args.append(f"{option}={value}")
    for name, (var, option) in FLAG_INPUTS.items():
        if parse_bool(name, env.get(var)):
            args.append(option)
    return args
