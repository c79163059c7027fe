"""The ``tokenbudget`` command: compare, update the baseline, merge shards, render reports, count.

Runs without pytest. Each subcommand is one ``add_*`` function registered in ``COMMANDS``, so
commands from other modules slot in with one line. Exit codes: 0 fine, 1 regression (compare),
2 bad usage, including a missing, unreadable or corrupt file (the message says which and how to
fix it).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from typing import Any, Callable, Sequence

from ..files.codec import BaselineError
from ..inert import inert
from ..tokenizer import EncodingUnavailableError
from ..version import __version__
from .commands import (
    add_analyze,
    add_baseline,
    add_compare,
    add_count,
    add_history,
    add_merge,
    add_report,
)
from .common import UsageError

COMMANDS: list[Callable[[Any], None]] = [
    add_compare,
    add_baseline,
    add_merge,
    add_report,
    add_count,
    add_history,
    add_analyze,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenbudget",
        description="LLM token usage of pytest runs: compare with a baseline, merge CI shards, "
        "render reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # bare `tokenbudget`: what it can do
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: bad usage (2) or --help/--version (0)
        return exc.code if isinstance(exc.code, int) else 2
    collecting = gc.isenabled()
    gc.disable()  # a 100,000-test file is millions of objects and no cycles: 5% faster
    try:
        code: int = args.func(args)
    except (BaselineError, UsageError, EncodingUnavailableError) as exc:
        sys.stderr.write(inert(f"tokenbudget {args.command}: error: {exc}") + "\n")
        return 2
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        message = f"tokenbudget {args.command}: error: {name}{exc.strerror or exc}"
        sys.stderr.write(inert(message) + "\n")
        return 2
    except Exception as exc:  # a message and exit 2, never a traceback (and never exit 1)
        message = (
            f"tokenbudget {args.command}: error: {type(exc).__name__}: {exc} (unexpected: "
            "please report it to pytest-tokenbudget with the command that caused it)"
        )
        sys.stderr.write(inert(message) + "\n")
        return 2
    finally:
        if collecting:
            gc.enable()
    sys.stdout.flush()
    return code


def run() -> None:
    """The console script: :func:`main`, then exit at once.

    Tearing down the millions of objects of two 100,000-test files takes longer than the
    comparison; like mypy, skip it once the output is flushed (files are already closed).
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # `... | head`: reader gone
            stream.flush()
    os._exit(code)
