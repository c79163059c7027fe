"""The GitHub Action's logic, called by the steps of ``action.yml``.

Kept in Python rather than in the YAML so that it can be tested, and so that no input ever
passes through a shell: ``action.yml`` hands every input over in an environment variable.
No pytest import: the steps after the test run only read the report files.

    python -m pytest_tokenbudget.github pytest    # run pytest; step outputs for the steps below
    python -m pytest_tokenbudget.github report    # action outputs, job summary, annotations
    python -m pytest_tokenbudget.github comment   # the one pull-request comment

The flow: ``inputs`` (action inputs -> pytest's arguments), ``findings`` (the report -> outputs
and annotations), ``comment`` (the pull-request comment), all spoken to the runner through
``workflow`` (workflow commands, ``$GITHUB_OUTPUT``) by ``steps``.
"""

from __future__ import annotations

from ..render.markdown import MARKER
from .comment import pr_number, upsert_comment
from .findings import annotation_lines, outputs
from .inputs import InputError, pytest_argv
from .steps import main
from .workflow import format_outputs

__all__ = [
    "MARKER",
    "InputError",
    "annotation_lines",
    "format_outputs",
    "main",
    "outputs",
    "pr_number",
    "pytest_argv",
    "upsert_comment",
]
