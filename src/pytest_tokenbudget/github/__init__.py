"""The GitHub Action's logic, called by the steps of ``action.yml``.

Kept in Python rather than in the YAML so that it can be tested, and so that no input ever
passes through a shell: ``action.yml`` hands every input over in an environment variable.
No pytest import: the steps after the test run only read the report files.

    python -m pytest_tokenbudget.github pytest    # run pytest; step outputs for the steps below
    python -m pytest_tokenbudget.github report    # action outputs, job summary, annotations
    python -m pytest_tokenbudget.github comment   # the one pull-request comment
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..render.markdown import MARKER

__all__ = [
    "MARKER",
    "InputError",
    "annotation_lines",
    "format_outputs",
    "main",
    "outputs",
    "pr_number",
    "pytest_argv",
    "upsert_comment",
]

#: GitHub refuses comment bodies above 65,536 characters.
COMMENT_LIMIT = 65_000
#: GitHub shows at most 10 error annotations per step; more would be dropped silently.
ANNOTATION_LIMIT = 10
#: Stop following ``Link: rel="next"`` after this many pages (10,000 comments).
MAX_PAGES = 100

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


def pytest_argv(env: Mapping[str, str], json_path: str, markdown_path: str) -> list[str]:
    """pytest's arguments: the user's first, then ours, so that ours win (argparse: last wins).

    ``pytest-args`` is split like a POSIX shell splits words, but nothing is expanded or run.
    """
    raw = env.get("INPUT_PYTEST_ARGS", "")
    try:
        args = shlex.split(raw)
    except ValueError as exc:
        raise InputError(f"input 'pytest-args': {exc} in {raw!r}") from None
    args += [f"--tokenbudget-json={json_path}", f"--tokenbudget-markdown={markdown_path}"]
    for var, option in VALUE_INPUTS.values():
        value = env.get(var, "").strip()
        if value:
            args.append(f"{option}={value}")
    for name, (var, option) in FLAG_INPUTS.items():
        if parse_bool(name, env.get(var)):
            args.append(option)
    return args


def _plain_number(value: float) -> str:
    """``3.3e-05`` would break a shell or spreadsheet comparison; ``0.000033`` does not."""
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def findings(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The report's violations, plus the regressions a baseline update accepted.

    A run with ``--tokenbudget-update-baseline`` does not count its regressions as violations
    (it passes); they are in its comparison, and the action still shows them, as warnings.
    """
    found: list[Mapping[str, Any]] = list(report.get("violations") or [])
    if any(v.get("kind") == "regression" for v in found):
        return found
    comparison = report.get("baseline") or {}
    accepted = [
        {"kind": "regression", "nodeid": c.get("nodeid"), "message": c.get("message", "")}
        for c in comparison.get("regressions") or []
    ]
    total = comparison.get("total") or {}
    if total.get("regressed"):
        accepted.append({"kind": "regression", "nodeid": None, "message": total.get("message")})
    return found + accepted


def outputs(report: Mapping[str, Any], report_path: str = "") -> dict[str, str]:
    """The action's outputs; ``violations`` counts all of them, regressions included."""
    totals = report.get("totals") or {}
    violations = list(report.get("violations") or [])
    cost = totals.get("cost_usd")
    return {
        "total-tokens": str(int(totals.get("total_tokens") or 0)),
        "cost-usd": "" if cost is None else _plain_number(float(cost)),
        "regressions": str(sum(1 for v in findings(report) if v.get("kind") == "regression")),
        "violations": str(len(violations)),
        "passed": "true" if report.get("passed") else "false",
        "report-json": report_path,
    }


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


def _locate(
    nodeid: str, root: Path | None, workspace: Path | None
) -> tuple[str | None, int | None]:
    """The test's file (relative to the workspace, as GitHub wants it) and its ``def`` line.

    Node ids are relative to pytest's rootdir, which the report does not record: look for the
    file from the directory pytest ran in upwards to the workspace.
    """
    path, _, rest = nodeid.partition("::")
    if not path or path.startswith("<") or not path.endswith(".py"):
        return None, None
    name = rest.split("::")[-1].split("[")[0] if rest else ""
    if root is None:
        return path, None
    root = root.resolve()
    top = workspace.resolve() if workspace is not None else None
    for folder in [root, *root.parents]:
        candidate = folder / path
        if candidate.is_file():
            break
        if folder == top:
            return path, None
    else:
        return path, None
    shown = candidate.as_posix()
    if top is not None:
        with contextlib.suppress(ValueError):
            shown = candidate.relative_to(top).as_posix()
    line = None
    if name:
        pattern = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(")
        try:
            text = candidate.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        for number, source in enumerate(text.splitlines(), 1):
            if pattern.match(source):
                line = number
                break
    return shown, line


_TITLES = {
    "test_budget": "token budget exceeded",
    "run_budget": "run token budget exceeded",
    "regression": "token regression",
}


def annotation_lines(
    report: Mapping[str, Any],
    *,
    warn_only: bool = False,
    update_baseline: bool = False,
    root: Path | None = None,
    workspace: Path | None = None,
    limit: int = ANNOTATION_LIMIT,
) -> list[str]:
    """Workflow commands for the report's violations.

    Errors where the violation fails the job; warnings where it does not (``warn-only``, or
    regressions being accepted into the baseline), so that a green job shows no red marks.
    """
    lines = []
    for v in findings(report):
        kind = str(v.get("kind", ""))
        failing = not warn_only and not (kind == "regression" and update_baseline)
        nodeid = v.get("nodeid")
        title = _TITLES.get(kind, kind or "token budget")
        file = line = None
        if nodeid:
            title = f"{nodeid}: {title}"
            file, line = _locate(str(nodeid), root, workspace)
        lines.append(
            workflow_command(
                "error" if failing else "warning",
                str(v.get("message", "")),
                file=file,
                line=line,
                title=title,
            )
        )
    if len(lines) > limit:
        more = len(lines) - (limit - 1)
        level = "error" if any(x.startswith("::error") for x in lines[limit - 1 :]) else "warning"
        summary = f"... and {more} more token budget findings (see the job summary)"
        lines = [*lines[: limit - 1], workflow_command(level, summary, title="pytest-tokenbudget")]
    return lines


def pr_number(event_path: str | None) -> int | None:
    """The pull request of the event (``pull_request*`` events, or a comment on a PR)."""
    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    pr = event.get("pull_request")
    if isinstance(pr, dict) and type(pr.get("number")) is int:
        return int(pr["number"])
    issue = event.get("issue")
    if isinstance(issue, dict) and issue.get("pull_request") and type(issue.get("number")) is int:
        return int(issue["number"])
    return None


class _Api:
    def __init__(self, base: str, token: str, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.origin = urllib.parse.urlsplit(self.base)[:2]
        self.token = token
        self.timeout = timeout

    def call(self, method: str, url: str, data: Any = None) -> tuple[Any, str]:
        if urllib.parse.urlsplit(url)[:2] != self.origin:
            # Never send the token to a host that a Link header names.
            raise ValueError(f"refusing to follow {url} outside {self.base}")
        body = None if data is None else json.dumps(data).encode("utf-8")
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "pytest-tokenbudget")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            raw = response.read()
            link = response.headers.get("Link", "") or ""
        return (json.loads(raw) if raw else None), link


def _next_link(link: str) -> str | None:
    for part in link.split(","):
        match = re.match(r"\s*<([^>]+)>\s*;(.*)", part)
        if match and re.search(r'rel="?next"?', match.group(2)):
            return match.group(1)
    return None


def _find_comment(api: _Api, repo: str, pr: int) -> int | None:
    url: str | None = f"{api.base}/repos/{repo}/issues/{pr}/comments?per_page=100"
    for _ in range(MAX_PAGES):
        if url is None:
            break
        page, link = api.call("GET", url)
        for comment in page or []:
            if isinstance(comment, dict) and MARKER in str(comment.get("body") or ""):
                return int(comment["id"])
        url = _next_link(link)
    return None


def _fit(body: str) -> str:
    if MARKER not in body:
        body = f"{MARKER}\n{body}"
    if len(body) <= COMMENT_LIMIT:
        return body
    cut = body[: COMMENT_LIMIT - 200].rsplit("\n", 1)[0]
    return cut + "\n\n_... cut to fit a comment; the whole report is in the job summary._\n"


def _http_reason(exc: urllib.error.HTTPError, method: str) -> str:
    try:
        message = json.loads(exc.read() or b"{}").get("message", "")
    except (ValueError, AttributeError, OSError):
        message = ""
    reason = f"GitHub answered {exc.code} to {method}" + (f" ({message})" if message else "")
    if exc.code in (401, 403, 404):
        reason += (
            "; the token may not write to this pull request (a pull request from a fork, or "
            "the workflow lacks `permissions: pull-requests: write`)"
        )
    return reason


def upsert_comment(
    api: str, repo: str, pr: int | None, body: str, token: str, *, timeout: float = 30.0
) -> str:
    """Edit the pull request's report comment, or create it when there is none.

    One comment per pull request, found by its marker: re-posting on every push would bury
    the conversation. Never raises: a comment is not worth failing a job over; the reason of a
    ``"skipped: ..."`` goes to the job summary instead.
    """
    if pr is None:
        return "skipped: no pull request in this event"
    if not token:
        return "skipped: no github-token"
    if not repo:
        return "skipped: GITHUB_REPOSITORY is not set"
    client = _Api(api or "https://api.github.com", token, timeout)
    body = _fit(body)
    method = "GET"
    try:
        existing = _find_comment(client, repo, pr)
        if existing is not None:
            method = "PATCH"
            client.call(
                method, f"{client.base}/repos/{repo}/issues/comments/{existing}", {"body": body}
            )
            return "updated"
        method = "POST"
        client.call(method, f"{client.base}/repos/{repo}/issues/{pr}/comments", {"body": body})
        return "created"
    except urllib.error.HTTPError as exc:
        return f"skipped: {_http_reason(exc, method)}"
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        return f"skipped: {method} failed: {exc}"


# ---------------------------------------------------------------------------- the steps


def _append(env: Mapping[str, str], var: str, text: str) -> None:
    path = env.get(var)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    elif var == "GITHUB_OUTPUT":
        sys.stdout.write(text)


def _error(message: str) -> None:
    print(workflow_command("error", message, title="pytest-tokenbudget"), flush=True)


def step_pytest(env: Mapping[str, str]) -> int:
    """Run pytest; its exit status becomes a step output so the later steps still run."""
    out_dir = Path(tempfile.mkdtemp(prefix="tokenbudget-", dir=env.get("RUNNER_TEMP") or None))
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    try:
        args = pytest_argv(env, str(json_path), str(md_path))
    except InputError as exc:
        _error(str(exc))
        return 2
    workdir = env.get("INPUT_WORKING_DIRECTORY", "").strip() or "."
    if not Path(workdir).is_dir():
        _error(f"input 'working-directory': no directory {workdir!r}")
        return 2
    argv = [sys.executable, "-m", "pytest", *args]
    print(f"[pytest-tokenbudget] in {workdir}: {shlex.join(argv)}", flush=True)
    status = subprocess.run(argv, cwd=workdir, check=False).returncode
    _append(
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


def _load_report(path: str) -> tuple[dict[str, Any] | None, str]:
    if not path:
        return None, "no report path"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "pytest wrote no token report"
    except (OSError, ValueError) as exc:
        return None, f"the token report {path} is unreadable: {exc}"
    if not isinstance(data, dict):
        return None, f"the token report {path} is not a JSON object"
    return data, ""


def step_report(env: Mapping[str, str]) -> int:
    """Action outputs, the Markdown report in the job summary, annotations."""
    try:
        warn_only = parse_bool("warn-only", env.get("INPUT_WARN_ONLY"))
        update = parse_bool("update-baseline", env.get("INPUT_UPDATE_BASELINE"))
    except InputError as exc:
        _error(str(exc))
        return 2
    status = env.get("PYTEST_EXIT_CODE", "")
    json_path = env.get("REPORT_JSON", "")
    report, why = _load_report(json_path)
    if report is None:
        empty = dict.fromkeys(outputs({}), "")
        _append(env, "GITHUB_OUTPUT", format_outputs({**empty, "passed": "false"}))
        note = f"pytest exited with status {status or '?'}: {why} (see the step log)"
        _append(env, "GITHUB_STEP_SUMMARY", f"> [!WARNING]\n> **pytest-tokenbudget:** {note}\n")
        _error(note)
        return 0
    _append(env, "GITHUB_OUTPUT", format_outputs(outputs(report, json_path)))
    markdown = Path(env.get("REPORT_MARKDOWN", "") or os.devnull)
    if markdown.is_file():
        _append(env, "GITHUB_STEP_SUMMARY", markdown.read_text(encoding="utf-8"))
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
        _error(str(exc))
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
        _append(
            env,
            "GITHUB_STEP_SUMMARY",
            f"\n> [!NOTE]\n> The token report was not posted as a pull-request comment "
            f"({reason}); this job summary has it.\n",
        )
    return 0


STEPS = {"pytest": step_pytest, "report": step_report, "comment": step_comment}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_tokenbudget.github",
        description="Steps of the pytest-tokenbudget GitHub Action (inputs come from the "
        "environment that action.yml sets).",
    )
    parser.add_argument("step", choices=sorted(STEPS))
    args = parser.parse_args(argv)
    return STEPS[args.step](os.environ)
