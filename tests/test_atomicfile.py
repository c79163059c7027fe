"""The atomic writer, whole-file reads and the lock beside a file (unit tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_tokenbudget.atomicfile import (
    NotRegularFile,
    read_bytes,
    write_atomic,
    write_problem,
)
from pytest_tokenbudget.filelock import lock_path, locked


def dead_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


@pytest.mark.skipif(os.name != "posix", reason="owner PIDs are checked on POSIX")
def test_the_next_write_removes_temp_files_of_dead_writers_and_keeps_live_ones(
    tmp_path: Path,
) -> None:
    dead = tmp_path / f".base.json.tokenbudget-{dead_pid()}-abc123.tmp"
    live = tmp_path / f".base.json.tokenbudget-{os.getpid()}-def456.tmp"
    old = tmp_path / f".base.json.tokenbudget-{os.getpid()}-old789.tmp"
    other = tmp_path / f".other.json.tokenbudget-{dead_pid()}-abc123.tmp"
    mine = tmp_path / ".base.json.backup.tmp"  # not ours: never touched
    for path in (dead, live, old, other, mine):
        path.write_bytes(b"x" * 100)
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    write_atomic(tmp_path / "base.json", "new")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["base.json", live.name, other.name, mine.name])


def test_temp_files_are_named_for_their_target_and_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append(src), real_replace(src, dst)))
    write_atomic(tmp_path / "r.json", "{}")
    [name] = [os.path.basename(s) for s in seen]
    assert name.startswith(f".r.json.tokenbudget-{os.getpid()}-")
    assert name.endswith(".tmp")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "base.json").write_text("old")
    link = tmp_path / "base.json"
    link.symlink_to(Path("real") / "base.json")
    write_atomic(link, "new")
    assert link.is_symlink()
    assert (tmp_path / "real" / "base.json").read_text() == "new"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_reads_refuse_fifos_and_devices_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotRegularFile, match="a FIFO, not a regular file"):
        read_bytes(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(NotRegularFile, match="a character device, not a regular file"):
        read_bytes(tmp_path / "zero")
    with pytest.raises(NotRegularFile, match="a folder, not a regular file"):
        read_bytes(tmp_path)
    (tmp_path / "f").write_bytes(b"abc")
    assert read_bytes(tmp_path / "f") == b"abc"


def test_write_problem_names_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    assert write_problem(tmp_path / "new" / "deeper" / "r.json") is None
    assert write_problem(tmp_path / "file") is None
    assert write_problem(tmp_path / "dir") == "it is a folder, not a regular file"
    assert (
        write_problem(tmp_path / "file" / "r.json")
        == f"{tmp_path / 'file'} is a file, not a folder"
    )
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        assert write_problem(tmp_path / "fifo") == "it is a FIFO, not a regular file"


@pytest.mark.skipif(os.name != "posix", reason="the lock file is removed on POSIX")
def test_the_lock_file_is_beside_the_target_and_gone_after(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    link = tmp_path / "base.json"
    link.symlink_to(Path("real") / "base.json")
    lock = Path(lock_path(link))
    assert lock == tmp_path / "real" / ".base.json.tokenbudget.lock"
    with locked(link):
        assert lock.exists()
        # another process cannot take it meanwhile
        probe = (
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except BlockingIOError:\n    print('held')\n"
        )
        held = subprocess.run(
            [sys.executable, "-c", probe, str(lock)], capture_output=True, text=True
        )
        assert held.stdout.strip() == "held"
    assert not lock.exists()
