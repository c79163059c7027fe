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
from types import ModuleType
from typing import Any, Callable

from ..onimport import Installs, PatchOnImport

__all__ = ["install", "installed"]

#: The client modules patched, each by the function of this package's module that patches it.
MODULES = {
    "httpx2": "httpx",
    "httpx": "httpx",
    "aiohttp": "aiohttp",
    "botocore.handlers": "botocore",
}

#: Undoes the patches, newest last.
_restore: list[Callable[[], None]] = []


def _patch_if_installed(module: ModuleType) -> None:
    with _INSTALLS.lock:
        if _INSTALLS.active:
            _patch(module)  # never raises: the user's import must not fail


_finder = PatchOnImport(_patch_if_installed)


def _unpatch() -> None:
    _finder.stop()
    while _restore:
        _restore.pop()()


#: The first install watches the client modules (patching those already imported, under the
#: lock it re-enters); the last undo restores every patch.
_INSTALLS = Installs(lambda: _finder.watch(MODULES), _unpatch)


def installed() -> bool:
    return _INSTALLS.active


def install() -> Callable[[], None]:
    """Patch the HTTP clients (once however often called); returns this install's undo."""
    return _INSTALLS.install()


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
