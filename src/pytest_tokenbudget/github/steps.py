"""The action's three steps and ``main``: ``python -I -m pytest_tokenbudget.github STEP``.

Each step reads its inputs from the environment that ``action.yml`` sets and returns the
step's exit status; only a bad input stops the action here (status 2). pytest's own status is
handed on as a step output and becomes the job's in the last step of ``action.yml``, so the
report and the comment are written even when the tests fail. With the ``report`` input no
pytest runs: the steps report and comment from that file (a fork's pull request, commented on
by a ``workflow_run`` job from the report its tests uploaded). The job summary and the comment
are both rendered here from the JSON report, so they show the same thing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..files.baseline import load_report
from ..files.codec import BaselineError
from ..render.markdown import SUMMARY_LIMIT, render_markdown
from ..render.mdtext import text
from ..report import Report, counts
from .comment import MARKDOWN_LIMIT, Target, upsert_comment
from .event import Event, read_event
from .findings import OUTPUT_NAMES, annotation_lines, outputs
from .inputs import InputError, parse_bool, parse_comment_mode, pytest_argv
from .workflow import append_to, format_outputs, log, log_error

__all__ = ["STEPS", "main", "report_markdown", "step_comment", "step_pytest", "step_report"]


def _workdir(env: Mapping[str, str]) -> str:
    return env.get("INPUT_WORKING_DIRECTORY", "").strip() or "."


def step_pytest(env: Mapping[str, str]) -> int:
    """Run pytest; its exit status becomes a step output so the later steps still run."""
    workdir = _workdir(env)
    if not Path(workdir).is_dir():
        log_error(f"input 'working-directory': no directory {workdir!r}")
        return 2
    given = env.get("INPUT_REPORT", "").strip()
    if given:
        path = Path(workdir, given).resolve()
        if not path.is_file():
            log_error(f"input 'report': no file {given!r} in {workdir!r}")
            return 2
        log(f"report given: {path} (pytest does not run)")
        append_to(
            env, "GITHUB_OUTPUT", format_outputs({"exit-code": "0", "report-json": str(path)})
        )
        return 0
    out_dir = Path(tempfile.mkdtemp(prefix="tokenbudget-", dir=env.get("RUNNER_TEMP") or None))
    json_path = out_dir / "report.json"
    try:
        args = pytest_argv(env, str(json_path))
    except InputError as exc:
        log_error(str(exc))
        return 2
    argv = [sys.executable, "-m", "pytest", *args]
    log(f"in {workdir}: {shlex.join(argv)}")
    status = subprocess.run(argv, cwd=workdir, check=False).returncode
    outs = {"exit-code": str(status), "report-json": str(json_path)}
    append_to(env, "GITHUB_OUTPUT", format_outputs(outs))
    return 0


def _read_report(path: str) -> tuple[Report | None, str]:
    """The report, or None and why there is none (load_report's message)."""
    if not path:
        return None, "no report path"
    if not Path(path).exists():
        return None, "pytest wrote no token report"
    try:
        # Checked whole: the file may come from a fork's run, and every table reads it.
        return load_report(path), ""
    except BaselineError as exc:
        return None, str(exc)


def report_markdown(report: Report, event: Event, max_chars: int) -> str:
    """The Markdown of the job summary and the comment: "This pull request" where there is one."""
    subject = "This pull request" if event.pr is not None or event.workflow_run else "This run"
    return render_markdown(report, max_chars=max_chars, subject=subject, updated_for=event.head_sha)


def step_report(env: Mapping[str, str]) -> int:
    """Action outputs, the Markdown report in the job summary, annotations."""
    try:
        warn_only = parse_bool("warn-only", env.get("INPUT_WARN_ONLY"))
        update = parse_bool("update-baseline", env.get("INPUT_UPDATE_BASELINE"))
        event = read_event(env.get("GITHUB_EVENT_PATH"), env.get("INPUT_PR_NUMBER"))
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
    append_to(env, "GITHUB_STEP_SUMMARY", report_markdown(report, event, SUMMARY_LIMIT))
    workspace = env.get("GITHUB_WORKSPACE") or os.getcwd()
    root = Path(workspace, _workdir(env))
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
        mode = parse_comment_mode(env.get("INPUT_COMMENT"))
        event = read_event(env.get("GITHUB_EVENT_PATH"), env.get("INPUT_PR_NUMBER"))
    except InputError as exc:
        log_error(str(exc))
        return 2
    if mode == "never":
        log("pull-request comment: off (comment: never)")
        return 0
    report, why = _read_report(env.get("REPORT_JSON", ""))
    if report is None:
        log(f"pull-request comment: skipped: no report ({why})")
        return 0
    # The digest is of the figures as shown, without the commit the comment was updated for.
    plain = report_markdown(
        report, Event(pr=event.pr, workflow_run=event.workflow_run), MARKDOWN_LIMIT
    )
    result = upsert_comment(
        env.get("GITHUB_API_URL", "") or "https://api.github.com",
        Target(
            env.get("GITHUB_REPOSITORY", ""),
            event.pr,
            head_sha=event.head_sha,
            head_label=event.head_label,
            verify_head=event.workflow_run,
        ),
        report_markdown(report, event, MARKDOWN_LIMIT),
        env.get("INPUT_GITHUB_TOKEN", ""),
        mode=mode,
        digest=hashlib.sha256(plain.encode("utf-8")).hexdigest()[:32],
        post=_worth_posting(report),
        graphql=env.get("GITHUB_GRAPHQL_URL", ""),
    )
    log(f"pull-request comment: {result}")
    if result.startswith("skipped"):
        reason = result.partition(": ")[2]
        append_to(
            env,
            "GITHUB_STEP_SUMMARY",
            f"\n> [!NOTE]\n> The token report was not posted as a pull-request comment "
            f"({text(reason)}); this job summary has it.\n",
        )
    return 0


def _worth_posting(report: Report) -> bool:
    """``on-change`` posts a new comment only when tokens changed or the gate failed."""
    summary = report.baseline
    if not report.passed or report.violations:
        return True
    if summary is None:
        return False
    moved = summary.current_totals.usage.total_tokens != summary.baseline_totals.usage.total_tokens
    return moved or counts(report).changed


STEPS: dict[str, Callable[[Mapping[str, str]], int]] = {
    "pytest": step_pytest,
    "report": step_report,
    "comment": step_comment,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -I -m pytest_tokenbudget.github",
        description="Steps of the pytest-tokenbudget GitHub Action (inputs come from the "
        "environment that action.yml sets).",
    )
    parser.add_argument("step", choices=sorted(STEPS))
    args = parser.parse_args(argv)
    return STEPS[args.step](os.environ)
