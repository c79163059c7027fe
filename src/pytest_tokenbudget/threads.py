"""New threads and pool tasks take what attribution needs from where they were started.

``install()`` patches ``threading.Thread.start`` and ``ThreadPoolExecutor.submit`` while the
plugin is active: a new thread takes its starter's owner and operation label
(:meth:`~pytest_tokenbudget.attribution.Attribution.inherited`), and so does each task given to
a pool, when it is submitted (a pool's threads serve many tests, whoever started them). A thread
started with neither pays nothing more. The pool module is patched when something imports it
(never imported for this). Installing is reference-counted, like capture's: pytester's
in-process runs nest.
"""

from __future__ import annotations

import functools
import threading
from types import ModuleType
from typing import Any, Callable, TypeVar

from .attribution import ATTRIBUTION, Inherited, inherit
from .onimport import Installs, PatchOnImport

__all__ = ["install"]

T = TypeVar("T")

_restore: list[tuple[type, str, Any]] = []


def install() -> Callable[[], None]:
    """Patch thread starts and pool submits (once however often called); returns the undo."""
    return _INSTALLS.install()


def _start() -> None:
    _patch(threading.Thread, "start", _inheriting_start)
    _finder.watch(("concurrent.futures.thread",))


def _stop() -> None:
    _finder.stop()
    while _restore:
        cls, attr, original = _restore.pop()
        setattr(cls, attr, original)


def _patch(cls: type, attr: str, make: Callable[[Any], Any]) -> None:
    original = cls.__dict__[attr]
    _restore.append((cls, attr, original))
    setattr(cls, attr, make(original))


def _inheriting_start(start: Callable[[threading.Thread], None]) -> Callable[..., None]:
    @functools.wraps(start)
    def patched(thread: threading.Thread) -> None:
        inherited = ATTRIBUTION.inherited()
        if inherited != (None, None):
            own = vars(thread)
            mine = "run" in own  # a run set on the instance: put it back afterwards
            run = thread.run

            def run_inheriting() -> None:
                inherit(inherited)  # the thread's own context: nothing to undo
                try:
                    run()
                finally:
                    if mine:
                        own["run"] = run
                    else:
                        own.pop("run", None)

            own["run"] = run_inheriting
        start(thread)

    return patched


def _run_inheriting(inherited: Inherited, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    undo = inherit(inherited)  # a pool thread runs tasks of many origins: undo after each
    try:
        return fn(*args, **kwargs)
    finally:
        undo()


def _inheriting_submit(submit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(submit)
    def patched(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        task = functools.partial(_run_inheriting, ATTRIBUTION.inherited(), fn)
        return submit(self, task, *args, **kwargs)

    return patched


def _patch_pool(module: ModuleType) -> None:
    with _INSTALLS.lock:
        if not _INSTALLS.active:
            return
        try:
            _patch(module.ThreadPoolExecutor, "submit", _inheriting_submit)
        except Exception:  # a pool we do not know: its tasks follow the running test
            return


_finder = PatchOnImport(_patch_pool)
_INSTALLS = Installs(_start, _stop)
