"""The figures a baseline comparison can judge, and the list ``regression_metric`` names."""

from __future__ import annotations

__all__ = ["DEFAULT_METRIC", "METRICS", "parse_metrics"]

METRICS = ("total_tokens", "input_tokens", "output_tokens", "cost_usd", "calls")
DEFAULT_METRIC = "total_tokens"


def parse_metrics(value: object) -> tuple[str, ...]:
    """``"input_tokens,output_tokens"`` (or a list) as the figures the gate judges, in order."""
    accepted = (
        f"one or more of {', '.join(METRICS)}, comma-separated, each once "
        "(like input_tokens,output_tokens)"
    )
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"invalid metric {value!r}: expected {accepted}")
    names = [n.strip() for n in names]
    unknown = [n for n in names if n not in METRICS]
    if not names or unknown or len(set(names)) != len(names):
        what = f"unknown figure {unknown[0]!r}" if unknown else "a figure repeated or none"
        raise ValueError(f"invalid metric {value!r} ({what}): expected {accepted}")
    return tuple(names)
