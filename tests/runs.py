"""Shared scaffolding for the end-to-end tests that run an inner pytest through pytester.

``DIST`` is the one serial / ``-n 2`` parameter list (ids "serial" and "xdist2"): a test
that must give the same outcome both ways takes ``dist`` from it and passes ``*dist`` on.
``run_report`` runs the inner pytest with ``--tokenbudget-json`` and returns the result
with the JSON report read back as a plain dict, which is what the tests assert on;
``read_json`` reads any other JSON file a run left there (a baseline, a merged report).
"""

from __future__ import annotations

from json import loads
from typing import Any

import pytest

DIST = [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist2")]


def read_json(pytester: pytest.Pytester, name: str = "r.json") -> dict[str, Any]:
    """The JSON file ``name`` in the pytester directory (a report, a baseline) as a plain dict."""
    data: dict[str, Any] = loads((pytester.path / name).read_text(encoding="utf-8"))
    return data


def run_report(
    pytester: pytest.Pytester, *args: str, json: str = "r.json", subprocess: bool = False
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run pytest with ``--tokenbudget-json=<json>`` and ``args`` (in process, or in a
    subprocess with ``subprocess=True``); the result and the report it wrote."""
    runpytest = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = runpytest(f"--tokenbudget-json={json}", *args)
    return result, read_json(pytester, json)
