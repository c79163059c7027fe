"""The runner's side of the conversation: workflow commands and the files a step writes to.

A step talks to the runner in two ways: ``::error``/``::warning`` lines in its log, and lines
appended to the files that ``$GITHUB_OUTPUT`` and ``$GITHUB_STEP_SUMMARY`` name. Both are
escaped here so that a value (a node id, a message) cannot end a command or an output early,
and every other line a step prints goes through :func:`log`, which no value can turn into a
workflow command.
"""

from __future__ import annotations

import sys
import uuid
from typing import Mapping

from ..inert import inert

__all__ = ["append_to", "format_outputs", "log", "log_error", "workflow_command"]

#: The title of the action's own errors (bad inputs, a missing report).
TITLE = "pytest-tokenbudget"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(level: str, message: str, **props: str | int | None) -> str:
    """One ``::error``/``::warning`` line, escaped so that a node id cannot end it early."""
    given = ",".join(f"{k}={_escape_property(str(v))}" for k, v in props.items() if v is not None)
    return (
        f"::{level} {given}::{_escape_data(message)}"
        if given
        else f"::{level}::{_escape_data(message)}"
    )


def format_outputs(values: Mapping[str, str]) -> str:
    """``$GITHUB_OUTPUT`` lines; a multi-line value needs the heredoc form, fresh delimiter."""
    out = []
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            out.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            out.append(f"{key}={value}\n")
    return "".join(out)


def append_to(env: Mapping[str, str], var: str, text: str) -> None:
    """Append to the runner's file named by ``var``; outputs go to stdout where it is unset."""
    path = env.get(var)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    elif var == "GITHUB_OUTPUT":
        sys.stdout.write(text)


def log(message: str) -> None:
    """One line of the step's log; what it quotes (paths, reasons, names) can give no command."""
    print(inert(f"[pytest-tokenbudget] {message}"), flush=True)


def log_error(message: str) -> None:
    """The action's own error (not a test's), as an annotation in the step log."""
    print(workflow_command("error", message, title=TITLE), flush=True)
