"""A loopback fake GitHub API: the issue comments and pull requests of one repository.

Enough of GitHub for the Action's pull-request comment: list a pull request's comments,
paginated like GitHub (``Link: rel="next"``, absolute URLs built from ``FakeGitHub.url``),
create one, edit one; GraphQL's ``viewer`` (who the token is); read a pull request, or find
the open ones by ``head=owner:branch``. Every request is logged in ``requests``; only
``Bearer TOKEN`` is let in, and ``fail`` makes a method answer with an error status (a fork's
read-only token). Each comment has an author: the token's identity (``ME``, an app bot as for
``GITHUB_TOKEN``) or anyone else, and, as on GitHub, editing someone else's comment is a 403.
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
#: The token's identity, as REST names it on a comment (GraphQL's viewer says "github-actions").
ME = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
#: Another author, who pasted our marker into a comment.
MALLORY = {"login": "mallory", "id": 666, "type": "User"}


@dataclass
class FakeGitHub:
    """Issue comments and pull requests of one repository."""

    url: str = ""
    page_size: int = 2
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: number -> {"head": {"sha", "ref", "label"}} (the fields the action reads)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # method -> HTTP status
    next_id: int = 1000

    def add(self, pr: int, body: str, user: dict[str, Any] | None = None) -> int:
        """A comment by ``user`` (default: the token's identity, as if an earlier run made it)."""
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, "user": dict(user or ME)}
        self.comments.setdefault(pr, []).append(comment)
        return self.next_id

    def open_pull(self, number: int, sha: str, label: str = "forker:feature") -> None:
        self.pulls[number] = {
            "number": number,
            "state": "open",
            "head": {"sha": sha, "label": label, "ref": label.split(":")[-1]},
        }

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] not in ("GET",) and r[1] != "/graphql"]


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
        if method in fake.fail and url.path != "/graphql":
            return self._send(
                fake.fail[method], {"message": "Resource not accessible by integration"}
            )
        if url.path == "/graphql" and method == "POST":
            if "viewer" not in str((body or {}).get("query")):
                return self._send(200, {"errors": [{"message": "unknown query"}]})
            viewer = {"login": "github-actions", "databaseId": ME["id"]}
            return self._send(200, {"data": {"viewer": viewer}})
        if url.path == "/user":  # an app installation token has no user
            return self._send(403, {"message": "Resource not accessible by integration"})
        listing = re.fullmatch(rf"/repos/{REPO}/issues/(\d+)/comments", url.path)
        single = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", url.path)
        pull = re.fullmatch(rf"/repos/{REPO}/pulls/(\d+)", url.path)
        query = urllib.parse.parse_qs(url.query)
        if listing and method == "GET":
            comments = fake.comments.get(int(listing[1]), [])
            page = int(query.get("page", ["1"])[0])
            chunk = comments[(page - 1) * fake.page_size : page * fake.page_size]
            headers = {}
            if page * fake.page_size < len(comments):
                nxt = f"{fake.url}{url.path}?per_page=100&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
            return self._send(200, chunk, headers)
        if listing and method == "POST":
            new = fake.add(int(listing[1]), body["body"])
            return self._send(201, {"id": new, "body": body["body"], "user": ME})
        if single and method == "PATCH":
            for comments in fake.comments.values():
                for c in comments:
                    if c["id"] == int(single[1]):
                        if c["user"]["id"] != ME["id"]:
                            return self._send(
                                403, {"message": "Resource not accessible by integration"}
                            )
                        c["body"] = body["body"]
                        return self._send(200, c)
        if pull and method == "GET" and int(pull[1]) in fake.pulls:
            return self._send(200, fake.pulls[int(pull[1])])
        if url.path == f"/repos/{REPO}/pulls" and method == "GET":
            head = query.get("head", [""])[0]
            found = [p for p in fake.pulls.values() if not head or p["head"]["label"] == head]
            return self._send(200, found)
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
