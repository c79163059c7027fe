"""The parsers of setting values (pure): each takes what the command line or a pyproject.toml
gave and returns the value, or raises ValueError with a plain-language reason; callers add
where the value came from (``config.Setting``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping


def parse_positive_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a positive whole number, got a boolean")
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        if not text.lstrip("-").isdigit():
            raise ValueError(f"must be a positive whole number, got {value!r}")
        value = int(text)
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive whole number, got {value!r}")
    return value


def parse_runs_per_month(value: object) -> int:
    """How often the suite (or the code it tests) runs in a month: a positive whole number."""
    try:
        return parse_positive_int(value)
    except ValueError as exc:
        raise ValueError(f"{exc} (runs a month, like 900 for 30 runs a day)") from None


def parse_non_negative_int(value: object) -> int:
    if value in (0, "0"):
        return 0
    try:
        return parse_positive_int(value)
    except ValueError:
        raise ValueError(f"must be a whole number >= 0, got {value!r}") from None


def parse_usd(value: object) -> int:
    """A positive dollar amount (``0.50``, ``"$2"``) as integer picodollars."""
    from .usage import usd_to_pico  # loaded with the first dollar amount, not at start-up

    text = value.strip().lstrip("$") if isinstance(value, str) else value
    try:
        pico = usd_to_pico(text)
    except ValueError:
        raise ValueError(f"must be a positive number of US dollars, got {value!r}") from None
    if pico <= 0:
        raise ValueError(f"must be a positive number of US dollars, got {value!r}")
    return pico


def parse_percent(value: object) -> float:
    """``"10%"`` -> 0.1, ``"0%"`` -> 0.0 (any growth), a plain fraction ``"0.1"`` -> 0.1."""
    accepted = "a percentage like '10%' (or '0%' for any growth) or a fraction like 0.1"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"invalid percentage {value!r}: expected {accepted}")
    text = str(value).strip()
    try:
        number = Decimal(text[:-1].strip()) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        raise ValueError(f"invalid percentage {value!r}: expected {accepted}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"invalid percentage {value!r}: expected {accepted}, not negative")
    return float(number)


def parse_fraction(value: object) -> float:
    """A share of a budget in (0, 1], like ``warn_at = 0.8`` (``80%`` also accepted)."""
    share = parse_percent(value)
    if not 0 < share <= 1:
        raise ValueError(f"must be between 0 (exclusive) and 1, like 0.8 or '80%', got {value!r}")
    return share


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ValueError(f"must be true or false, got {value!r}")


def parse_path(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a file path, got {value!r}")
    return value


def choice(*allowed: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}; got {value!r}")
        return str(value)

    return parse


def parse_table(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table, got {value!r}")
    return dict(value)


def parse_aliases(value: object) -> dict[str, str]:
    """``{"my-deployment": "gpt-4o"}``: names to the model they are priced and grouped as."""
    table = parse_table(value)
    for name, model in table.items():
        if not isinstance(model, str) or not model.strip():
            raise ValueError(
                f"alias {name!r} must name a model (a non-empty string), got {model!r}"
            )
    return table


def parse_confirm(value: object) -> int:
    if parse_non_negative_int(value) > 19:
        raise ValueError(f"must be from 0 to 19 re-runs (20 samples are kept), got {value!r}")
    return parse_non_negative_int(value)
