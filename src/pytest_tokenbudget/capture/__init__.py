"""Automatic capture of LLM SDK usage at the HTTP client layer (which requests: ``providers``).

``install()`` patches ``Client.send`` / ``AsyncClient.send`` of ``httpx2`` (current SDKs) and
``httpx`` (older SDKs, user-supplied clients). A module already imported is patched at once;
one not imported yet is patched when something imports it (a finder on ``sys.meta_path``), so
a suite that never uses an HTTP client never pays for importing one. Installing is
reference-counted so that a plugin registered twice patches once and counts every call once.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any, Callable

from ..onimport import PatchOnImport

__all__ = ["install", "installed"]

MODULES = ("httpx2", "httpx")

_lock = threading.RLock()
_installs = 0
_restore: list[tuple[type, str, Any]] = []


def _patch_if_installed(module: ModuleType) -> None:
    with _lock:
        if _installs:
            _patch(module)  # never raises: the user's import must not fail


_finder = PatchOnImport(_patch_if_installed)


def installed() -> bool:
    return _installs > 0


def install() -> Callable[[], None]:
    """Patch the HTTP clients (once however often called); returns this install's undo."""
    global _installs
    with _lock:
        _installs += 1
        if _installs == 1:
            _finder.watch(MODULES)  # patches those already imported (re-entering the lock)
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
                _finder.stop()
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
