"""The subcommands: each an ``add_*`` (its arguments) and a ``cmd_*`` (what it does).

What a command needs beyond the files (the comparison, the renderers, the tokenizer, the
recommendations) is imported when it runs: `merge` of big shards starts a second process, and
every millisecond of start-up is paid twice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .. import fmt
from ..config import DEFAULT_BASELINE
from ..files.baseline import (
    STATS,
    baseline_from_reports,
    check_breakdowns,
    load_baseline_or_report,
    load_report,
    update_file,
)
from ..files.codec import FIX_BASELINE, FIX_REPORT
from .common import (
    UsageError,
    add_rule_options,
    non_negative_int,
    print_text,
    project_pricer,
    project_settings,
    rule,
    runs_per_month,
    write_or_print,
)

# The comparison and the renderers are imported by the commands that use them: `merge` of big
# shards starts a second process, and every millisecond of start-up is paid twice.


# -- compare ------------------------------------------------------------------------------------
def add_compare(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="compare a report with a baseline (exit 1 on regression)",
        description="Compare REPORT with BASELINE test by test and in total. BASELINE may be a "
        "baseline file or another report. Exit 1 on regression, 0 otherwise, 2 on bad usage.",
    )
    p.add_argument("baseline", metavar="BASELINE", help="baseline file (or a report)")
    p.add_argument("report", metavar="REPORT", help="report of this run (--tokenbudget-json)")
    add_rule_options(p)
    p.add_argument("--limit", type=non_negative_int, default=20, help="rows per list (default 20)")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    # Breakdowns are checked for the tests the comparison explains (30% faster on big files).
    baseline = load_baseline_or_report(args.baseline, check=False)
    if baseline is None:
        raise UsageError(
            f"{args.baseline}: baseline file not found; create it with "
            "`tokenbudget baseline update REPORT` or `pytest --tokenbudget-update-baseline`"
        )
    report = load_report(args.report, check=False)
    from ..gate.regression import BadBreakdown, compare
    from ..render.compare_text import render_comparison

    try:
        result = compare(baseline, report, **rule(args, project_settings()))
    except BadBreakdown as exc:  # a breakdown the lazy load did not check: name file and field
        name = baseline.path or args.baseline
        check_breakdowns({exc.nodeid: baseline.tests[exc.nodeid]}, name, FIX_BASELINE)
        name = report.path or args.report
        check_breakdowns({exc.nodeid: report.tests[exc.nodeid]}, name, FIX_REPORT)
        raise
    print_text(render_comparison(result.record(), limit=args.limit))
    return 1 if result.regressed else 0


# -- baseline update ----------------------------------------------------------------------------
def add_baseline(sub: Any) -> None:
    p = sub.add_parser(
        "baseline",
        help="manage the baseline file",
        description="Manage the baseline file that runs are compared with.",
    )
    inner = p.add_subparsers(dest="baseline_command", metavar="ACTION")
    inner.required = True
    u = inner.add_parser(
        "update",
        help="write or merge reports into the baseline",
        description="Merge REPORT(s) into the baseline: tests in the reports replace their "
        "entries, others are kept. Several reports of the same suite (noisy live runs) are "
        "combined per test and per figure with --stat. Failed, errored and skipped tests keep "
        "their previous entry.",
    )
    u.add_argument("reports", nargs="+", metavar="REPORT")
    u.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        metavar="PATH",
        help=f"baseline file (default {DEFAULT_BASELINE})",
    )
    u.add_argument(
        "--stat",
        choices=STATS,
        default="max",
        help="combine several reports per figure with max (default) or median",
    )
    u.add_argument(
        "--append",
        action="store_true",
        help="add the reports' samples to the tests the baseline has (the newest 20 kept; "
        "their figures stay): a nightly job grows the spread the gate judges against",
    )
    u.set_defaults(func=cmd_baseline_update)


def cmd_baseline_update(args: argparse.Namespace) -> int:
    if args.append and not Path(args.baseline).is_file():
        raise UsageError(
            f"{args.baseline}: no baseline to append samples to; create it first with "
            "`tokenbudget baseline update REPORT...` (without --append)"
        )
    reports = [load_report(path) for path in args.reports]
    new = baseline_from_reports(reports, args.stat)
    # A corrupt baseline is an error here (exit 2): the run that regenerates it is pytest's.
    done = update_file(args.baseline, new, replace_corrupt=False, append=args.append)
    if args.append:
        sys.stdout.write(
            f"appended to {args.baseline}: samples of {done.replaced:,} test(s) "
            f"({len(reports):,} run(s) each); {len(new.tests) - done.replaced:,} test(s) not in "
            f"the baseline left out; {done.tests:,} tests\n"
        )
        return 0
    action = "created" if done.created else "updated"
    sys.stdout.write(
        f"{action} {args.baseline}: {done.replaced:,} test(s) replaced, {done.added:,} added, "
        f"{done.kept:,} kept; {done.tests:,} tests, "
        f"{done.totals.total_tokens:,} tokens\n"
    )
    return 0


# -- merge --------------------------------------------------------------------------------------
def add_merge(sub: Any) -> None:
    p = sub.add_parser(
        "merge",
        help="merge the reports of CI shards into one",
        description="Merge shard reports into one report whose totals are recomputed from the "
        "tests: exactly the totals of the unsplit run.",
    )
    p.add_argument("reports", nargs="+", metavar="REPORT")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="merged report file")
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="add up tests present in several reports instead of refusing",
    )
    p.set_defaults(func=cmd_merge)


def cmd_merge(args: argparse.Namespace) -> int:
    from ..files.shards import merge_files

    merged, count = merge_files(args.reports, args.output, allow_overlap=args.allow_overlap)
    sys.stdout.write(
        f"merged {len(args.reports)} reports into {args.output}: {count:,} tests, "
        f"{merged.usage.total_tokens:,} tokens, {merged.usage.calls:,} calls, "
        f"cost {fmt.usd(merged.usage.cost_usd)}\n"
    )
    return 0


# -- report -------------------------------------------------------------------------------------
def add_report(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="render a report as text, Markdown or HTML",
        description="Render a JSON report (--tokenbudget-json) as text, Markdown or HTML.",
    )
    p.add_argument("report", metavar="REPORT")
    p.add_argument("--format", choices=("text", "markdown", "html"), default="text")
    p.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    p.add_argument(
        "--baseline",
        metavar="PATH",
        help="recompute the comparison against this baseline (default: the report's own)",
    )
    add_rule_options(p)
    p.add_argument(
        "--top", type=non_negative_int, default=10, help="rows per list (default 10; 0: all)"
    )
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    report = load_report(args.report)
    if args.baseline is not None:
        baseline = load_baseline_or_report(args.baseline)
        if baseline is None:
            raise UsageError(f"{args.baseline}: baseline file not found")
        from ..gate.regression import compare

        report.baseline = compare(baseline, report, **rule(args, project_settings())).record()
        from ..projection import project, runs_of

        runs = runs_of(report)
        if runs is not None:  # the new comparison's changes projected as the run's were
            project(report, runs)
    if args.format == "markdown":
        from ..render.markdown import render_markdown

        text = render_markdown(report, top=args.top)
    elif args.format == "html":
        from ..render.html import render_html

        text = render_html(report, top=args.top or 20)
    else:
        from ..render.text import render_report

        text = render_report(report, top=args.top)
    write_or_print(text, args.output)
    return 0


# -- count --------------------------------------------------------------------------------------
def add_count(sub: Any) -> None:
    p = sub.add_parser(
        "count",
        help="token footprint of prompt/context files",
        description=(
            "Count the tokens of files, folders (recursively) and globs, per file and in total, "
            "with the input cost for --model. Without PATH, check the [tool.tokenbudget.files] "
            "limits (glob = max tokens of the files it matches) of ./pyproject.toml. Exit 1 when "
            "--max or a limit is exceeded."
        ),
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="file, folder or glob ('**' allowed)")
    p.add_argument("--model", help="model to count and price for (default: o200k_base, no cost)")
    p.add_argument("--encoding", help="tiktoken encoding (overrides the model's)")
    p.add_argument(
        "--max", type=non_negative_int, metavar="N", help="exit 1 when the total exceeds N tokens"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_count)


def cmd_count(args: argparse.Namespace) -> int:
    from .count import count_paths, render_text

    root = Path.cwd()
    settings = project_settings()
    try:
        config = settings.values
        limits = None
        if not args.paths:
            limits = config.get("files")
            if not limits:
                raise UsageError(
                    "give PATH arguments, or set [tool.tokenbudget.files] (glob = max tokens) "
                    "in ./pyproject.toml"
                )
        pricer = project_pricer(settings) if args.model is not None else None
        result = count_paths(
            args.paths,
            root=root,
            model=args.model,
            encoding=args.encoding,
            pricer=pricer,
            max_tokens=args.max,
            limits=limits,
        )
    except ValueError as exc:  # UsageError, bad prices
        raise UsageError(str(exc)) from None
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    else:
        print_text(render_text(result))
    return 0 if result.passed else 1


# -- history and analyze ------------------------------------------------------------------------
def add_history(sub: Any) -> None:
    p = sub.add_parser(
        "history",
        help="trend of token use over runs (--tokenbudget-history file)",
        description="Show the runs recorded by --tokenbudget-history: tokens, change, calls, "
        "cost and verdict per run, and the trend. PATH defaults to the `history` key of "
        "[tool.tokenbudget] in ./pyproject.toml.",
    )
    p.add_argument("path", nargs="?", metavar="PATH", help="history file (JSON lines)")
    p.add_argument("--last", type=non_negative_int, default=20, help="runs shown (default 20)")
    p.set_defaults(func=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from ..files.history import read_history
    from .analyze import history_lines

    path = args.path or project_settings()["history"]
    if path is None:
        raise UsageError("give PATH, or set `history` in [tool.tokenbudget] of ./pyproject.toml")
    try:
        runs = read_history(Path(path))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print_text("\n".join(history_lines(runs, args.last or 20)) + "\n")
    return 0


def add_analyze(sub: Any) -> None:
    p = sub.add_parser(
        "analyze",
        help="data-driven recommendations from a report",
        description="Read a report and recommend where tokens and dollars can be saved or "
        "bounded: prompt caching, tests that dominate the run, agent loops, output-heavy "
        "models, unpriced models, and budgets for the biggest unbudgeted tests.",
    )
    p.add_argument("report", metavar="REPORT")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--runs-per-month",
        type=runs_per_month,
        default=None,
        metavar="N",
        help="project spend and savings to a month of N runs (default: runs_per_month of "
        "[tool.tokenbudget] in ./pyproject.toml, else the report's own)",
    )
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    from ..projection import runs_of
    from .analyze import recommendations, spend_lines

    report = load_report(args.report)
    settings = project_settings()
    runs = args.runs_per_month or settings["runs_per_month"] or runs_of(report)
    found = recommendations(report, project_pricer(settings), runs)
    if args.json:
        data = [{"kind": f.kind, "text": f.text, "worth_usd": f.worth_usd} for f in found]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    lines = spend_lines(report, runs) if runs else []
    if not found:
        lines.append("no recommendations: nothing stands out in this report")
    else:
        if lines:
            lines.append("recommendations:")
        lines += [f"{i}. [{f.kind}] {f.text}" for i, f in enumerate(found, 1)]
    print_text("\n".join(lines) + "\n")
    return 0
