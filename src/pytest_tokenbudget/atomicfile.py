"""Atomic file writes: a reader only ever sees the old file or the complete new one.

One writer for every file the package writes (reports, baselines, the shared totals of xdist
workers, seeded tokenizer caches): the temp file is in the target's folder (same file system,
so ``os.replace`` is atomic) and vanishes if the write fails.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import BinaryIO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


def write_atomic(path: PathLike, content: Union[bytes, str], *, durable: bool = True) -> None:
    """Write ``content`` so that readers only ever see the old file or the complete new one."""
    with atomic_writer(path, durable=durable) as fh:
        fh.write(content.encode("utf-8") if isinstance(content, str) else content)


@contextlib.contextmanager
def atomic_writer(path: PathLike, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A temp file that replaces ``path`` when the block ends, and vanishes if it raises.

    ``durable``: flushed to disk before the rename, so that a machine that goes down mid-write
    leaves the previous file intact (not needed for files that live as long as one run).
    """
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
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
        with contextlib.suppress(FileNotFoundError):
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
