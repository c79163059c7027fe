"""Number formatting shared by the renderers, so every view shows the same figures."""

from __future__ import annotations

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


def cells(usage: Usage, names: Sequence[str]) -> list[str]:
    """The named figures of ``usage``, each formatted as every table shows it."""
    return [figure(name, getattr(usage, name)) for name in names]
