"""Buckets: entries of a run's ``tests`` that are not tests (usage outside any test's figure:
the session, wider fixtures, reruns, confirmation runs), in the run's totals but never compared,
budget-checked or ranked as a test."""

from __future__ import annotations

#: The bucket of usage recorded outside any test (a run total, never compared or budgeted).
SESSION_BUCKET = "<session>"
#: The bucket of a fixture wider than function scope (its setup and teardown), by its name.
FIXTURE_BUCKET = "<fixture {}>"
#: The bucket of the attempts of rerun tests before their final one.
RERUNS_BUCKET = "<reruns>"
#: The bucket of the extra runs of tests that looked regressed (``--tokenbudget-confirm``).
CONFIRMATION_BUCKET = "<confirmation>"
#: The status of a bucket other than ``<session>`` (whose status is "session") in the files.
BUCKET_STATUS = "bucket"


def is_bucket(nodeid: str) -> bool:
    """Is this entry of a run's ``tests`` a bucket (``<session>``, ``<fixture db>``, ...), in
    the run's totals but never compared, budget-checked or ranked as a test?"""
    return nodeid[:1] == "<" and nodeid[-1:] == ">"
