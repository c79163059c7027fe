"""The Action's pull-request comment end to end, against the fake GitHub: only our own comment,
``on-change``, a hostile report, a repository that ships its own ``pytest_tokenbudget/``, and
the two-workflow recipe that comments on fork pull requests from an uploaded report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from actionrunner import ROOT, run_action
from fakegithub import MALLORY, REPO, FakeGitHub
from pytest_tokenbudget.files.baseline import write_json_atomic
from pytest_tokenbudget.render.markdown import MARKER
from test_github_action import OK_TESTS, PR_EVENT, errors
from test_hostile import MODEL, hostile_report, live_parts, rendered

RECIPE = ROOT / "examples" / "workflows"
TESTS_WORKFLOW = yaml.safe_load((RECIPE / "tokenbudget-tests.yml").read_text(encoding="utf-8"))
COMMENT_WORKFLOW = yaml.safe_load((RECIPE / "tokenbudget-comment.yml").read_text(encoding="utf-8"))
HEAD_SHA = "f00dfeed" * 5


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_ok=OK_TESTS)
    return pytester.path


def workflow_commands(log: str) -> list[str]:
    """Lines of the log the runner would read as commands, other than our own annotations
    (``::error``/``::warning`` whose properties hold no ``:``; their message is data)."""
    found = []
    for line in log.splitlines():
        ours = re.match(r"::(error|warning) [^:]*::", line)
        if not ours and (line.lstrip().startswith("::") or "##[" in line):
            found.append(line)
    return found


def test_another_authors_marker_is_left_alone_and_ours_edited(
    project: Path, github: FakeGitHub
) -> None:
    theirs = github.add(12, f"{MARKER}\nI pasted your marker", user=MALLORY)
    first = run_action(project, {"pytest-args": "test_ok.py"}, api=github.url, event=PR_EVENT)
    assert "pull-request comment: created" in first.log
    second = run_action(project, {"pytest-args": "test_ok.py"}, api=github.url, event=PR_EVENT)
    assert "pull-request comment: updated" in second.log
    assert github.comments[12][0] == {
        "id": theirs,
        "body": f"{MARKER}\nI pasted your marker",
        "user": MALLORY,
    }
    ours = github.comments[12][1]["id"]
    assert [(m, p) for m, p, _ in github.writes()] == [
        ("POST", f"/repos/{REPO}/issues/12/comments"),
        ("PATCH", f"/repos/{REPO}/issues/comments/{ours}"),
    ]


def test_on_change_leaves_a_current_comment_alone(project: Path, github: FakeGitHub) -> None:
    given = {"pytest-args": "test_ok.py", "comment": "on-change", "max-tokens": "100"}
    first = run_action(project, given, api=github.url, event=PR_EVENT)  # the gate fails: posted
    assert "pull-request comment: created" in first.log
    again = run_action(project, given, api=github.url, event=PR_EVENT)
    assert "pull-request comment: unchanged" in again.log
    changed = run_action(project, {**given, "max-tokens": "200"}, api=github.url, event=PR_EVENT)
    assert "pull-request comment: updated" in changed.log
    assert [w[0] for w in github.writes()] == ["POST", "PATCH"]
    # a passing run that changed no tokens posts nothing where there is no comment yet
    quiet = run_action(
        project,
        {"pytest-args": "test_ok.py", "comment": "on-change"},
        api=github.url,
        event={"pull_request": {"number": 13}},
    )
    assert "pull-request comment: not posted: tokens did not change" in quiet.log
    assert 13 not in github.comments


def test_a_hostile_report_gives_no_command_and_renders_inert(
    tmp_path: Path, github: FakeGitHub
) -> None:
    """Every string of a fork's report is its author's: names with ``::``, newlines, backticks,
    ``<img>`` and ``@mentions`` reach the log, the job summary and the comment inert."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write_json_atomic(workspace / "report.json", hostile_report())
    run = run_action(workspace, {"report": "report.json"}, api=github.url, event=PR_EVENT)
    assert run.returncode == 0, run.log
    assert "pull-request comment: created" in run.log
    assert workflow_commands(run.log) == []
    assert len(errors(run.log)) == 4  # the report's violations, annotated (their data escaped)
    assert "INJECTED" in run.log
    (comment,) = github.comments[12]
    for markdown in (run.summary, comment["body"]):
        assert live_parts(rendered(markdown)) == []
        assert MODEL.splitlines()[0] in markdown


def test_the_workspace_cannot_stand_in_for_the_package(
    pytester: pytest.Pytester, github: FakeGitHub
) -> None:
    """A repository with its own ``pytest_tokenbudget/`` (a pull request can add one) is not
    what the steps that read the report and hold the token import (they run ``python -I``)."""
    app = pytester.mkdir("app")
    (app / "test_ok.py").write_text(OK_TESTS, encoding="utf-8")
    fake = pytester.mkpydir("pytest_tokenbudget")
    steal = (
        "import os, pathlib\n"
        "pathlib.Path(os.environ['GITHUB_WORKSPACE'], 'stolen').write_text("
        "os.environ.get('INPUT_GITHUB_TOKEN', 'none'))\n"
    )
    (fake / "github").mkdir()
    (fake / "github" / "__init__.py").write_text(steal, encoding="utf-8")
    (fake / "github" / "__main__.py").write_text(steal, encoding="utf-8")
    run = run_action(pytester.path, {"working-directory": "app"}, api=github.url, event=PR_EVENT)
    assert run.returncode == 0, run.log
    assert not (pytester.path / "stolen").exists()
    assert "pull-request comment: created" in run.log
    assert "2 passed" in run.log


# -- the fork recipe ------------------------------------------------------------------------------
def our_step(workflow: dict[str, Any]) -> dict[str, Any]:
    (job,) = workflow["jobs"].values()
    (step,) = [s for s in job["steps"] if "pytest-tokenbudget@" in s.get("uses", "")]
    return step


def test_fork_recipe_is_the_safe_shape() -> None:
    """Tests on ``pull_request`` with a read-only token; the comment on ``workflow_run`` with
    ``pull-requests: write``, which checks out and runs none of the pull request's code."""
    assert list(TESTS_WORKFLOW[True]) == ["pull_request"]  # YAML reads `on` as True
    assert TESTS_WORKFLOW["permissions"] == {"contents": "read"}
    (tests_job,) = TESTS_WORKFLOW["jobs"].values()
    upload = next(s for s in tests_job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert our_step(TESTS_WORKFLOW)["with"]["comment"] == "never"
    assert upload["with"]["path"] == "${{ steps.tokens.outputs.report-json }}"

    trigger = COMMENT_WORKFLOW[True]["workflow_run"]
    assert trigger["workflows"] == [TESTS_WORKFLOW["name"]]
    assert COMMENT_WORKFLOW["permissions"] == {}
    (comment_job,) = COMMENT_WORKFLOW["jobs"].values()
    assert comment_job["permissions"] == {"actions": "read", "pull-requests": "write"}
    uses = [s.get("uses", "") for s in comment_job["steps"]]
    assert not any("checkout" in u for u in uses)
    download = next(s for s in comment_job["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["name"] == upload["with"]["name"]
    assert our_step(COMMENT_WORKFLOW)["with"] == {
        "report": f"{download['with']['path']}/report.json"
    }


def test_fork_recipe_comments_from_the_uploaded_report(
    project: Path, tmp_path: Path, github: FakeGitHub
) -> None:
    """The test job of a fork's pull request (no comment), its report as the artifact, then the
    ``workflow_run`` job comments from it on the pull request at the tested commit."""
    github.open_pull(12, HEAD_SHA, "forker:feature")
    pull_event = {"pull_request": {"number": 12, "head": {"sha": HEAD_SHA}}}
    tests = run_action(
        project,
        {**our_step(TESTS_WORKFLOW)["with"], "pytest-args": "test_ok.py"},
        api=github.url,
        event=pull_event,
    )
    assert tests.returncode == 0, tests.log
    assert "pull-request comment: off (comment: never)" in tests.log
    assert github.requests == []

    comment_job = tmp_path / "comment-job"  # a fresh workspace: no checkout, the artifact only
    artifact = our_step(COMMENT_WORKFLOW)["with"]["report"]
    (comment_job / artifact).parent.mkdir(parents=True)
    shutil.copy(tests.outputs["report-json"], comment_job / artifact)
    run_event = {
        "workflow_run": {
            "event": "pull_request",
            "head_sha": HEAD_SHA,
            "head_branch": "feature",
            "head_repository": {"owner": {"login": "forker"}},
            "pull_requests": [],  # as GitHub sends it for a fork
        }
    }
    run = run_action(
        comment_job, our_step(COMMENT_WORKFLOW)["with"], api=github.url, event=run_event
    )
    assert run.returncode == 0, run.log
    assert "pytest does not run" in run.log
    assert "pull-request comment: created" in run.log
    (comment,) = github.comments[12]
    assert "### 📊 This pull request used 950 tokens" in comment["body"]
    assert f"updated for `{HEAD_SHA[:12]}`" in comment["body"]
    assert run.outputs["total-tokens"] == "950"
    # the same report against a pull request that moved on is not commented
    github.open_pull(12, "beef" * 10, "forker:feature")
    stale = run_action(
        comment_job, our_step(COMMENT_WORKFLOW)["with"], api=github.url, event=run_event
    )
    assert "skipped: no open pull request is at the tested commit" in stale.log
    assert len(github.comments[12]) == 1


def zizmor() -> str:
    found = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if found is None:
        pytest.skip("zizmor is not installed (pip install -e '.[test]')")
    return found


def test_zizmor_finds_nothing_in_the_action_and_the_fork_recipe() -> None:
    files = ["action.yml", *sorted(str(p.relative_to(ROOT)) for p in RECIPE.glob("*.yml"))]
    assert len(files) == 3
    done = subprocess.run(
        [zizmor(), "--offline", "--no-progress", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "No findings to report" in out
    assert all(f"completed {name}" in out for name in files), out
