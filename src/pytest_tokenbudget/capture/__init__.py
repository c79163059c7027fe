"""Automatic capture of LLM SDK usage at the HTTP client layer (which requests: ``providers``).

``install()`` patches ``Client.send`` / ``AsyncClient.send`` of ``httpx2`` (current SDKs) and
``httpx`` (older SDKs, user-supplied clients). A module already imported is patched at once;
one not imported yet is patched when something imports it (a finder on ``sys.meta_path``), so
a suite that never uses an HTTP client never pays for importing one. Installing is
reference-counted so that a plugin registered twice patches once and counts every call once.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any, Callable, Sequence

__all__ = ["end_streams", "install", "installed"]

MODULES = ("httpx2", "httpx")

_lock = threading.Lock()
_installs = 0
_restore: list[tuple[type, str, Any]] = []
_pending: set[str] = set()


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a client module right after its first import."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if fullname not in _pending:
            return None
        _pending.discard(fullname)  # the real finders locate it; we only wrap its loader
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            with _lock:
                if _installs:
                    _patch(module)  # never raises: the user's import must not fail

        loader.exec_module = exec_module
        return spec


_finder = _PatchOnImport()


def installed() -> bool:
    return _installs > 0


def install() -> Callable[[], None]:
    """Patch the HTTP clients (once however often called); returns this install's undo."""
    global _installs
    with _lock:
        if _installs == 0:
            for name in MODULES:
                module = sys.modules.get(name)
                if module is not None:
                    _patch(module)
                else:
                    _pending.add(name)
            if _pending:
                sys.meta_path.insert(0, _finder)
        _installs += 1
    undone = False

    def uninstall() -> None:
        global _installs
        nonlocal undone
        with _lock:
            if undone:
                return
            undone = True
            _installs -= 1
            if _installs == 0:
                _pending.clear()
                if _finder in sys.meta_path:
                    sys.meta_path.remove(_finder)
                while _restore:
                    cls, attr, original = _restore.pop()
                    setattr(cls, attr, original)

    return uninstall


def _patch(module: Any) -> None:
    try:
        _patch_clients(module)
    except Exception:  # an httpx we do not know: no capture rather than a broken import
        return


def _patch_clients(module: Any) -> None:
    # imported with the first client patched: a run that never imports one never loads the
    # providers either
    from .httpx import AsyncTee, SyncTee, patch_async, patch_sync

    sync_tee = type("SyncTee", (SyncTee, module.SyncByteStream), {})
    async_tee = type("AsyncTee", (AsyncTee, module.AsyncByteStream), {})
    for cls, patch, tee in (
        (module.Client, patch_sync, sync_tee),
        (module.AsyncClient, patch_async, async_tee),
    ):
        original = cls.__dict__["send"]
        if getattr(original, "__tokenbudget__", False):  # httpx aliased to httpx2
            continue
        patched = patch(original, tee)
        patched.__tokenbudget__ = True  # type: ignore[attr-defined]
        _restore.append((cls, "send", original))
        cls.send = patched


def end_streams(tracker: Any) -> None:
    """A test ended with ``tracker``: its streams still open are recorded now, from what
    arrived (the plugin calls this; without the sink module no stream was ever opened)."""
    sink = sys.modules.get(__name__ + ".sink")
    if sink is not None:
        sink.finish_open(tracker)
