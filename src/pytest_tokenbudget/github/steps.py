"""The action's three steps and ``main``: ``python -m pytest_tokenbudget.github STEP``.

Each step reads its inputs from the environment that ``action.yml`` sets and returns the
step's exit status; only a bad input stops the action here (status 2). pytest's own status is
handed on as a step output and becomes the job's in the last step of ``action.yml``, so the
report and the comment are written even when the tests fail.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..files.baseline import load_report
from ..files.codec import BaselineError
from ..report import Report
from .comment import pr_number, upsert_comment
from .findings import OUTPUT_NAMES, annotation_lines, outputs
from .inputs import InputError, parse_bool, pytest_argv
from .workflow import append_to, format_outputs, log_error

__all__ = ["STEPS", "main", "step_comment", "step_pytest", "step_report"]


def step_pytest(env: Mapping[str, str]) -> int:
    """Run pytest; its exit status becomes a step output so the later steps still run."""
    out_dir = Path(tempfile.mkdtemp(prefix="tokenbudget-", dir=env.get("RUNNER_TEMP") or None))
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    try:
        args = pytest_argv(env, str(json_path), str(md_path))
    except InputError as exc:
        log_error(str(exc))
        return 2
    workdir = env.get("INPUT_WORKING_DIRECTORY", "").strip() or "."
    if not Path(workdir).is_dir():
        log_error(f"input 'working-directory': no directory {workdir!r}")
        return 2
    argv = [sys.executable, "-m", "pytest", *args]
    print(f"[pytest-tokenbudget] in {workdir}: {shlex.join(argv)}", flush=True)
    status = subprocess.run(argv, cwd=workdir, check=False).returncode
    append_to(
        env,
        "GITHUB_OUTPUT",
        format_outputs(
            {
                "exit-code": str(status),
                "report-json": str(json_path),
                "report-markdown": str(md_path),
            }
        ),
    )
    return 0


def _read_report(path: str) -> tuple[Report | None, str]:
    """The report pytest wrote, or None and why there is none (load_report's message)."""
    if not path:
        return None, "no report path"
    if not Path(path).exists():
        return None, "pytest wrote no token report"
    try:
        # Unchecked breakdowns: the action reads the totals, violations and comparison only.
        return load_report(path, check=False), ""
    except BaselineError as exc:
        return None, str(exc)


def step_report(env: Mapping[str, str]) -> int:
    """Action outputs, the Markdown report in the job summary, annotations."""
    try:
        warn_only = parse_bool("warn-only", env.get("INPUT_WARN_ONLY"))
        update = parse_bool("update-baseline", env.get("INPUT_UPDATE_BASELINE"))
    except InputError as exc:
        log_error(str(exc))
        return 2
    status = env.get("PYTEST_EXIT_CODE", "")
    json_path = env.get("REPORT_JSON", "")
    report, why = _read_report(json_path)
    if report is None:
        empty = dict.fromkeys(OUTPUT_NAMES, "")
        append_to(env, "GITHUB_OUTPUT", format_outputs({**empty, "passed": "false"}))
        note = f"pytest exited with status {status or '?'}: {why} (see the step log)"
        append_to(env, "GITHUB_STEP_SUMMARY", f"> [!WARNING]\n> **pytest-tokenbudget:** {note}\n")
        log_error(note)
        return 0
    append_to(env, "GITHUB_OUTPUT", format_outputs(outputs(report, json_path)))
    markdown = Path(env.get("REPORT_MARKDOWN", "") or os.devnull)
    if markdown.is_file():
        append_to(env, "GITHUB_STEP_SUMMARY", markdown.read_text(encoding="utf-8"))
    workspace = env.get("GITHUB_WORKSPACE") or os.getcwd()
    root = Path(workspace, env.get("INPUT_WORKING_DIRECTORY", "").strip() or ".")
    for line in annotation_lines(
        report,
        warn_only=warn_only,
        update_baseline=update,
        root=root,
        workspace=Path(workspace),
    ):
        print(line, flush=True)
    return 0


def step_comment(env: Mapping[str, str]) -> int:
    """Upsert the pull-request comment; where that is not possible say so in the summary."""
    try:
        wanted = parse_bool("comment", env.get("INPUT_COMMENT"), default=True)
    except InputError as exc:
        log_error(str(exc))
        return 2
    if not wanted:
        print("[pytest-tokenbudget] pull-request comment: off (comment: false)")
        return 0
    markdown = Path(env.get("REPORT_MARKDOWN", "") or os.devnull)
    if not markdown.is_file():
        print("[pytest-tokenbudget] pull-request comment: skipped: no Markdown report")
        return 0
    result = upsert_comment(
        env.get("GITHUB_API_URL", "") or "https://api.github.com",
        env.get("GITHUB_REPOSITORY", ""),
        pr_number(env.get("GITHUB_EVENT_PATH")),
        markdown.read_text(encoding="utf-8"),
        env.get("INPUT_GITHUB_TOKEN", ""),
    )
    print(f"[pytest-tokenbudget] pull-request comment: {result}", flush=True)
    if result.startswith("skipped"):
        reason = result.partition(": ")[2]
        append_to(
            env,
            "GITHUB_STEP_SUMMARY",
            f"\n> [!NOTE]\n> The token report was not posted as a pull-request comment "
            f"({reason}); this job summary has it.\n",
        )
    return 0


STEPS: dict[str, Callable[[Mapping[str, str]], int]] = {
    "pytest": step_pytest,
    "report": step_report,
    "comment": step_comment,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_tokenbudget.github",
        description="Steps of the pytest-tokenbudget GitHub Action (inputs come from the "
        "environment that action.yml sets).",
    )
    parser.add_argument("step", choices=sorted(STEPS))
    args = parser.parse_args(argv)
    return STEPS[args.step](os.environ)
