"""action.yml run step by step the way the GitHub runner runs a composite action (test helper).

``run_action`` resolves the expressions action.yml uses, runs each step's script with bash in
the workspace with the environment the runner gives it (``$GITHUB_OUTPUT``,
``$GITHUB_STEP_SUMMARY``, the event file, ``GITHUB_ACTIONS=true``) and collects the outputs,
the job summary and the log. Its ``python`` is a virtual environment of its own whose only
copy of pytest-tokenbudget is this checkout's ``src`` (the test venv's packages beside it), so
the steps' isolated ``python -I`` runs the code under test, as a runner would run the
installed package.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fakegithub import REPO, TOKEN

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


@functools.cache
def runner_bin() -> Path:
    """The ``bin`` folder of the runner's Python (made once per process)."""
    home = Path(tempfile.mkdtemp(prefix="runner-python-"))
    atexit.register(shutil.rmtree, home, True)
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    lines = [str(ROOT / "src"), *site.getsitepackages()]
    Path(purelib, "_tokenbudget_under_test.pth").write_text("\n".join(lines) + "\n")
    return venv / "bin"


#: The event names, known by the key their payload has.
EVENT_NAMES = ("workflow_run", "pull_request")
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionRun:
    returncode: int
    outputs: dict[str, str]
    summary: str
    log: str
    steps: dict[str, dict[str, str]]


def _resolve(text: str, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
    """The expressions action.yml uses, evaluated as the runner would."""

    def value(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs.") :]]
        if expr == "github.token":
            return TOKEN
        if expr == "github.action_path":
            return str(ROOT)
        step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if step:
            return steps.get(step[1], {}).get(step[2], "")
        raise AssertionError(f"expression the test runner does not know: {expr}")

    return EXPR.sub(value, text)


def run_action(
    workspace: Path,
    given: dict[str, str],
    *,
    api: str,
    event: dict[str, Any] | None,
) -> ActionRun:
    unknown = set(given) - set(ACTION["inputs"])
    assert not unknown, f"no such inputs: {unknown}"
    inputs = {
        name: _resolve(str(spec.get("default", "")), {}, {})
        for name, spec in ACTION["inputs"].items()
    }
    inputs.update(given)
    runner = Path(tempfile.mkdtemp(prefix="runner-", dir=workspace.parent))
    event_path = runner / "event.json"
    event_path.write_text(json.dumps(event or {"ref": "refs/heads/main"}), encoding="utf-8")
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "GITHUB_", "INPUT_", "RUNNER_", "COV_"))
    }
    base.update(
        PATH=os.pathsep.join([str(runner_bin()), os.environ.get("PATH", "")]),
        GITHUB_ACTIONS="true",
        GITHUB_API_URL=api,
        GITHUB_REPOSITORY=REPO,
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_EVENT_NAME=next((name for name in EVENT_NAMES if name in (event or {})), "push"),
        GITHUB_GRAPHQL_URL=f"{api}/graphql",
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_ACTION_PATH=str(ROOT),
        RUNNER_TEMP=str(runner),
    )
    steps: dict[str, dict[str, str]] = {}
    summary, log = [], []
    returncode = 0
    for number, step in enumerate(ACTION["runs"]["steps"]):
        assert set(step) <= {"name", "id", "shell", "env", "run"}, step  # no `if:`, `uses:`
        assert step["shell"] == "bash"
        out_file, summary_file = runner / f"output-{number}", runner / f"summary-{number}"
        out_file.touch()
        summary_file.touch()
        env = dict(base, GITHUB_OUTPUT=str(out_file), GITHUB_STEP_SUMMARY=str(summary_file))
        env.update({k: _resolve(str(v), inputs, steps) for k, v in step.get("env", {}).items()})
        script = runner / f"step-{number}.sh"
        script.write_text(step["run"], encoding="utf-8")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        log.append(done.stdout + done.stderr)
        summary.append(summary_file.read_text(encoding="utf-8"))
        if "id" in step:
            steps[step["id"]] = parse_outputs(out_file.read_text(encoding="utf-8"))
        if done.returncode != 0:  # a failed step ends the composite action
            returncode = done.returncode
            break
    values = {
        name: _resolve(str(spec["value"]), inputs, steps)
        for name, spec in ACTION["outputs"].items()
    }
    return ActionRun(returncode, values, "".join(summary), "".join(log), steps)


def parse_outputs(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as the runner reads it: ``k=v`` lines and ``k<<DELIM`` heredocs."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if not line:
            continue
        key, sep, value = line.partition("=")
        if "<<" in line and (not sep or "<<" in key):
            key, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                raise AssertionError(f"unterminated heredoc for {key}")
            values[key] = "\n".join(body)
        else:
            assert sep, f"bad output line {line!r}"
            values[key] = value
    return values
