"""The one pull-request comment: find it by its marker, edit it, or create it (GitHub REST).

Never raises: a comment is not worth failing a job over, so every failure becomes a
``"skipped: ..."`` reason that the comment step writes to the job summary instead.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..render.markdown import MARKER

__all__ = ["COMMENT_LIMIT", "MAX_PAGES", "pr_number", "upsert_comment"]

#: GitHub refuses comment bodies above 65,536 characters.
COMMENT_LIMIT = 65_000
#: Stop following ``Link: rel="next"`` after this many pages (10,000 comments).
MAX_PAGES = 100


def pr_number(event_path: str | None) -> int | None:
    """The pull request of the event (``pull_request*`` events, or a comment on a PR)."""
    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    pr = event.get("pull_request")
    if isinstance(pr, dict) and type(pr.get("number")) is int:
        return int(pr["number"])
    issue = event.get("issue")
    if isinstance(issue, dict) and issue.get("pull_request") and type(issue.get("number")) is int:
        return int(issue["number"])
    return None


class _Api:
    def __init__(self, base: str, token: str, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.origin = urllib.parse.urlsplit(self.base)[:2]
        self.token = token
        self.timeout = timeout

    def call(self, method: str, url: str, data: Any = None) -> tuple[Any, str]:
        if urllib.parse.urlsplit(url)[:2] != self.origin:
            # Never send the token to a host that a Link header names.
            raise ValueError(f"refusing to follow {url} outside {self.base}")
        body = None if data is None else json.dumps(data).encode("utf-8")
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "pytest-tokenbudget")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            raw = response.read()
            link = response.headers.get("Link", "") or ""
        return (json.loads(raw) if raw else None), link


def _next_link(link: str) -> str | None:
    for part in link.split(","):
        match = re.match(r"\s*<([^>]+)>\s*;(.*)", part)
        if match and re.search(r'rel="?next"?', match.group(2)):
            return match.group(1)
    return None


def _find_comment(api: _Api, repo: str, pr: int) -> int | None:
    url: str | None = f"{api.base}/repos/{repo}/issues/{pr}/comments?per_page=100"
    for _ in range(MAX_PAGES):
        if url is None:
            break
        page, link = api.call("GET", url)
        for comment in page or []:
            if isinstance(comment, dict) and MARKER in str(comment.get("body") or ""):
                return int(comment["id"])
        url = _next_link(link)
    return None


def _fit(body: str) -> str:
    if MARKER not in body:
        body = f"{MARKER}\n{body}"
    if len(body) <= COMMENT_LIMIT:
        return body
    cut = body[: COMMENT_LIMIT - 200].rsplit("\n", 1)[0]
    return cut + "\n\n_... cut to fit a comment; the whole report is in the job summary._\n"


def _http_reason(exc: urllib.error.HTTPError, method: str) -> str:
    try:
        message = json.loads(exc.read() or b"{}").get("message", "")
    except (ValueError, AttributeError, OSError):
        message = ""
    reason = f"GitHub answered {exc.code} to {method}" + (f" ({message})" if message else "")
    if exc.code in (401, 403, 404):
        reason += (
            "; the token may not write to this pull request (a pull request from a fork, or "
            "the workflow lacks `permissions: pull-requests: write`)"
        )
    return reason


def upsert_comment(
    api: str, repo: str, pr: int | None, body: str, token: str, *, timeout: float = 30.0
) -> str:
    """Edit the pull request's report comment, or create it when there is none.

    One comment per pull request, found by its marker: re-posting on every push would bury
    the conversation. Returns ``"created"``, ``"updated"`` or ``"skipped: <reason>"``.
    """
    if pr is None:
        return "skipped: no pull request in this event"
    if not token:
        return "skipped: no github-token"
    if not repo:
        return "skipped: GITHUB_REPOSITORY is not set"
    client = _Api(api or "https://api.github.com", token, timeout)
    body = _fit(body)
    method = "GET"
    try:
        existing = _find_comment(client, repo, pr)
        if existing is not None:
            method = "PATCH"
            client.call(
                method, f"{client.base}/repos/{repo}/issues/comments/{existing}", {"body": body}
            )
            return "updated"
        method = "POST"
        client.call(method, f"{client.base}/repos/{repo}/issues/{pr}/comments", {"body": body})
        return "created"
    except urllib.error.HTTPError as exc:
        return f"skipped: {_http_reason(exc, method)}"
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        return f"skipped: {method} failed: {exc}"
