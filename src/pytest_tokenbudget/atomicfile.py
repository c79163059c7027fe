"""Files on disk, safely: atomic writes, and whole reads of regular files.

One writer for every file the package writes (reports, baselines, the shared totals of xdist
workers, seeded tokenizer caches): the temp file is in the target's folder (same file system,
so ``os.replace`` is atomic) and vanishes if the write fails. A symlink is written through: its
target is replaced and the link kept.

Temp files are named ``.NAME.tokenbudget-PID-XXXXXXXX.tmp``. One left behind by a process that
was killed mid-write (nothing else leaves one) is removed by the next write of the same file:
when its owner PID is no longer running (POSIX), or when it is older than an hour (any
system; a write takes seconds, and the PID may belong to another machine or be reused).

Readers get the whole file in memory, never a map of it: another program that rewrites a
mapped file in place (``cp other.json baseline.json``) kills the mapping process with SIGBUS.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from typing import BinaryIO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]

#: A temp file older than this is stale whoever owns it (seconds).
STALE_AFTER = 3600.0
_TEMP_TAG = ".tokenbudget-"


def write_atomic(path: PathLike, content: Union[bytes, str], *, durable: bool = True) -> None:
    """Write ``content`` so that readers only ever see the old file or the complete new one."""
    with atomic_writer(path, durable=durable) as fh:
        fh.write(content.encode("utf-8") if isinstance(content, str) else content)


def real_target(path: PathLike) -> str:
    """The file that writing ``path`` changes: a symlink's target (even a dangling one)."""
    target = os.path.abspath(os.fspath(path))
    return os.path.realpath(target) if os.path.islink(target) else target


@contextlib.contextmanager
def atomic_writer(path: PathLike, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A temp file that replaces ``path`` when the block ends, and vanishes if it raises.

    ``durable``: flushed to disk before the rename, so that a machine that goes down mid-write
    leaves the previous file intact (not needed for files that live as long as one run).
    """
    target = real_target(path)
    folder, name = os.path.split(target)
    os.makedirs(folder, exist_ok=True)
    remove_stale_temps(folder, name)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{name}{_TEMP_TAG}{os.getpid()}-", suffix=".tmp", dir=folder
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        try:  # keep the permissions of the file we replace; mkstemp makes it 0600
            os.chmod(tmp, os.stat(target).st_mode & 0o777)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable and hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        try:
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def remove_stale_temps(folder: str, name: str) -> list[str]:
    """Remove the temp files of ``name`` left in ``folder`` by writers that died; their names."""
    pattern = re.compile(re.escape(f".{name}{_TEMP_TAG}") + r"(\d+)-[^/\\]*\.tmp\Z")
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER
            if old or not _running(int(match.group(1))):
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def _running(pid: int) -> bool:
    """Whether ``pid`` is a running process (True where that cannot be known)."""
    if os.name != "posix":  # os.kill(pid, 0) sends CTRL_C_EVENT on Windows
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class NotRegularFile(OSError):
    """A FIFO, device, socket or folder where a regular file was expected."""


def read_bytes(path: PathLike) -> bytes:
    """The whole content of the regular file at ``path`` (symlinks followed), in memory.

    Never blocks on a FIFO (opened non-blocking, then refused) and never reads more than the
    size the file had when opened (``/dev/zero`` is refused, a file growing meanwhile is cut
    there).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(os.fspath(path), flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(0, f"{kind(info.st_mode)}, not a regular file", os.fspath(path))
        chunks = []
        left = info.st_size
        while left > 0:
            chunk = os.read(fd, left)  # one read (one copy) for all but huge files
            if not chunk:  # the file shrank meanwhile
                break
            chunks.append(chunk)
            left -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def kind(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    for test, word in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return word
    return "not a regular file"


def write_problem(path: PathLike, *, append: bool = False) -> str | None:
    """Why writing ``path`` (atomically, or appending) would fail, checked without writing:
    None when its folder exists or can be made and lets us create files there."""
    target = real_target(path)
    try:
        info = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):  # the folder is checked below
        info = None
    except OSError as exc:
        return str(exc.strerror or exc)
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            return f"it is {kind(info.st_mode)}, not a regular file"
        if append and not os.access(target, os.W_OK):
            return "it is not writable"
    folder = os.path.dirname(target)
    while not os.path.exists(folder):  # the first folder that exists, where ours will be made
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not os.path.isdir(folder):
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create files in {folder} (not writable)"
    return None


def file_identity(path: PathLike) -> tuple[int, ...] | None:
    """What changes whenever the file at ``path`` is replaced or rewritten (None: no file)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
