"""The GitHub Action's logic, called by the steps of ``action.yml``.

Kept in Python rather than in the YAML so that it can be tested, and so that no input ever
passes through a shell: ``action.yml`` hands every input over in an environment variable.
No pytest import: the steps after the test run only read the report files.

    python -I -m pytest_tokenbudget.github pytest   # run pytest (or take the `report` input)
    python -I -m pytest_tokenbudget.github report   # action outputs, job summary, annotations
    python -I -m pytest_tokenbudget.github comment  # the one pull-request comment

The flow: ``inputs`` (action inputs -> pytest's arguments), ``event`` (which pull request),
``findings`` (the report -> outputs and annotations), ``comment`` (the pull-request comment,
only ever ours), all spoken to the runner through ``workflow`` (workflow commands,
``$GITHUB_OUTPUT``, log lines that no value can turn into a command) by ``steps``.
"""

from __future__ import annotations

from ..render.markdown import MARKER
from .comment import Target, upsert_comment
from .event import read_event
from .findings import annotation_lines, outputs
from .inputs import InputError, parse_comment_mode, pytest_argv
from .steps import main
from .workflow import format_outputs

__all__ = [
    "MARKER",
    "InputError",
    "Target",
    "annotation_lines",
    "format_outputs",
    "main",
    "outputs",
    "parse_comment_mode",
    "pytest_argv",
    "read_event",
    "upsert_comment",
]
