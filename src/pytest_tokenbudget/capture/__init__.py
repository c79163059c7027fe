"""Automatic capture of LLM SDK usage at the HTTP client layer (which requests: ``providers``).

``install()`` patches ``Client.send`` / ``AsyncClient.send`` of ``httpx2`` (current SDKs) and
``httpx`` (older SDKs, user-supplied clients), ``aiohttp``'s ``ClientSession`` (google-genai's
async client) and, through botocore's event system, every boto3 session's Bedrock runtime
clients. A module already imported is patched at once; one not imported yet is patched when
something imports it (a finder on ``sys.meta_path``), so a suite that never uses a client never
pays for importing it. Installing is reference-counted so that a plugin registered twice
patches once and counts every call once.
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

#: The client modules patched, each by the function of this package's module that patches it.
MODULES = {
    "httpx2": "httpx",
    "httpx": "httpx",
    "aiohttp": "aiohttp",
    "botocore.handlers": "botocore",
}

_lock = threading.Lock()
_installs = 0
#: Undoes the patches, newest last.
_restore: list[Callable[[], None]] = []
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
                    _restore.pop()()

    return uninstall


def _patch(module: Any) -> None:
    # the patching module is imported with the first client patched: a run that never imports
    # one never loads the providers either
    try:
        patcher = importlib.import_module(f"{__name__}.{MODULES[module.__name__]}")
        _restore.extend(patcher.patch(module))
    except Exception:  # a client version we do not know: no capture rather than a broken import
        return


def replace_method(cls: type, name: str, patch: Callable[[Any], Any]) -> list[Callable[[], None]]:
    """Set ``cls.name`` to ``patch(original)`` once (a class seen twice, as httpx aliased to
    httpx2, is patched once); returns its undo."""
    original = cls.__dict__[name]
    if getattr(original, "__tokenbudget__", False):
        return []
    patched = patch(original)
    patched.__tokenbudget__ = True
    setattr(cls, name, patched)
    return [lambda: setattr(cls, name, original)]


def end_streams(tracker: Any) -> None:
    """A test ended with ``tracker``: its streams still open are recorded now, from what
    arrived (the plugin calls this; without the sink module no stream was ever opened)."""
    sink = sys.modules.get(__name__ + ".sink")
    if sink is not None:
        sink.finish_open(tracker)
