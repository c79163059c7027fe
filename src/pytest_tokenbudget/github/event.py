"""What the workflow's event says about the pull request to comment on (pure, no network).

``pull_request`` / ``pull_request_target`` events name it and its head commit; a comment on a
pull request (``issue_comment``) names it; a ``workflow_run`` event (the job that comments on a
fork's pull request from the report its tests uploaded) names the commit that was tested, and
the pull request only when it comes from the same repository. The ``pr-number`` input names it
where the event does not; for a ``workflow_run`` the comment step then checks that the pull
request is still at the tested commit, so a report can only land on the pull request it is of.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .inputs import InputError

__all__ = ["Event", "parse_pr_number", "read_event"]


@dataclass(frozen=True)
class Event:
    """The parts of the event the comment needs."""

    #: The pull request, as the event or the ``pr-number`` input names it.
    pr: int | None = None
    #: The commit the report is of (the pull request's head), for the footer and the check.
    head_sha: str | None = None
    #: A ``workflow_run`` event: the pull request must be at ``head_sha`` to be commented on.
    workflow_run: bool = False
    #: ``owner:branch`` of the tested head (to find a fork's pull request by its branch).
    head_label: str | None = None


def parse_pr_number(value: str | None) -> int | None:
    """The ``pr-number`` input: empty, or a pull request's number."""
    text = (value or "").strip().lstrip("#")
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"input 'pr-number': expected a pull request's number, got {value!r}")
    return int(text)


def _number(obj: Any) -> int | None:
    value = obj.get("number") if isinstance(obj, dict) else None
    return value if type(value) is int and value > 0 else None


def _text(obj: Any, *keys: str) -> str | None:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, str) and obj else None


def read_event(event_path: str | None, pr_input: str | None = None) -> Event:
    """The event at ``$GITHUB_EVENT_PATH``; ``pr_input`` (``pr-number``) names the pull request
    where the event does not. An unreadable event is an empty one (a push)."""
    given = parse_pr_number(pr_input)
    event: Any = {}
    if event_path:
        try:
            event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            event = {}
    if not isinstance(event, dict):
        event = {}
    run = event.get("workflow_run")
    if isinstance(run, dict):
        same_repo = run.get("pull_requests")
        pr = _number(same_repo[0]) if isinstance(same_repo, list) and same_repo else None
        owner = _text(run, "head_repository", "owner", "login")
        branch = _text(run, "head_branch")
        return Event(
            pr=given or pr,
            head_sha=_text(run, "head_sha"),
            workflow_run=True,
            head_label=f"{owner}:{branch}" if owner and branch else None,
        )
    pull = event.get("pull_request")
    if isinstance(pull, dict):
        return Event(pr=given or _number(pull), head_sha=_text(pull, "head", "sha"))
    issue = event.get("issue")
    if isinstance(issue, dict) and issue.get("pull_request"):
        return Event(pr=given or _number(issue))
    return Event(pr=given)
