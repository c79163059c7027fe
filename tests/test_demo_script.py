"""scripts/demo.sh installs only when something changed, and says what it is doing.

The script runs as is against a stand-in for .venv/bin/python that logs what it is asked to
do: no pip, no network, no real virtual environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAND_IN = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/../../calls.log"
[ "$1" = "-c" ] && exit "${FIND_SPEC_EXIT:-0}"
exit 0
"""
INSTALL = "-m pip install -q --disable-pip-version-check -e .[examples]"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "demo.sh", tmp_path / "scripts" / "demo.sh")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(STAND_IN, encoding="utf-8")
    python.chmod(0o755)
    return tmp_path


def demo(checkout: Path, **env: str) -> tuple[str, list[str]]:
    """Run the demo; what it printed, and what it asked the venv's python to do."""
    log = checkout / "calls.log"
    log.unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", str(checkout / "scripts" / "demo.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    calls = log.read_text(encoding="utf-8").splitlines()
    return done.stdout, [c for c in calls if c.startswith("-m ")]  # not the -c check


def test_installs_only_when_something_changed_and_says_so(checkout: Path) -> None:
    out, calls = demo(checkout)
    assert out.startswith("demo: installing pytest-tokenbudget and the OpenAI and Anthropic SDKs")
    assert "demo: running examples/ against a loopback fake LLM server" in out
    assert calls[0] == INSTALL
    assert calls[1].startswith("-m pytest examples -p no:cacheprovider --tokenbudget-json=")

    out, calls = demo(checkout)  # nothing changed: straight to the tests
    assert out.startswith("demo: running examples/")
    assert INSTALL not in calls

    with (checkout / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n# a new dependency, say\n")
    out, calls = demo(checkout)
    assert calls[0] == INSTALL
    out, calls = demo(checkout, FIND_SPEC_EXIT="1")  # a package it brought is gone
    assert calls[0] == INSTALL
    out, calls = demo(checkout)
    assert INSTALL not in calls
