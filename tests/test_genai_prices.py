"""Our table against genai-prices, where both know a model (skipped when it is not installed)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from pytest_tokenbudget.pricing import load_pricer, load_table
from pytest_tokenbudget.pricing.genai import genai_cost_pico
from pytest_tokenbudget.usage import make_usage

genai_prices = pytest.importorskip("genai_prices")

#: One million tokens of each kind, as (usage, 1-hour cache writes).
PROBES = {
    "input": (make_usage(input_tokens=10**6), 0),
    "output": (make_usage(output_tokens=10**6), 0),
    "cache_read": (make_usage(input_tokens=10**6, cache_read_tokens=10**6), 0),
    "cache_write": (make_usage(input_tokens=10**6, cache_write_tokens=10**6), 0),
    "cache_write_1h": (make_usage(input_tokens=10**6, cache_write_tokens=10**6), 10**6),
}

#: Kinds of price where we knowingly differ from genai-prices (none as of the table's date).
KNOWN: set[str] = set()
#: When the probes are priced: outside DeepSeek's off-peak hours (16:30-00:30 UTC, half price),
#: which our table does not model; genai-prices would otherwise differ from 16:30 each day.
PEAK = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def differences() -> list[str]:
    table = load_pricer(use_genai_prices=False)
    out = []
    for model, _rates in sorted(load_table().models.items()):
        for kind, (usage, one_hour) in PROBES.items():
            ours = table.cost_pico(model, usage, cache_write_1h_tokens=one_hour)
            if ours is None:
                continue
            try:
                theirs = genai_cost_pico(model, usage, one_hour, at=PEAK)
            except LookupError:
                break
            if ours != theirs:
                out.append(
                    f"{model} {kind}: ours ${Decimal(ours) / 10**12} per M, "
                    f"genai-prices ${Decimal(theirs) / 10**12}"
                )
    return out


def test_list_differences_with_genai_prices() -> None:
    found = differences()
    print("\n".join(found) or "no differences")
    unexpected = [line for line in found if line.split()[1].rstrip(":") not in KNOWN]
    assert unexpected == []


def test_genai_prices_fills_in_models_our_table_lacks() -> None:
    pricer = load_pricer()
    assert pricer.source == "pytest-tokenbudget+genai-prices"
    assert "genai-prices" in pricer.version
    usage = make_usage(input_tokens=10**6, output_tokens=10**6)
    assert pricer.resolve("gpt-3.5-turbo-16k") is None
    assert pricer.cost_pico("gpt-3.5-turbo-16k", usage) == 7 * 10**12  # $3 + $4
    assert pricer.cost_pico("entirely-unknown-model-xyz", usage) is None


def test_our_table_and_overrides_win_over_genai_prices() -> None:
    pricer = load_pricer({"gpt-4o": {"input": 1}})
    assert pricer.source == "pytest-tokenbudget+genai-prices+config"
    assert pricer.cost_pico("gpt-4o", make_usage(input_tokens=10**6)) == 10**12
