"""Plain-text summary of a report (the terminal's ``tokenbudget`` section; pure)."""

from __future__ import annotations

from typing import Any, Mapping

from ..fmt import tokens as fmt_int
from ..fmt import usd as fmt_usd
from ..tracker import SESSION_BUCKET

TOP_TESTS = 10


def fmt_cost(usage: Mapping[str, Any]) -> str:
    """``$0.0123``; ``unpriced`` or ``>= $0.01 (2 unpriced calls)`` when a model has no price."""
    cost = usage.get("cost_usd")
    unpriced = usage.get("unpriced_calls", 0)
    if cost is not None:
        return fmt_usd(cost)
    return f"unpriced ({unpriced} call{'s' if unpriced != 1 else ''})"


def describe(usage: Mapping[str, Any]) -> str:
    """``12,345 tokens (input 10,000 incl. 2,000 cache read, output 2,345) in 14 calls, $0.01``."""
    parts = [f"input {fmt_int(usage['input_tokens'])}"]
    cache = [
        f"{fmt_int(usage[key])} {label}"
        for key, label in (
            ("cache_read_tokens", "cache read"),
            ("cache_write_tokens", "cache write"),
        )
        if usage.get(key)
    ]
    if cache:
        parts[0] += " incl. " + ", ".join(cache)
    output = f"output {fmt_int(usage['output_tokens'])}"
    if usage.get("reasoning_tokens"):
        output += f" incl. {fmt_int(usage['reasoning_tokens'])} reasoning"
    parts.append(output)
    calls = usage["calls"]
    text = (
        f"{fmt_int(usage['total_tokens'])} tokens ({', '.join(parts)}) "
        f"in {fmt_int(calls)} call{'s' if calls != 1 else ''}, {fmt_cost(usage)}"
    )
    if usage.get("refused_calls"):
        text += f", {fmt_int(usage['refused_calls'])} refused"
    return text


def _table(title: str, rows: Mapping[str, Mapping[str, Any]], limit: int) -> list[str]:
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1]["total_tokens"], kv[0]))
    lines = [f"{title}:"]
    width = max(len(fmt_int(u["total_tokens"])) for _, u in ordered[:limit])
    for name, usage in ordered[:limit]:
        calls = usage["calls"]
        lines.append(
            f"  {fmt_int(usage['total_tokens']):>{width}} tokens  {name}  "
            f"({fmt_int(calls)} call{'s' if calls != 1 else ''}, {fmt_cost(usage)})"
        )
    if len(ordered) > limit:
        lines.append(f"  ... and {len(ordered) - limit} more")
    return lines


def _merge(tests: Mapping[str, Mapping[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    from ..usage import Usage, add_into

    out: dict[str, Usage] = {}
    for test in tests.values():
        for name, usage in test[key].items():
            add_into(out, name, Usage.from_dict(usage))
    return {name: usage.to_dict() for name, usage in out.items()}


def summary_lines(report: Mapping[str, Any], *, top: int = TOP_TESTS) -> list[str]:
    tests = report["tests"]
    lines = [f"run total: {describe(report['totals'])}"]
    real_tests = {
        k: v for k, v in tests.items() if k != SESSION_BUCKET and (v["calls"] or v["total_tokens"])
    }
    if SESSION_BUCKET in tests:
        lines.append(f"outside tests ({SESSION_BUCKET}): {describe(tests[SESSION_BUCKET])}")
    if real_tests:
        lines += _table(f"top tests by tokens ({len(real_tests)} with usage)", real_tests, top)
    by_model = _merge(tests, "by_model")
    if by_model:
        lines += _table("by model", by_model, top)
    by_operation = _merge(tests, "by_operation")
    if set(by_operation) - {"(none)"}:
        lines += _table("by operation", by_operation, top)
    pricing = report.get("pricing") or {}
    if pricing.get("source"):
        lines.append(f"prices: {pricing['source']} {pricing.get('version', '')}".rstrip())
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    return lines
