"""Automatic capture of OpenAI and Anthropic SDK usage at the HTTP client layer.

``install()`` patches ``Client.send`` / ``AsyncClient.send`` of ``httpx2`` (current SDKs) and
``httpx`` (older SDKs, user-supplied clients), whichever are importable. They are imported here,
never at plugin import. Installing is reference-counted so that a plugin registered twice
patches once and counts every call once.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any, Callable

from .transport import AsyncTee, SyncTee, patch_async, patch_sync

__all__ = ["install", "installed"]

MODULES = ("httpx2", "httpx")

_lock = threading.Lock()
_installs = 0
_restore: list[tuple[type, str, Any]] = []


def installed() -> bool:
    return _installs > 0


def install() -> Callable[[], None]:
    """Patch the HTTP clients (once however often called); returns this install's undo."""
    global _installs
    with _lock:
        if _installs == 0:
            for name in MODULES:
                _patch_module(name)
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
                while _restore:
                    cls, attr, original = _restore.pop()
                    setattr(cls, attr, original)

    return uninstall


def _patch_module(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError:
        return
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
