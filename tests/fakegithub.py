"""A loopback fake GitHub REST API: the issue comments of one repository, nothing else.

Enough of GitHub for the Action's pull-request comment: list a pull request's comments,
paginated like GitHub (``Link: rel="next"``, absolute URLs built from ``FakeGitHub.url``),
create one, edit one. Every request is logged in ``requests``; only ``Bearer TOKEN`` is let
in, and ``fail`` makes a method answer with an error status (a fork's read-only token).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

REPO = "octo/widgets"
TOKEN = "ghs_test_token"


@dataclass
class FakeGitHub:
    """Issue comments of one repository, paginated like GitHub (``Link: rel="next"``)."""

    url: str = ""
    page_size: int = 2
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # method -> HTTP status
    next_id: int = 1000

    def add(self, pr: int, body: str) -> int:
        self.next_id += 1
        self.comments.setdefault(pr, []).append({"id": self.next_id, "body": body})
        return self.next_id

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] != "GET"]


class Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        fake.requests.append((method, self.path, body))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"message": "Bad credentials"})
        if method in fake.fail:
            return self._send(
                fake.fail[method], {"message": "Resource not accessible by integration"}
            )
        listing = re.fullmatch(rf"/repos/{REPO}/issues/(\d+)/comments", url.path)
        single = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", url.path)
        if listing and method == "GET":
            comments = fake.comments.get(int(listing[1]), [])
            page = int(urllib.parse.parse_qs(url.query).get("page", ["1"])[0])
            chunk = comments[(page - 1) * fake.page_size : page * fake.page_size]
            headers = {}
            if page * fake.page_size < len(comments):
                nxt = f"{fake.url}{url.path}?per_page=100&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
            return self._send(200, chunk, headers)
        if listing and method == "POST":
            new = fake.add(int(listing[1]), body["body"])
            return self._send(201, {"id": new, "body": body["body"]})
        if single and method == "PATCH":
            for comments in fake.comments.values():
                for c in comments:
                    if c["id"] == int(single[1]):
                        c["body"] = body["body"]
                        return self._send(200, c)
        return self._send(404, {"message": "Not Found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub


@contextmanager
def running() -> Iterator[FakeGitHub]:
    """A started server with no comments, shut down on exit (the ``github`` fixture uses it)."""
    server = _Server(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    server.fake = FakeGitHub(f"http://{host!s}:{port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
