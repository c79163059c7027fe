"""Two CI shards on one machine update one baseline (and one history) at the same moment.

Each shard runs 50 of the suite's 100 tests with ``-k`` and ``--tokenbudget-update-baseline``.
A barrier test in each shard waits for the other shard through a FIFO (each end's open blocks
until the other end opens it), so both runs are certainly under way, their baselines read,
before either ends and updates the file: without a lock the second write drops the first
shard's 50 tests, every time. No sleeps; a shard that never reaches the barrier fails the test
by its timeout instead of hanging it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runs import DIST

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")

SUITE = """
import os, pytest

TRIAL = int(os.environ["TRIAL"])
IDS = [f"shard{'A' if i < 50 else 'B'}-{i}" for i in range(100)]

@pytest.mark.parametrize("i", range(100), ids=IDS)
def test_case(token_tracker, i):
    token_tracker.record(input_tokens=1000 * TRIAL + i, output_tokens=1, model="gpt-4o-mini")

@pytest.mark.parametrize("end", ["shardA", "shardB"])
def test_barrier(end):
    fd = os.open(os.environ["BARRIER"], os.O_RDONLY if end == "shardA" else os.O_WRONLY)
    os.close(fd)
"""

TRIALS = 10


def shard(folder: Path, name: str, trial: int, dist: list[str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRIAL": str(trial),
        "BARRIER": str(folder / "barrier"),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # start-up of the shards: only what they need
    }
    plugins = ["-p", "pytest_tokenbudget.pytest_entry"] + (["-p", "xdist"] if dist else [])
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins, *dist]
    argv += ["-k", name, "--tokenbudget-update-baseline", "--tokenbudget-history=h.jsonl"]
    return subprocess.Popen(
        argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@pytest.mark.parametrize("dist", DIST)
def test_two_shards_updating_at_once_lose_nothing(tmp_path: Path, dist: list[str]) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    os.mkfifo(tmp_path / "barrier")
    for trial in range(1, TRIALS + 1):
        runs = [shard(tmp_path, name, trial, dist) for name in ("shardA", "shardB")]
        try:
            outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
        finally:
            for run in runs:
                if run.poll() is None:
                    run.kill()
                    run.wait()
        assert [run.returncode for run in runs] == [0, 0], outputs
        baseline = json.loads((tmp_path / "tokenbudget-baseline.json").read_text())
        got = {nodeid: rec["input_tokens"] for nodeid, rec in baseline["tests"].items()}
        expected = {
            f"test_suite.py::test_case[shard{'A' if i < 50 else 'B'}-{i}]": 1000 * trial + i
            for i in range(100)
        }
        assert got == expected, f"trial {trial}: {len(got)} tests kept"
        assert baseline["totals"]["input_tokens"] == sum(expected.values())
    lines = (tmp_path / "h.jsonl").read_text().splitlines()
    assert len(lines) == 2 * TRIALS
    assert sorted(json.loads(line)["tests"] for line in lines) == [50] * (2 * TRIALS)
    # Neither the lock nor a temp file is left beside the baseline.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
