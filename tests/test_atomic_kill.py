"""A process killed (SIGKILL) while writing the baseline leaves the previous file intact.

The child writes a large baseline again and again with ``write_json_atomic``; on its last round
a hook stops it at a chosen point inside the write, tells the parent through its stdout, and
waits on its stdin, which the parent never feeds. The parent then kills it: no sleeps, no races.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_tokenbudget.files.baseline import load_baseline, write_json_atomic

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

CHILD = r"""
import os, sys
from pytest_tokenbudget.files import baseline as B
from pytest_tokenbudget.records import make_operation
from pytest_tokenbudget.usage import Usage

target, rounds, point = sys.argv[1], int(sys.argv[2]), sys.argv[3]
state = {"round": 0}

def stop_here():
    sys.stdout.write("inside write\n")
    sys.stdout.flush()
    sys.stdin.read()  # never answered: the parent kills us here
    raise SystemExit("parent did not kill the writer")

real_fdopen, real_replace = os.fdopen, os.replace

class HalfWriter:
    def __init__(self, fh):
        self.fh = fh
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.fh.__exit__(*exc)
    def write(self, data):
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        os.fsync(self.fh.fileno())
        stop_here()
    def __getattr__(self, name):
        return getattr(self.fh, name)

def fdopen(*args, **kwargs):
    fh = real_fdopen(*args, **kwargs)
    return HalfWriter(fh) if point == "half-written" and state["round"] == rounds else fh

def replace(src, dst):
    if point == "before-rename" and state["round"] == rounds:
        stop_here()
    return real_replace(src, dst)

os.fdopen, os.replace = fdopen, replace

def baseline(version):
    tests = {}
    for i in range(3000):
        u = Usage(1000 + i + version, 50 * version, calls=1, cost_pico=123_456 * (i + version))
        op = make_operation(u, {"gpt-4o-mini": u})
        rec = B.make_record(u, {"gpt-4o-mini": u}, {"(none)": op})
        tests[f"tests/test_big.py::test_case[{i}]"] = rec
    tests["tests/test_big.py::version"] = B.make_record(Usage(version, calls=1, cost_pico=0))
    return B.Baseline(tests)

for r in range(1, rounds + 1):
    state["round"] = r
    B.write_json_atomic(target, baseline(r).to_doc())
"""


@pytest.mark.parametrize("point", ["half-written", "before-rename"])
def test_sigkill_while_writing_keeps_previous_baseline(tmp_path: Path, point: str) -> None:
    target = tmp_path / "tokenbudget-baseline.json"
    rounds = 3
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target), str(rounds), point],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == b"inside write\n", child.stderr.read() if child.stderr else b""
        before_kill = target.read_bytes()
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                stream.close()

    # The previous complete version is there, valid, byte for byte what it was.
    assert target.read_bytes() == before_kill
    loaded = load_baseline(target)
    assert loaded is not None
    assert loaded.tests["tests/test_big.py::version"].usage.input_tokens == rounds - 1
    assert len(loaded.tests) == 3001
    # The interrupted write is only in a temp file beside it (proof the kill hit mid-write).
    temps = [p for p in tmp_path.iterdir() if p != target]
    assert len(temps) == 1
    assert temps[0].name.startswith(".tokenbudget-baseline.json.")
    assert temps[0].stat().st_size > 0
    # The next write of the file removes what the killed writer left.
    write_json_atomic(target, loaded.to_doc())
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
