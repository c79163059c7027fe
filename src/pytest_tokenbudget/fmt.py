"""Number formatting shared by the renderers, so every view shows the same figures."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .usage import Usage


#: The unit each figure is counted in, for messages ("5,321 tokens", "3 calls").
UNITS = {
    "total_tokens": "tokens",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "calls": "calls",
}


def plural(count: int, noun: str) -> str:
    """``1 regression``, ``3 regressions``, ``1,200 tests``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def tokens(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "-"


def usd(value: object) -> str:
    """Dollars without rounding a sub-cent cost to zero: ``$0.0003687``, ``$12.50``."""
    if value is None:
        return "unpriced"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ""
    if abs(value) >= 100:
        return f"{sign}${abs(value):,.2f}"
    whole, _, decimals = f"{abs(value):.8f}".partition(".")
    return f"{sign}${whole}.{decimals.rstrip('0').ljust(2, '0')}"


def plain_number(value: float) -> str:
    """The shortest decimal that reads back as ``value``, never in exponent notation: a cost
    for machines (the Action's output, JUnit properties, OpenMetrics). ``3.3e-05`` would break a
    shell or spreadsheet comparison; ``0.000033`` does not."""
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def signed_usd(value: object) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    sign = "-" if value < 0 else "+"
    return sign + usd(abs(value))


def pct(value: object) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "new usage"
    return f"{value:+.1f}%" if abs(value) < 10 else f"{value:+.0f}%"


def figure(metric: str, value: object) -> str:
    return usd(value) if metric == "cost_usd" else tokens(value)


def change(before: Usage, after: Usage, key: str) -> str:
    """``+2,350 (+46%)``: the change of figure ``key`` between two usages."""
    b, a = getattr(before, key), getattr(after, key)
    if key == "cost_usd":
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return "-"
        rel = f" ({pct((a - b) * 100 / b)})" if b else ""
        return signed_usd(a - b) + rel
    if not isinstance(a, int) or not isinstance(b, int):
        return "-"
    rel = f" ({pct((a - b) * 100 / b)})" if b else ""
    return f"{a - b:+,}{rel}"


#: The label of each figure in a comparison's table.
LABELS = {
    "total_tokens": "tokens",
    "input_tokens": "input",
    "output_tokens": "output",
    "calls": "calls",
    "uncounted_calls": "calls not counted",
    "cost_usd": "cost",
}


def compared(before: Usage, after: Usage, names: Sequence[str]) -> list[tuple[str, str]]:
    """(figure, label) of the rows of a comparison table: ``names``, and the calls not counted
    after the calls when either side has any (their tokens are unknown on that side)."""
    rows = [(name, LABELS[name]) for name in names]
    if before.uncounted_calls or after.uncounted_calls:
        at = names.index("calls") + 1 if "calls" in names else len(rows)
        rows.insert(at, ("uncounted_calls", LABELS["uncounted_calls"]))
    return rows


def some(names: Sequence[str], shown: int = 3) -> str:
    """``a, b, c and 2 more``: the first ``shown`` of ``names``, and how many more."""
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown:,} more" if len(names) > shown else "")


def uncounted(usage: Usage) -> str:
    """``1 call not counted``; empty when every call was counted."""
    n = usage.uncounted_calls
    return f"{tokens(n)} call{'s' if n != 1 else ''} not counted" if n else ""


def calls(usage: Usage) -> str:
    """A calls cell: ``3``, or ``3 + 1 not counted`` (calls whose tokens are unknown)."""
    shown = tokens(usage.calls)
    n = usage.uncounted_calls
    return f"{shown} + {tokens(n)} not counted" if n else shown


def cells(usage: Usage, names: Sequence[str]) -> list[str]:
    """The named figures of ``usage``, each formatted as every table shows it."""
    return [
        calls(usage) if name == "calls" else figure(name, getattr(usage, name)) for name in names
    ]
