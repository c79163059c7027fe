"""The GitHub Action: its pure parts, the comment upsert against a loopback fake GitHub REST
server, and action.yml itself run step by step the way the runner runs a composite action."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from actionrunner import ACTION, ROOT, parse_outputs, run_action
from fakegithub import MALLORY, REPO, TOKEN, FakeGitHub
from pytest_tokenbudget.files.baseline import load_report, report_from_dict
from pytest_tokenbudget.github import (
    MARKER,
    InputError,
    Target,
    annotation_lines,
    format_outputs,
    outputs,
    pytest_argv,
    read_event,
    upsert_comment,
)
from pytest_tokenbudget.github.comment import digest_line
from pytest_tokenbudget.github.event import Event
from pytest_tokenbudget.github.findings import OUTPUT_NAMES, findings
from pytest_tokenbudget.github.steps import step_report
from reportfactory import report_doc, simple

PR7 = Target(REPO, 7)


# ------------------------------------------------------------------------- upsert_comment


def test_comment_created_when_absent(github: FakeGitHub) -> None:
    github.add(7, "LGTM")
    assert upsert_comment(github.url, PR7, f"{MARKER}\nreport", TOKEN) == "created"
    assert [c["body"] for c in github.comments[7]] == ["LGTM", f"{MARKER}\nreport"]
    assert [r[0] for r in github.writes()] == ["POST"]


def test_comment_edited_when_present_on_page_two(github: FakeGitHub) -> None:
    github.add(7, "first")
    github.add(7, "second")
    ours = github.add(7, f"{MARKER}\nold report")
    github.add(7, "after")
    assert upsert_comment(github.url, PR7, f"{MARKER}\nnew report", TOKEN) == "updated"
    assert [c["body"] for c in github.comments[7]] == [
        "first",
        "second",
        f"{MARKER}\nnew report",
        "after",
    ]
    assert github.writes() == [
        ("PATCH", f"/repos/{REPO}/issues/comments/{ours}", {"body": f"{MARKER}\nnew report"})
    ]
    pages = [r[1] for r in github.requests if r[0] == "GET"]
    assert len(pages) == 2
    assert pages[1].endswith("page=2")


def test_comment_forbidden_is_skipped_with_reason(github: FakeGitHub) -> None:
    github.fail["POST"] = 403
    result = upsert_comment(github.url, PR7, f"{MARKER}\nreport", TOKEN)
    assert result.startswith("skipped: GitHub answered 403 to POST")
    assert "Resource not accessible by integration" in result
    assert "fork" in result
    assert 7 not in github.comments


def test_unreadable_listing_never_posts(github: FakeGitHub) -> None:
    """Not finding our comment because listing failed must not make a second one."""
    github.fail["GET"] = 404
    assert upsert_comment(github.url, PR7, MARKER, TOKEN).startswith(
        "skipped: GitHub answered 404 to GET"
    )
    assert github.writes() == []


def test_no_pull_request_is_skipped(github: FakeGitHub) -> None:
    result = upsert_comment(github.url, Target(REPO, None), MARKER, TOKEN)
    assert result == "skipped: no pull request in this event"
    assert github.requests == []


def test_unreachable_api_is_skipped() -> None:
    result = upsert_comment("http://127.0.0.1:9", PR7, MARKER, TOKEN, timeout=5)
    assert result.startswith("skipped: the GraphQL viewer query failed")


def test_comment_body_gets_marker_and_fits(github: FakeGitHub) -> None:
    assert upsert_comment(github.url, PR7, "x\n" * 50_000, TOKEN) == "created"
    body = github.comments[7][0]["body"]
    assert body.startswith(MARKER)
    assert len(body) <= 65_000
    assert "cut to fit" in body


def test_link_to_another_host_is_not_followed(github: FakeGitHub) -> None:
    """The token goes only to the API host."""
    github.add(7, "a")
    github.add(7, "b")
    github.add(7, "c")
    other = github.url.replace("127.0.0.1", "localhost")
    github.url = other  # the fake now names another origin in its Link header
    result = upsert_comment(f"http://127.0.0.1:{other.rsplit(':', 1)[1]}", PR7, MARKER, TOKEN)
    assert result.startswith("skipped: GET failed: refusing to follow")
    assert github.writes() == []


def test_another_authors_comment_with_the_marker_is_left_alone(github: FakeGitHub) -> None:
    """Anyone can paste the marker; only the token's own comment is ours to edit."""
    theirs = github.add(7, f"{MARKER}\nnot yours", user=MALLORY)
    assert upsert_comment(github.url, PR7, f"{MARKER}\nreport", TOKEN) == "created"
    assert [(c["user"]["login"], c["body"]) for c in github.comments[7]] == [
        ("mallory", f"{MARKER}\nnot yours"),
        ("github-actions[bot]", f"{MARKER}\nreport"),
    ]
    ours = github.comments[7][1]["id"]
    assert upsert_comment(github.url, PR7, f"{MARKER}\nreport 2", TOKEN) == "updated"
    assert [(m, p) for m, p, _ in github.writes()] == [
        ("POST", f"/repos/{REPO}/issues/7/comments"),
        ("PATCH", f"/repos/{REPO}/issues/comments/{ours}"),
    ]
    assert github.comments[7][0]["body"] == f"{MARKER}\nnot yours"
    assert theirs != ours


def test_the_fake_refuses_edits_of_another_authors_comment(github: FakeGitHub) -> None:
    """As GitHub does (403): what the action used to run into, and report as a fork."""
    import urllib.error
    import urllib.request

    theirs = github.add(7, MARKER, user=MALLORY)
    request = urllib.request.Request(
        f"{github.url}/repos/{REPO}/issues/comments/{theirs}",
        data=b'{"body": "x"}',
        method="PATCH",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403


@pytest.mark.parametrize(
    ("mode", "old", "post", "expected", "writes"),
    [
        ("on-change", "5a3e", True, "unchanged", []),
        ("on-change", "01de", False, "updated", ["PATCH"]),
        ("on-change", None, True, "created", ["POST"]),
        ("on-change", None, False, "not posted: tokens did not change", []),
        ("always", "5a3e", False, "updated", ["PATCH"]),
        ("always", None, False, "created", ["POST"]),
    ],
)
def test_comment_modes(
    github: FakeGitHub,
    mode: str,
    old: str | None,
    post: bool,
    expected: str,
    writes: list[str],
) -> None:
    """``on-change`` edits only when the figures differ (their digest), posts only when asked."""
    if old is not None:
        github.add(7, f"{MARKER}\n{digest_line(old)}\nold report")
    result = upsert_comment(
        github.url, PR7, f"{MARKER}\nreport", TOKEN, mode=mode, digest="5a3e", post=post
    )
    assert result.startswith(expected)
    assert [w[0] for w in github.writes()] == writes
    if writes:
        assert github.comments[7][-1]["body"] == f"{MARKER}\n{digest_line('5a3e')}\nreport"


def test_workflow_run_comments_only_on_the_pull_request_at_the_tested_commit(
    github: FakeGitHub,
) -> None:
    """A report from a fork's run names its pull request through the artifact or the branch;
    the commit it was made from must be that pull request's head."""
    github.open_pull(7, "f00d", "forker:feature")
    github.open_pull(8, "beef", "other:main")
    at = Target(REPO, None, head_sha="f00d", head_label="forker:feature", verify_head=True)
    assert upsert_comment(github.url, at, MARKER, TOKEN) == "created"
    assert list(github.comments) == [7]
    wrong = Target(REPO, 8, head_sha="f00d", verify_head=True)
    result = upsert_comment(github.url, wrong, MARKER, TOKEN)
    assert result.startswith("skipped: pull request #8 is at beef, not at the tested commit f00d")
    gone = Target(REPO, None, head_sha="cafe", head_label="forker:feature", verify_head=True)
    result = upsert_comment(github.url, gone, MARKER, TOKEN)
    assert result == "skipped: no open pull request is at the tested commit cafe"
    assert list(github.comments) == [7]


# -------------------------------------------------------------------- pure helpers


def test_pull_request_from_events(tmp_path: Path) -> None:
    def event(data: Any, given: str | None = None) -> Any:
        path = tmp_path / "event.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        return read_event(str(path), given)

    pull = {"number": 42, "head": {"sha": "abc123"}}
    assert event({"pull_request": pull}) == Event(pr=42, head_sha="abc123")
    assert event({"issue": {"number": 9, "pull_request": {"url": "x"}}}).pr == 9
    assert event({"issue": {"number": 9}}).pr is None  # a plain issue
    assert event({"ref": "refs/heads/main"}) == Event()  # push
    assert event({"ref": "refs/heads/main"}, "#17") == Event(pr=17)  # the pr-number input
    assert event({"pull_request": {"number": True}}).pr is None
    # a fork's workflow_run names no pull request: the head commit and branch find it
    run = {
        "head_sha": "f00d",
        "head_branch": "feature",
        "head_repository": {"owner": {"login": "forker"}},
        "pull_requests": [],
    }
    assert event({"workflow_run": run}) == Event(
        head_sha="f00d", workflow_run=True, head_label="forker:feature"
    )
    assert event({"workflow_run": {**run, "pull_requests": [{"number": 5}]}}).pr == 5
    assert read_event(str(tmp_path / "missing.json")) == Event()
    assert read_event(None) == Event()
    with pytest.raises(InputError, match="input 'pr-number': expected a pull request's number"):
        read_event(None, "12; rm")


def test_pytest_argv_maps_inputs() -> None:
    env = {
        "INPUT_PYTEST_ARGS": 'tests -k "agent and not slow" -n 2',
        "INPUT_BASELINE": "budgets/base.json",
        "INPUT_REGRESSION": "5%",
        "INPUT_MAX_TOKENS": "",
        "INPUT_MAX_COST_USD": "2.5",
        "INPUT_UPDATE_BASELINE": "false",
        "INPUT_WARN_ONLY": "True",
    }
    assert pytest_argv(env, "/t/r.json") == [
        "tests",
        "-k",
        "agent and not slow",
        "-n",
        "2",
        "--tokenbudget-json=/t/r.json",
        "--tokenbudget-baseline=budgets/base.json",
        "--tokenbudget-regression=5%",
        "--tokenbudget-max-cost=2.5",
        "--tokenbudget-warn-only",
    ]
    assert pytest_argv({}, "r.json") == ["--tokenbudget-json=r.json"]


def test_pytest_argv_is_not_a_shell() -> None:
    args = pytest_argv({"INPUT_PYTEST_ARGS": "$(touch x); `id` $HOME"}, "r")
    assert args[:4] == ["$(touch", "x);", "`id`", "$HOME"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INPUT_WARN_ONLY": "maybe"}, "input 'warn-only': expected true or false, got 'maybe'"),
        ({"INPUT_UPDATE_BASELINE": "2"}, "input 'update-baseline'"),
        ({"INPUT_PYTEST_ARGS": '-k "open'}, "input 'pytest-args': No closing quotation"),
    ],
)
def test_bad_inputs_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        pytest_argv(env, "r")


def _violation(kind: str, nodeid: str | None, message: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "nodeid": nodeid,
        "metric": "total_tokens",
        "limit": 1,
        "actual": 2,
        "message": message,
    }


#: A comparison in which t.py::a regressed and so did the total of the tests in both.
A_AND_TOTAL_REGRESSED = {
    "regressions": [{"nodeid": "t.py::a", "message": "t.py::a grew"}],
    "total": {"nodeid": "(total)", "regressed": True, "message": "the total grew"},
    "regressed": True,
}


def test_outputs_from_report() -> None:
    """``regressions``: the tests that regressed and the total, as every view counts them."""
    doc = report_doc(
        {"t.py::a": simple(100, 20), "t.py::b": simple(5)},
        passed=False,
        baseline=A_AND_TOTAL_REGRESSED,
        violations=[
            _violation("test_budget", "t.py::a", "over"),
            _violation("regression", "t.py::a", "grew"),
            _violation("regression", None, "total grew"),
        ],
    )
    doc["totals"]["cost_usd"] = 3.3e-05
    assert outputs(report_from_dict(doc), "/tmp/r.json") == {
        "total-tokens": "125",
        "cost-usd": "0.000033",
        "regressions": "2",
        "violations": "3",
        "passed": "false",
        "report-json": "/tmp/r.json",
    }
    doc["totals"].update(cost_usd=None, unpriced_calls=1)  # an unpriced call: unknown, never 0
    assert outputs(report_from_dict(doc))["cost-usd"] == ""
    doc["totals"].update(cost_usd=12.5, unpriced_calls=0)
    assert outputs(report_from_dict(doc))["cost-usd"] == "12.5"
    assert outputs(report_from_dict(report_doc({})))["passed"] == "true"


def test_outputs_and_annotations_from_a_real_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_real="""
        import pytest

        def test_small(token_tracker):
            token_tracker.record(input_tokens=10, model="gpt-4o-mini")

        class TestAgent:
            @pytest.mark.token_budget(100)
            @pytest.mark.parametrize("n", [1, 2])
            def test_big(self, token_tracker, n):
                token_tracker.record(input_tokens=100 * n, output_tokens=1, model="gpt-4o-mini")
        """
    )
    result = pytester.runpytest("--tokenbudget-json=r.json", "--tokenbudget-max-tokens=50")
    assert result.ret == 1
    report = load_report(pytester.path / "r.json")
    values = outputs(report, "r.json")
    assert values["total-tokens"] == "312"
    assert values["passed"] == "false"
    assert values["violations"] == "3"  # two tests over 100, the run over 50
    assert values["regressions"] == "0"
    assert float(values["cost-usd"]) == pytest.approx(report.totals.cost_usd)
    assert "e" not in values["cost-usd"]
    lines = annotation_lines(report, root=pytester.path, workspace=pytester.path)
    assert lines == [
        "::error file=test_real.py,line=9,title=test_real.py%3A%3ATestAgent%3A%3Atest_big[1]"
        "%3A token budget exceeded::" + report.violations[0].message,
        "::error file=test_real.py,line=9,title=test_real.py%3A%3ATestAgent%3A%3Atest_big[2]"
        "%3A token budget exceeded::" + report.violations[1].message,
        "::error title=run token budget exceeded::" + report.violations[2].message,
    ]


def test_annotations_levels_escaping_and_limit(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("import x\n\nasync def test_a():\n    pass\n")
    doc = report_doc(
        {},
        violations=[
            _violation("test_budget", "tests/test_a.py::test_a[x,y]", "50%\nover"),
            _violation("regression", "tests/test_gone.py::test_b", "grew"),
            _violation("run_budget", None, "run over"),
        ],
    )
    report = report_from_dict(doc)
    # pytest ran in sub/, its rootdir is the workspace: the file is found one level up.
    found = annotation_lines(report, root=tmp_path / "sub", workspace=tmp_path)
    assert found[0] == (
        "::error file=tests/test_a.py,line=3,"
        "title=tests/test_a.py%3A%3Atest_a[x%2Cy]%3A token budget exceeded::50%25%0Aover"
    )
    assert found[1].startswith("::error file=tests/test_gone.py,title=")  # no file: no line
    assert found[2] == "::error title=run token budget exceeded::run over"
    warned = annotation_lines(report, warn_only=True)
    assert all(line.startswith("::warning ") for line in warned)
    accepting = annotation_lines(report, update_baseline=True)
    assert [line.split(" ")[0] for line in accepting] == ["::error", "::warning", "::error"]

    many = report_doc({}, violations=[_violation("run_budget", None, str(i)) for i in range(25)])
    capped = annotation_lines(report_from_dict(many))
    assert len(capped) == 10
    assert capped[-1] == (
        "::error title=pytest-tokenbudget::... and 16 more token budget findings "
        "(see the job summary)"
    )


def test_regressions_accepted_into_the_baseline_are_findings() -> None:
    """An update-baseline run passes: its regressions are in the comparison, not violations."""
    comparison = A_AND_TOTAL_REGRESSED
    report = report_from_dict(report_doc({"t.py::a": simple(10)}, baseline=comparison))
    assert [(v.kind, v.nodeid, v.message) for v in findings(report)] == [
        ("regression", "t.py::a", "t.py::a grew"),
        ("regression", None, "the total grew"),
    ]
    assert outputs(report)["regressions"] == "2"
    assert outputs(report)["violations"] == "0"
    assert annotation_lines(report, update_baseline=True) == [
        "::warning file=t.py,title=t.py%3A%3Aa%3A token regression::t.py::a grew",
        "::warning title=token regression::the total grew",
    ]
    # A failing run lists its regressions as violations: the comparison adds none again.
    failing = report_doc(
        {"t.py::a": simple(10)},
        baseline=comparison,
        passed=False,
        violations=[_violation("regression", "t.py::a", "t.py::a grew")],
    )
    assert len(findings(report_from_dict(failing))) == 1


def test_outputs_are_the_action_outputs() -> None:
    assert list(outputs(report_from_dict(report_doc({})))) == list(OUTPUT_NAMES)
    assert list(OUTPUT_NAMES) == list(ACTION["outputs"])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "pytest exited with status 3: pytest wrote no token report (see the step log)"),
        ("{not json", "report.json: not valid JSON (line 1, column 2: "),
        ('{"schema": "other/thing@1"}', "report.json: schema is 'other/thing@1', expected "),
        (
            json.dumps(report_doc({}, passed="yes")),
            "report.json: passed: Expected `bool`, got `str`; regenerate it with",
        ),
    ],
)
def test_report_step_without_a_usable_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, reason: str
) -> None:
    """Empty outputs, a warning in the summary and an ``::error``, naming why."""
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    env = {
        "PYTEST_EXIT_CODE": "3",
        "REPORT_JSON": str(path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    assert step_report(env) == 0
    empty = {name: "" for name in OUTPUT_NAMES}
    assert parse_outputs((tmp_path / "output").read_text()) == {**empty, "passed": "false"}
    summary = (tmp_path / "summary").read_text()
    assert summary.startswith("> [!WARNING]\n> **pytest-tokenbudget:** pytest exited with status 3")
    assert reason in summary
    (error,) = capsys.readouterr().out.splitlines()
    assert error.startswith("::error title=pytest-tokenbudget::pytest exited with status 3: ")
    assert reason in error


def test_format_outputs_heredoc_roundtrip() -> None:
    values = {"plain": "a=b", "multi": "line 1\nline 2\nplain=x", "empty": ""}
    text = format_outputs(values)
    assert re.search(r"^multi<<ghadelimiter_[0-9a-f]{32}$", text, re.M)
    assert parse_outputs(text) == values


# ------------------------------------------------------------------------- action.yml


def test_action_interface() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert list(ACTION["inputs"]) == [
        "pytest-args",
        "working-directory",
        "baseline",
        "regression",
        "max-tokens",
        "max-cost-usd",
        "update-baseline",
        "warn-only",
        "comment",
        "github-token",
        "report",
        "pr-number",
    ]
    assert ACTION["inputs"]["comment"]["default"] == "true"
    assert ACTION["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert list(ACTION["outputs"]) == [
        "total-tokens",
        "cost-usd",
        "regressions",
        "violations",
        "passed",
        "report-json",
    ]
    assert all(spec.get("description") for spec in ACTION["inputs"].values())


def test_steps_run_python_isolated() -> None:
    """Every python the steps start is ``-I``: no workspace, PYTHONPATH or user site on
    sys.path (pytest itself, started by the first step, runs the user's way)."""
    calls = [
        line
        for step in ACTION["runs"]["steps"]
        for line in step["run"].splitlines()
        if re.search(r"\bpython\b", line) and "command -v python" not in line
    ]
    assert len(calls) == 4
    assert all(re.search(r"\bpython -I ", line) for line in calls), calls


def test_no_expression_inside_run_blocks() -> None:
    """``${{ }}`` in a script is pasted in before bash parses it: script injection."""
    steps = ACTION["runs"]["steps"]
    assert steps
    for step in steps:
        assert "${{" not in step["run"], step.get("name")
        assert step["shell"] == "bash"
    # And nothing else in the file smuggles one into a script (e.g. a YAML anchor).
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    for block in re.findall(r"^\s+run: \|\n((?:\s{8,}.*\n)+)", text, re.M):
        assert "${{" not in block


# ------------------------------------------------------- action.yml run like the runner

OK_TESTS = """\
import pytest

@pytest.mark.token_budget(1000)
def test_chat(token_tracker):
    token_tracker.record(input_tokens=300, output_tokens=50, model="gpt-4o-mini")

def test_agent(token_tracker):
    with token_tracker.operation("retrieve"):
        token_tracker.record(input_tokens=500, output_tokens=100, model="gpt-4o-mini")
"""

OVER_TESTS = """\
import pytest

@pytest.mark.token_budget(100)
def test_over(token_tracker):
    token_tracker.record(input_tokens=150, output_tokens=10, model="gpt-4o-mini")
"""

PR_EVENT = {"pull_request": {"number": 12}}


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_ok=OK_TESTS, test_over=OVER_TESTS)
    return pytester.path


def errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("::error")]


def test_action_within_budget_creates_the_comment(project: Path, github: FakeGitHub) -> None:
    run = run_action(
        project,
        {"pytest-args": "test_ok.py -p no:cacheprovider", "max-tokens": "10000"},
        api=github.url,
        event=PR_EVENT,
    )
    assert run.returncode == 0, run.log
    report = json.loads(Path(run.outputs["report-json"]).read_text(encoding="utf-8"))
    assert run.outputs == {
        "total-tokens": "950",
        "cost-usd": run.outputs["cost-usd"],
        "regressions": "0",
        "violations": "0",
        "passed": "true",
        "report-json": run.outputs["report-json"],
    }
    assert float(run.outputs["cost-usd"]) == pytest.approx(report["totals"]["cost_usd"])
    assert run.summary.startswith(MARKER)
    assert "### 📊 This pull request used 950 tokens" in run.summary
    assert "Gate: **passed**" in run.summary
    assert "`test_ok.py::test_agent`" in run.summary
    assert errors(run.log) == []
    assert "2 passed" in run.log
    assert "pull-request comment: created" in run.log
    assert [r[0] for r in github.writes()] == ["POST"]
    (comment,) = github.comments[12]
    # the comment is the job summary, with the digest of its figures (for on-change)
    assert re.sub(r"<!-- pytest-tokenbudget figures=\w+ -->\n", "", comment["body"]) == run.summary
    assert not (project / "tokenbudget-baseline.json").exists()


def test_action_over_budget_fails_annotates_and_edits_the_comment(
    project: Path, github: FakeGitHub
) -> None:
    github.add(12, "first")
    github.add(12, "second")
    ours = github.add(12, f"{MARKER}\nthe previous push's report")
    run = run_action(
        project, {"max-tokens": "900", "comment": "true"}, api=github.url, event=PR_EVENT
    )
    assert run.returncode == 1, run.log
    assert run.outputs["passed"] == "false"
    assert run.outputs["total-tokens"] == "1110"
    assert run.outputs["violations"] == "2"
    found = errors(run.log)
    assert len(found) == 2
    assert found[0].startswith(
        "::error file=test_over.py,line=4,title=test_over.py%3A%3Atest_over%3A token budget "
        "exceeded::token budget exceeded: 160 tokens > max_tokens 100 (marker)"
    )
    assert found[1].startswith(
        "::error title=run token budget exceeded::run budget exceeded: 1,110 tokens > "
        "max_tokens 900"
    )
    assert "Gate: **failed**: 1 test over budget, run over budget (max\\_tokens)" in run.summary
    assert [(m, p) for m, p, _ in github.writes()] == [
        ("PATCH", f"/repos/{REPO}/issues/comments/{ours}")
    ]
    assert len(github.comments[12]) == 3
    assert "Gate: **failed**" in github.comments[12][2]["body"]
    assert "pull-request comment: updated" in run.log


def test_action_warn_only_reports_without_failing(project: Path, github: FakeGitHub) -> None:
    run = run_action(
        project,
        {"pytest-args": "test_ok.py", "max-tokens": "900", "warn-only": "true", "comment": "false"},
        api=github.url,
        event=PR_EVENT,
    )
    assert run.returncode == 0, run.log
    assert run.outputs["passed"] == "false"
    assert run.outputs["violations"] == "1"
    assert errors(run.log) == []
    assert "::warning title=run token budget exceeded::run budget exceeded" in run.log
    assert "pull-request comment: off (comment: never)" in run.log
    assert github.requests == []


def test_action_on_a_fork_falls_back_to_the_summary(project: Path, github: FakeGitHub) -> None:
    github.fail["POST"] = 403
    run = run_action(project, {"pytest-args": "test_ok.py"}, api=github.url, event=PR_EVENT)
    assert run.returncode == 0, run.log
    assert "> The token report was not posted as a pull-request comment (GitHub answered 403" in (
        run.summary
    )
    assert run.summary.startswith(MARKER)
    assert github.comments == {}


def test_action_on_push_needs_no_pull_request(project: Path, github: FakeGitHub) -> None:
    run = run_action(project, {"pytest-args": "test_ok.py"}, api=github.url, event=None)
    assert run.returncode == 0, run.log
    assert "(no pull request in this event)" in run.summary
    assert github.requests == []


def test_action_updates_the_baseline_then_gates_on_it(project: Path, github: FakeGitHub) -> None:
    base = "budgets/tokens.json"
    (project / "budgets").mkdir()

    def on_main() -> Any:  # the run on main that writes the baseline
        inputs = {"pytest-args": "test_ok.py", "baseline": base, "update-baseline": "true"}
        return run_action(project, inputs, api=github.url, event=None)

    first = on_main()
    assert first.returncode == 0, first.log
    assert (project / base).is_file()
    (project / "test_ok.py").write_text(OK_TESTS.replace("500", "900"), encoding="utf-8")
    second = run_action(
        project,
        {"pytest-args": "test_ok.py", "baseline": base, "regression": "10%"},
        api=github.url,
        event=None,
    )
    assert second.returncode == 1, second.log
    assert second.outputs["regressions"] == "2"  # test_agent and the total
    assert "❌ **1 regressed**" in second.summary
    assert "Gate: **failed**: 2 regressions (1 test and the total)" in second.summary
    assert second.outputs["passed"] == "false"
    assert (
        "::error file=test_ok.py,line=7,title=test_ok.py%3A%3Atest_agent%3A token regression"
        in (second.log)
    )
    assert "| ❌ `test_ok.py::test_agent` | 600 | 1,000 | +67% |" in second.summary
    # Main accepts the growth: the run passes, its regressions are shown as warnings.
    third = on_main()
    assert third.returncode == 0, third.log
    assert third.outputs["passed"] == "true"
    assert third.outputs["regressions"] == "2"
    assert "its 2 regressions accepted" in third.summary
    assert third.outputs["violations"] == "0"
    assert "::warning file=test_ok.py,line=7,title=test_ok.py%3A%3Atest_agent" in third.log
    assert "::error" not in third.log


def test_action_inputs_never_reach_a_shell(project: Path, github: FakeGitHub) -> None:
    run = run_action(
        project,
        {
            "pytest-args": 'test_ok.py -k "chat or agent" $(touch pwned1) ; touch pwned2 `touch x`',
            "max-tokens": "1; touch pwned3",
            "comment": "false",
        },
        api=github.url,
        event=PR_EVENT,
    )
    assert not list(project.glob("pwned*"))
    assert not (project / "x").exists()
    # pytest itself refuses the odd arguments (a usage error): no report, the job fails.
    assert run.returncode == 4, run.log
    assert run.outputs["passed"] == "false"
    assert run.outputs["total-tokens"] == ""
    assert "pytest exited with status 4: pytest wrote no token report" in run.summary
    assert errors(run.log)


def test_action_bad_input_stops_before_pytest(project: Path, github: FakeGitHub) -> None:
    run = run_action(project, {"warn-only": "sometimes"}, api=github.url, event=PR_EVENT)
    assert run.returncode == 2
    assert errors(run.log) == [
        "::error title=pytest-tokenbudget::input 'warn-only': expected true or false, "
        "got 'sometimes'"
    ]
    assert "pytest" not in run.steps or "exit-code" not in run.steps["pytest"]


def test_action_in_a_working_directory(pytester: pytest.Pytester, github: FakeGitHub) -> None:
    """Node ids are relative to the subproject; annotations must name the file from the
    repository root, where GitHub looks for it."""
    app = pytester.mkdir("app")
    (app / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (app / "tests").mkdir()
    (app / "tests" / "test_over.py").write_text(OVER_TESTS, encoding="utf-8")
    run = run_action(
        pytester.path,
        {"working-directory": "app", "pytest-args": "tests", "comment": "false"},
        api=github.url,
        event=None,
    )
    assert run.returncode == 1, run.log
    assert errors(run.log)[0].startswith(
        "::error file=app/tests/test_over.py,line=4,title=tests/test_over.py%3A%3Atest_over%3A"
    )
    assert run.outputs["total-tokens"] == "160"


def test_readme_workflow_uses_real_inputs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## GitHub Action", 1)[1]
    workflow = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    (step,) = [
        s for s in workflow["jobs"]["tests"]["steps"] if "pytest-tokenbudget" in s.get("uses", "")
    ]
    assert set(step["with"]) <= set(ACTION["inputs"])
    assert workflow["permissions"]["pull-requests"] == "write"
    for name in ACTION["inputs"]:
        assert f"| `{name}` |" in section
    for name in ACTION["outputs"]:
        assert f"`{name}`" in section
