"""One process at a time updates a file: a lock file beside it.

Two CI shards on one machine that update the same baseline at once would each read the old
file, add their own tests and replace it: the second replace drops the first shard's tests.
Under :func:`locked`, each reads the file again, merges and replaces it before the other may
start, so nothing is lost.

The lock is ``.NAME.tokenbudget.lock`` beside the file (a symlink's target, the file that is
written). On POSIX it is an ``fcntl.flock`` on that file, released by the kernel when its holder
dies, and the file is removed by the holder when it is done: a waiter that then gets the lock of
a removed file sees that the name now points elsewhere (or nowhere) and locks again. On Windows
it is ``msvcrt.locking`` on its first byte, and the file stays. Elsewhere there is no lock.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

from .atomicfile import PathLike, real_target

LOCK_SUFFIX = ".tokenbudget.lock"


def lock_path(path: PathLike) -> str:
    """The lock file of ``path``."""
    folder, name = os.path.split(real_target(path))
    return os.path.join(folder, f".{name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def locked(path: PathLike) -> Iterator[None]:
    """Hold the lock of ``path`` for the block (waiting as long as another process holds it).

    The folder is made if missing (the file is about to be written there).
    """
    lock = lock_path(path)
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows
        with _msvcrt_locked(lock):
            yield
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine = os.fstat(fd)
            try:
                current = os.stat(lock)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)  # the holder before us removed this one: lock the file there now
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


@contextlib.contextmanager
def _msvcrt_locked(lock: str) -> Iterator[None]:
    try:
        import msvcrt
    except ImportError:  # neither POSIX nor Windows: no lock to take
        yield
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
                break
            except OSError:
                time.sleep(0.05)
        try:
            yield
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
    finally:
        os.close(fd)
