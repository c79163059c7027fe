"""The guard CI runs the demo under (tests/loopback_only.py): loopback passes, nothing else does.

No test sends anything anywhere but loopback: the sockets' own methods are replaced by
recorders before the guard wraps them, so a broken guard shows as a recorded call, not as a
packet.
"""

from __future__ import annotations

import socket
from typing import Any, Iterator

import pytest

import loopback_only


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """What reached the real socket methods, with the guard installed over recorders."""
    calls: list[tuple[str, Any]] = []

    def recorder(name: str) -> Any:
        def record(self: Any, *args: Any) -> int:
            calls.append((name, args[-1]))
            return 0

        return record

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, recorder(name))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: calls.append(("gai", host)))
    loopback_only.install()
    try:
        yield calls
    finally:
        loopback_only.uninstall()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        (b"127.0.0.1", True),
        ("192.0.2.1", False),
        ("10.0.0.1", False),
        ("::ffff:192.0.2.1", False),
        ("example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: object, expected: bool) -> None:
    assert loopback_only.is_loopback(host) is expected


def test_loopback_passes_and_nothing_else(recorded: list[tuple[str, Any]]) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tcp.connect(("127.0.0.1", 9))
        udp.sendto(b"x", ("127.0.0.1", 9))
        socket.getaddrinfo("localhost", 80)
        for refused in (
            lambda: tcp.connect(("192.0.2.1", 80)),
            lambda: tcp.connect_ex(("192.0.2.1", 80)),
            lambda: udp.sendto(b"x", ("192.0.2.1", 53)),
            lambda: udp.sendto(b"x", 0, ("192.0.2.1", 53)),
        ):
            with pytest.raises(OSError, match=r"192\.0\.2\.1.*refused"):
                refused()
        with pytest.raises(socket.gaierror, match=r"example\.com"):
            socket.getaddrinfo("example.com", 443)
    finally:
        tcp.close()
        udp.close()
    assert recorded == [
        ("connect", ("127.0.0.1", 9)),
        ("sendto", ("127.0.0.1", 9)),
        ("gai", "localhost"),
    ]


def test_as_a_pytest_plugin_it_guards_the_run_and_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_guarded():
            assert socket.socket.connect.__name__ == "guarded"
            assert socket.getaddrinfo.__name__ == "guarded"
        """
    )
    try:
        result = pytester.runpytest("-p", "loopback_only")
    finally:
        loopback_only.uninstall()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([loopback_only.HEADER])
