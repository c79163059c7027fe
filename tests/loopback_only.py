"""Let a Python process reach loopback addresses only: any other connection, datagram or name
lookup fails at once with an OSError naming what was refused.

CI runs the README's demo under it (``PYTHONPATH=tests PYTEST_ADDOPTS="-p loopback_only"``) to
prove the demo needs no network once installed: its install may use the package registries,
its test run may not. As a pytest plugin it installs itself when loaded and says so in the
report header; ``install()`` does the same for any other process.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Callable

HEADER = "network: loopback only (tests/loopback_only.py)"
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

_saved: dict[str, Any] = {}


def is_loopback(host: object) -> bool:
    """A host this machine answers itself: a loopback address or ``localhost``."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def allowed(family: int, address: object) -> bool:
    """May a socket of ``family`` connect or send to ``address``?"""
    if family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    return is_loopback(host)


def _refuse(what: str, target: object) -> OSError:
    return OSError(f"loopback_only: {what} {target!r} refused (only loopback is allowed)")


def _guard_address(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    def guarded(self: socket.socket, address: Any, *args: Any) -> Any:
        if not allowed(self.family, address):
            raise _refuse(what, address)
        return original(self, address, *args)

    return guarded


def _guard_sendto(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(self: socket.socket, data: Any, *args: Any) -> Any:
        address = args[-1]  # sendto(data, address) or sendto(data, flags, address)
        if not allowed(self.family, address):
            raise _refuse("datagram to", address)
        return original(self, data, *args)

    return guarded


def _guard_lookup(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"loopback_only: lookup of {host!r} refused")
        return original(host, *args, **kwargs)

    return guarded


def install() -> None:
    """Guard every socket of this process from now on (idempotent)."""
    if _saved:
        return
    cls = socket.socket
    _saved.update(
        connect=cls.connect,
        connect_ex=cls.connect_ex,
        sendto=cls.sendto,
        getaddrinfo=socket.getaddrinfo,
    )
    cls.connect = _guard_address(_saved["connect"], "connection to")  # type: ignore[method-assign]
    cls.connect_ex = _guard_address(_saved["connect_ex"], "connection to")  # type: ignore[method-assign]
    cls.sendto = _guard_sendto(_saved["sendto"])  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _guard_lookup(_saved["getaddrinfo"])


def uninstall() -> None:
    if not _saved:
        return
    cls = socket.socket
    cls.connect = _saved["connect"]  # type: ignore[method-assign]
    cls.connect_ex = _saved["connect_ex"]  # type: ignore[method-assign]
    cls.sendto = _saved["sendto"]  # type: ignore[method-assign]
    socket.getaddrinfo = _saved["getaddrinfo"]
    _saved.clear()


def pytest_configure() -> None:
    install()


def pytest_report_header() -> str:
    return HEADER
