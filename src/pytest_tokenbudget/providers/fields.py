"""What a parser answers in the ``pytest_tokenbudget_parse_response`` hook: a dict of usage
fields (PRODUCT.md's meaning: ``input_tokens`` includes cache reads and writes) plus ``model``.

The built-in providers answer the hook too, through :func:`to_fields`; what a user's parser
answers becomes one counted call through :func:`from_fields`, which names any bad key or value.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..usage import TOKEN_FIELDS, Extracted, Part, make_usage, pico_to_usd, usd_to_pico

#: Keys a parser may answer besides the token fields: ``total_tokens`` (checked), ``cost_usd``
#: (what the call was billed, taken over the price table), ``model``, ``response_id``.
EXTRA = ("total_tokens", "cost_usd", "model", "response_id")
KNOWN = (*TOKEN_FIELDS, *EXTRA)


def from_fields(fields: object) -> Extracted:
    """One call's usage from a parser's dict; ValueError naming what is wrong."""
    if not isinstance(fields, Mapping):
        raise ValueError(f"expected a dict of usage fields, got {type(fields).__name__}")
    for key in fields:
        if key not in KNOWN:
            raise ValueError(f"unknown key {key!r} (known: {', '.join(KNOWN)})")
    usage = make_usage(**{name: fields.get(name, 0) for name in TOKEN_FIELDS})
    total = fields.get("total_tokens")
    if total is not None and total != usage.total_tokens:
        raise ValueError(
            f"total_tokens {total!r} != input_tokens + output_tokens ({usage.total_tokens})"
        )
    model, rid, cost = fields.get("model"), fields.get("response_id"), fields.get("cost_usd")
    for name, value in (("model", model), ("response_id", rid)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
    billed = None if cost is None else usd_to_pico(cost)
    return Extracted((Part(usage, model, billed_pico=billed),), rid)


def to_fields(found: Extracted) -> dict[str, Any]:
    """A built-in provider's reading as a parser's dict: its parts added up, named after the
    first part's model (the response's own)."""
    out: dict[str, Any] = dict.fromkeys(TOKEN_FIELDS, 0)
    for part in found.parts:
        for name in TOKEN_FIELDS:
            out[name] += getattr(part.usage, name)
    out["total_tokens"] = out["input_tokens"] + out["output_tokens"]
    out["model"] = found.parts[0].model
    out["response_id"] = found.response_id
    billed = [part.billed_pico for part in found.parts]
    if None not in billed:
        out["cost_usd"] = pico_to_usd(sum(b for b in billed if b is not None))
    return out
