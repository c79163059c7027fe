"""Patch a module right after its first import, never importing it ourselves (a suite that never
uses an HTTP client or a thread pool never pays for loading one)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Calls ``patch(module)`` for each module it watches: at once when it is imported already,
    else right after its first import (a finder on ``sys.meta_path`` wraps its loader)."""

    def __init__(self, patch: Callable[[ModuleType], None]) -> None:
        self._patch = patch
        self._pending: set[str] = set()

    def watch(self, names: Iterable[str]) -> None:
        for name in names:
            module = sys.modules.get(name)
            if module is not None:
                self._patch(module)
            else:
                self._pending.add(name)
        if self._pending and self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def stop(self) -> None:
        """Patch nothing more (what was patched is the caller's to undo)."""
        self._pending.clear()
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if fullname not in self._pending:
            return None
        self._pending.discard(fullname)  # the real finders locate it; we only wrap its loader
        spec = importlib.util.find_spec(fullname)
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
