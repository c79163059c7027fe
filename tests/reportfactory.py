"""Builders of report and baseline documents as the plugin writes them (test helpers)."""

from __future__ import annotations

import json
from typing import Any, Iterable

from pytest_tokenbudget.files.codec import encode
from pytest_tokenbudget.report import REPORT_SCHEMA
from pytest_tokenbudget.usage import Usage

#: USD per million tokens (input, output): a made-up table for recorded costs.
PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.5, 10.0)}

Cell = tuple[str, str, int, int, int]  # operation, model, input, output, calls


def usage(i: int, o: int, calls: int = 1, model: str = "gpt-4o-mini") -> Usage:
    price = PRICES.get(model)
    if price is None:
        return Usage(i, o, calls=calls, unpriced_calls=calls)
    pico = i * round(price[0] * 10**6) + o * round(price[1] * 10**6)
    return Usage(i, o, calls=calls, cost_pico=pico)


def make_test(cells: Iterable[Cell], status: str = "passed") -> dict[str, Any]:
    by_op: dict[str, dict[str, Usage]] = {}
    for op, model, i, o, calls in cells:
        models = by_op.setdefault(op, {})
        u = usage(i, o, calls, model)
        models[model] = models[model] + u if model in models else u
    by_model: dict[str, Usage] = {}
    for models in by_op.values():
        for m, u in models.items():
            by_model[m] = by_model[m] + u if m in by_model else u
    total = sum(by_model.values(), Usage())
    out = total.to_dict()
    out["by_model"] = {m: u.to_dict() for m, u in by_model.items()}
    out["by_operation"] = {
        op: {
            **sum(models.values(), Usage()).to_dict(),
            "by_model": {m: u.to_dict() for m, u in models.items()},
        }
        for op, models in by_op.items()
    }
    out["budget"] = None
    out["status"] = status
    return out


def report_doc(tests: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    totals = Usage()
    for t in tests.values():
        totals = totals + Usage.from_dict(t)
    doc = {
        "schema": REPORT_SCHEMA,
        "created": "2026-11-23T12:00:00+00:00",
        "totals": totals.to_dict(),
        "tests": tests,
        "baseline": None,
        "violations": [],
        "pricing": {"source": "test", "version": "2026-11-01"},
        "passed": True,
        "notes": [],
    }
    doc.update(extra)
    return doc


def simple(i: int, o: int = 0, calls: int = 1, *, status: str = "passed") -> dict[str, Any]:
    return make_test([("(none)", "gpt-4o-mini", i, o, calls)], status)


def as_json(obj: Any) -> Any:
    """``obj`` (a report, a baseline document, a record) as the file holds it, parsed."""
    return json.loads(encode(obj))
