"""Patch a module right after it is imported, never importing it ourselves (a suite that never
uses an HTTP client or a thread pool never pays for loading one). A module imported again
after something removed it from ``sys.modules`` (pytester's in-process runs do) is a new module
object: it is patched again."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Calls ``patch(module)`` for each module it watches: at once when it is imported already,
    and right after each import of it (a finder on ``sys.meta_path`` wraps its loader)."""

    def __init__(self, patch: Callable[[ModuleType], None]) -> None:
        self._patch = patch
        self._watched: set[str] = set()
        #: Names being located right now (the real finders are asked from inside ours).
        self._finding: set[str] = set()

    def watch(self, names: Iterable[str]) -> None:
        for name in names:
            self._watched.add(name)
            module = sys.modules.get(name)
            if module is not None:
                self._patch(module)
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def stop(self) -> None:
        """Patch nothing more (what was patched is the caller's to undo)."""
        self._watched.clear()
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if fullname not in self._watched or fullname in self._finding:
            return None
        self._finding.add(fullname)  # the real finders locate it; we only wrap its loader
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.discard(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module
        patch = self._patch

        def exec_module(module: ModuleType) -> None:
            run(module)
            patch(module)  # must never raise: the user's import must not fail

        loader.exec_module = exec_module
        return spec


class Installs:
    """Patches installed once however often asked for: the first :meth:`install` calls
    ``start``, the undo of the last calls ``stop`` (a plugin registered twice and pytester's
    in-process runs nest installs). ``lock`` is held while either runs; ``active`` says whether
    any install is in force (read under ``lock`` by a patch made on import)."""

    def __init__(self, start: Callable[[], None], stop: Callable[[], None]) -> None:
        self.lock = threading.RLock()
        self.count = 0
        self._start = start
        self._stop = stop

    @property
    def active(self) -> bool:
        return self.count > 0

    def install(self) -> Callable[[], None]:
        """Install (once however often called); returns this install's undo (idempotent)."""
        with self.lock:
            self.count += 1
            if self.count == 1:
                self._start()
        undone = False

        def uninstall() -> None:
            nonlocal undone
            with self.lock:
                if undone:
                    return
                undone = True
                self.count -= 1
                if self.count == 0:
                    self._stop()

        return uninstall
