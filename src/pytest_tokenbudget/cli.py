"""The ``tokenbudget`` command: each subcommand is an ``add_*`` function that registers its parser.

Exit codes: 0 ok, 1 a budget or regression check failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__

Handler = Callable[[argparse.Namespace], int]


def non_negative_int(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of tokens, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number of tokens, got {text!r}")
    return value


# -- count ------------------------------------------------------------------------------------
def add_count(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "count",
        help="token footprint of prompt/context files",
        description=(
            "Count the tokens of files, folders (recursively) and globs, per file and in total, "
            "with the input cost for --model. Without PATH, check the [tool.tokenbudget.files] "
            "limits of ./pyproject.toml. Exit 1 when a limit is exceeded."
        ),
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="file, folder or glob ('**' allowed)")
    p.add_argument("--model", help="model to count and price for (default: o200k_base, no cost)")
    p.add_argument("--encoding", help="tiktoken encoding (overrides the model's)")
    p.add_argument(
        "--max", type=non_negative_int, metavar="N", help="exit 1 when the total exceeds N tokens"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_count)


def cmd_count(args: argparse.Namespace) -> int:
    from .count_files import (
        UsageError,
        count_paths,
        read_tokenbudget_config,
        render_text,
    )
    from .pricing import load_pricer

    root = Path.cwd()
    try:
        config = read_tokenbudget_config(root / "pyproject.toml")
        limits = None
        if not args.paths:
            limits = config.get("files")
            if not limits:
                raise UsageError(
                    "give PATH arguments, or set [tool.tokenbudget.files] (glob = max tokens) "
                    "in ./pyproject.toml"
                )
        pricer = None
        if args.model is not None:
            try:
                pricer = load_pricer(config.get("prices"))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        result = count_paths(
            args.paths,
            root=root,
            model=args.model,
            encoding=args.encoding,
            pricer=pricer,
            max_tokens=args.max,
            limits=limits,
        )
    except UsageError as exc:
        print(f"tokenbudget count: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(result))
    return 0 if result.passed else 1


# -- the command ------------------------------------------------------------------------------
#: Subcommands in help order; a new one adds its ``add_*`` function here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    add_count,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenbudget", description="Token budgets and reports for LLM test suites."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on bad usage, 0 for --help/--version
        return exc.code if isinstance(exc.code, int) else 2
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        print("tokenbudget: error: a COMMAND is required", file=sys.stderr)
        return 2
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
