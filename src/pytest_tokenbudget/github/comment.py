"""The one pull-request comment: find ours, edit it, or create it (GitHub REST and GraphQL).

Ours is a comment that carries the marker AND was written by the token's own identity (asked
of GraphQL's ``viewer``, which answers for app installation tokens like ``GITHUB_TOKEN`` as
for personal tokens): anyone can paste the marker into a comment, and editing theirs would
be refused (403) or, with a strong token, would overwrite what they wrote.

Never raises: a comment is not worth failing a job over, so every failure becomes a
``"skipped: ..."`` reason that the comment step writes to the job summary instead.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..render.markdown import MARKER

__all__ = [
    "COMMENT_LIMIT",
    "MARKDOWN_LIMIT",
    "MAX_PAGES",
    "MODES",
    "Identity",
    "Target",
    "digest_line",
    "upsert_comment",
]

#: GitHub refuses comment bodies above 65,536 characters.
COMMENT_LIMIT = 65_000
#: The Markdown of a comment: the limit, less room for the digest line.
MARKDOWN_LIMIT = COMMENT_LIMIT - 100
#: Stop following ``Link: rel="next"`` after this many pages (10,000 comments).
MAX_PAGES = 100
#: The ``comment`` input's modes (``true`` is ``always``, ``false`` is ``never``).
MODES = ("always", "on-change", "never")
_DIGEST = re.compile(r"<!-- pytest-tokenbudget figures=([0-9a-f]{1,64}) -->")


def digest_line(digest: str) -> str:
    """The hidden line that lets ``on-change`` see whether a comment's figures are current."""
    return f"<!-- pytest-tokenbudget figures={digest} -->"


@dataclass(frozen=True)
class Identity:
    """Who the token is: comments by anyone else are never touched."""

    login: str
    id: int | None = None

    def wrote(self, comment: dict[str, Any]) -> bool:
        user = comment.get("user")
        if not isinstance(user, dict):
            return False
        if self.id is not None and type(user.get("id")) is int:
            return bool(user["id"] == self.id)
        login = str(user.get("login") or "")
        return _bare(login) == _bare(self.login)


def _bare(login: str) -> str:
    """GraphQL names a bot ``github-actions``, REST ``github-actions[bot]``."""
    login = login.lower()
    return login[: -len("[bot]")] if login.endswith("[bot]") else login


@dataclass(frozen=True)
class Target:
    """Where to comment: the repository, the pull request and, for a ``workflow_run``, the
    commit the pull request must be at (else the report is not of this pull request)."""

    repo: str
    pr: int | None
    head_sha: str | None = None
    head_label: str | None = None
    verify_head: bool = False


class _Api:
    def __init__(self, base: str, graphql: str, token: str, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.origin = urllib.parse.urlsplit(self.base)[:2]
        self.graphql = graphql or _graphql_url(self.base)
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


def _graphql_url(base: str) -> str:
    """``https://api.github.com/graphql``; GitHub Enterprise: ``https://HOST/api/graphql``."""
    return base[: -len("/v3")] + "/graphql" if base.endswith("/api/v3") else base + "/graphql"


def _whoami(api: _Api) -> Identity:
    answer, _ = api.call("POST", api.graphql, {"query": "query { viewer { login databaseId } }"})
    viewer = (answer or {}).get("data", {}).get("viewer") if isinstance(answer, dict) else None
    if not isinstance(viewer, dict) or not viewer.get("login"):
        raise ValueError(f"GraphQL viewer gave no login: {str(answer)[:200]!r}")
    number = viewer.get("databaseId")
    return Identity(str(viewer["login"]), number if type(number) is int else None)


def _next_link(link: str) -> str | None:
    for part in link.split(","):
        match = re.match(r"\s*<([^>]+)>\s*;(.*)", part)
        if match and re.search(r'rel="?next"?', match.group(2)):
            return match.group(1)
    return None


def _find_comment(api: _Api, repo: str, pr: int, me: Identity) -> tuple[int, str] | None:
    """Our comment on the pull request (marker and author): its id and body."""
    url: str | None = f"{api.base}/repos/{repo}/issues/{pr}/comments?per_page=100"
    for _ in range(MAX_PAGES):
        if url is None:
            break
        page, link = api.call("GET", url)
        for comment in page or []:
            if not isinstance(comment, dict):
                continue
            body = str(comment.get("body") or "")
            if MARKER in body and me.wrote(comment):
                return int(comment["id"]), body
        url = _next_link(link)
    return None


def _pull_request(api: _Api, target: Target) -> tuple[int | None, str]:
    """For a ``workflow_run``: the pull request at the tested commit, or why there is none."""
    repo, sha = target.repo, target.head_sha
    if not sha:
        return None, "the workflow_run event names no head commit"
    if target.pr is not None:
        pull, _ = api.call("GET", f"{api.base}/repos/{repo}/pulls/{target.pr}")
        head = (pull or {}).get("head", {}).get("sha") if isinstance(pull, dict) else None
        if head != sha:
            return None, (
                f"pull request #{target.pr} is at {str(head)[:12]}, not at the tested commit "
                f"{sha[:12]}: the report is not of this pull request"
            )
        return target.pr, ""
    if target.head_label:
        query = urllib.parse.urlencode({"head": target.head_label, "state": "open"})
        pulls, _ = api.call("GET", f"{api.base}/repos/{repo}/pulls?{query}")
        for pull in pulls or []:
            if isinstance(pull, dict) and (pull.get("head") or {}).get("sha") == sha:
                number = pull.get("number")
                if type(number) is int:
                    return number, ""
    return None, f"no open pull request is at the tested commit {sha[:12]}"


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
    reason = f"GitHub answered {exc.code} to {method}" + (f" ({message[:200]})" if message else "")
    if exc.code in (401, 403, 404):
        reason += (
            "; the token may not write to this pull request (a pull request from a fork, or "
            "the workflow lacks `permissions: pull-requests: write`)"
        )
    return reason


def upsert_comment(
    api: str,
    target: Target,
    body: str,
    token: str,
    *,
    mode: str = "always",
    digest: str = "",
    post: bool = True,
    graphql: str = "",
    timeout: float = 30.0,
) -> str:
    """Edit our comment on the pull request, or create it when there is none.

    One comment per pull request: re-posting on every push would bury the conversation.
    ``on-change`` leaves a comment whose ``digest`` (of its figures) is current alone, and
    creates none unless ``post`` (tokens changed, or the gate failed). Returns ``"created"``,
    ``"updated"``, ``"unchanged"``, ``"not posted: <why>"`` or ``"skipped: <reason>"``.
    """
    if target.pr is None and not (target.verify_head and target.head_label):
        return "skipped: no pull request in this event"
    if not token:
        return "skipped: no github-token"
    if not target.repo:
        return "skipped: GITHUB_REPOSITORY is not set"
    client = _Api(api or "https://api.github.com", graphql, token, timeout)
    text = _fit(body.replace(MARKER, f"{MARKER}\n{digest_line(digest)}", 1) if digest else body)
    method, pr = "the GraphQL viewer query", target.pr
    try:
        me = _whoami(client)
        method = "GET"
        if target.verify_head:
            pr, why = _pull_request(client, target)
            if pr is None:
                return f"skipped: {why}"
        assert pr is not None
        existing = _find_comment(client, target.repo, pr, me)
        if existing is not None:
            found = _DIGEST.search(existing[1])
            if mode == "on-change" and digest and found and found.group(1) == digest:
                return "unchanged"
            method = "PATCH"
            url = f"{client.base}/repos/{target.repo}/issues/comments/{existing[0]}"
            client.call(method, url, {"body": text})
            return "updated"
        if mode == "on-change" and not post:
            return "not posted: tokens did not change and the gate passed (comment: on-change)"
        method = "POST"
        url = f"{client.base}/repos/{target.repo}/issues/{pr}/comments"
        client.call(method, url, {"body": text})
        return "created"
    except urllib.error.HTTPError as exc:
        return f"skipped: {_http_reason(exc, method)}"
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        return f"skipped: {method} failed: {str(exc)[:300]}"
