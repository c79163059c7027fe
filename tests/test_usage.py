"""Unit and property tests for the Usage value type (pure)."""

from __future__ import annotations

import dataclasses
import json
import random

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tokenbudget import records, sums
from pytest_tokenbudget.usage import (
    USAGE_FIELDS,
    Usage,
    make_usage,
    usage_counts,
    usd_to_pico,
    with_cost,
)

counts = st.integers(min_value=0, max_value=10**9)
usages = st.builds(
    Usage,
    input_tokens=counts,
    output_tokens=counts,
    cache_read_tokens=counts,
    cache_write_tokens=counts,
    reasoning_tokens=counts,
    calls=st.integers(0, 1000),
    unpriced_calls=st.integers(0, 3),
    refused_calls=st.integers(0, 3),
    uncounted_calls=st.integers(0, 3),
    cost_pico=st.integers(0, 10**15),
)


@given(st.lists(usages, max_size=30), st.randoms(use_true_random=False))
def test_sum_is_independent_of_order_and_grouping(items: list[Usage], rnd: random.Random) -> None:
    straight = sum(items, Usage())
    shuffled = items[:]
    rnd.shuffle(shuffled)
    cut = rnd.randint(0, len(shuffled))
    grouped = sum(shuffled[:cut], Usage()) + sum(shuffled[cut:], Usage())
    assert grouped == straight
    assert json.dumps(grouped.to_dict(), sort_keys=True) == json.dumps(
        straight.to_dict(), sort_keys=True
    )


@given(st.lists(st.tuples(usages, st.booleans()), max_size=12))
def test_cells_total_equals_plain_addition(cells: list[tuple[Usage, bool]]) -> None:
    """``sums.total`` adds a figure at a time over Usage cells and running-sum lists alike."""
    held = [sums.sums_of(u) if as_list else u for u, as_list in cells]
    found = sums.total(held)
    assert found == sum((u for u, _ in cells), Usage())
    assert list(found.__dict__) == list(USAGE_FIELDS)  # a plain Usage, fields in order


@given(usages, st.sampled_from(["gpt-4o", "<>"]), st.sampled_from(["default", "op"]))
def test_records_made_by_position_hold_each_figure_by_name(
    usage: Usage, model: str, operation: str
) -> None:
    """``records`` makes its structs from positional values: each lands in its named field."""
    counts = {name: getattr(usage, name) for name in USAGE_FIELDS if name != "cost_pico"}
    cost = None if usage.unpriced_calls else usage.cost_pico / 10**12
    by_name = records.Figures(
        **counts, total_tokens=usage.input_tokens + usage.output_tokens, cost_usd=cost
    )
    assert records.figures(usage) == by_name
    record = records.one_cell_record(usage, model, operation, status="passed")
    assert msgspec.structs.asdict(record)["by_model"] == {model: by_name}
    assert record.by_operation[operation].by_model == {model: by_name}
    assert record.status == "passed"
    assert records.Figures(**records._fields(usage)) == by_name


@given(usages, st.text(), st.text())
def test_a_one_cell_records_breakdown_is_the_nested_encoding(
    usage: Usage, model: str, operation: str
) -> None:
    """``one_cell_record`` writes its ``by_operation`` JSON from its figures' own: byte for
    byte what encoding the nested records gives, whatever the names hold (quotes, controls)."""
    record = records.one_cell_record(usage, model, operation)
    figures = records.figures(usage)
    nested = {operation: records.OperationRecord(*records._values(usage), {model: figures})}
    assert bytes(record.operations) == records._encoder.encode(nested)
    assert record == records.make_record(usage, {model: usage}, nested)


@given(usages, usages)
def test_fast_construction_is_a_plain_usage(a: Usage, b: Usage) -> None:
    """``+`` and ``with_cost`` skip the dataclass ``__init__``: the result must not differ."""
    total = a + b
    expected = Usage(*(getattr(a, f) + getattr(b, f) for f in USAGE_FIELDS))
    assert total == expected
    assert hash(total) == hash(expected)
    assert repr(total) == repr(expected)
    assert dataclasses.asdict(total) == dataclasses.asdict(expected)
    assert dataclasses.replace(total, calls=1) == dataclasses.replace(expected, calls=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        total.calls = 0  # type: ignore[misc]
    priced = with_cost(a, 7, 1)
    assert priced == dataclasses.replace(a, cost_pico=7, unpriced_calls=1)
    made_fast = (total, priced, sums.from_counts(usage_counts(a)), sums.as_usage(sums.sums_of(b)))
    for made in made_fast:
        assert list(vars(made)) == list(USAGE_FIELDS)  # what the fast paths read


@given(usages)
def test_dict_round_trip_is_exact(usage: Usage) -> None:
    back = Usage.from_dict(json.loads(json.dumps(usage.to_dict())))
    if usage.unpriced_calls:
        assert back.cost_usd is None
        assert back == Usage(**{**usage.__dict__, "cost_pico": 0})
    else:
        assert back == usage


def test_total_is_input_plus_output() -> None:
    usage = make_usage(input_tokens=1200, output_tokens=300, cache_read_tokens=1000)
    assert usage.total_tokens == 1500
    assert usage.to_dict()["total_tokens"] == 1500
    assert usage.calls == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_tokens", -1),
        ("output_tokens", 1.5),
        ("cache_read_tokens", True),
        ("cache_write_tokens", "10"),
        ("reasoning_tokens", None),
    ],
)
def test_bad_counts_name_the_field(field: str, value: object) -> None:
    kwargs: dict[str, object] = {"input_tokens": 100, "output_tokens": 100, field: value}
    with pytest.raises(ValueError, match=field):
        make_usage(**kwargs)  # type: ignore[arg-type]


def test_cache_cannot_exceed_input_and_reasoning_cannot_exceed_output() -> None:
    with pytest.raises(ValueError, match="input_tokens counts all input"):
        make_usage(input_tokens=10, cache_read_tokens=8, cache_write_tokens=8)
    with pytest.raises(ValueError, match="output_tokens includes reasoning"):
        make_usage(output_tokens=10, reasoning_tokens=11)


def test_unpriced_cost_is_null_never_zero() -> None:
    priced = Usage(calls=1, cost_pico=5 * 10**9)
    unpriced = Usage(calls=1, unpriced_calls=1)
    assert priced.cost_usd == 0.005
    assert (priced + unpriced).cost_usd is None
    assert (priced + unpriced).priced_cost_usd == 0.005


@pytest.mark.parametrize(
    ("value", "pico"), [(0.001, 10**9), ("0.15", 15 * 10**10), (2, 2 * 10**12), (1e-12, 1)]
)
def test_usd_to_pico_is_exact(value: object, pico: int) -> None:
    assert usd_to_pico(value) == pico


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf"), True, "abc", None])
def test_usd_to_pico_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="cost_usd"):
        usd_to_pico(value)


def test_from_dict_rejects_inconsistent_totals() -> None:
    data = make_usage(input_tokens=1, output_tokens=1).to_dict()
    data["total_tokens"] = 3
    with pytest.raises(ValueError, match="total_tokens"):
        Usage.from_dict(data)
    data = make_usage(input_tokens=1).to_dict()
    data["input_tokens"] = -1
    with pytest.raises(ValueError, match="input_tokens"):
        Usage.from_dict(data)


@dataclasses.dataclass(frozen=True)
class _FrozenUsage:
    """What Usage was: a plain frozen dataclass of the same fields (the reference)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    calls: int = 0
    unpriced_calls: int = 0
    refused_calls: int = 0
    uncounted_calls: int = 0
    cost_pico: int = 0


@given(usages, usages)
def test_usage_behaves_as_the_frozen_dataclass_it_was(a: Usage, b: Usage) -> None:
    """Usage's methods are written out (defining them costs a run far less than the frozen
    dataclass decorator's): fields, repr, equality, hashing, replace, immutability as before."""
    ref_a, ref_b = (_FrozenUsage(**dataclasses.asdict(u)) for u in (a, b))
    assert [f.name for f in dataclasses.fields(Usage)] == list(USAGE_FIELDS)
    assert repr(a) == repr(ref_a).replace("_FrozenUsage(", "Usage(")
    assert (a == b) is (ref_a == ref_b)
    assert hash(a) == hash(ref_a)
    assert a == Usage(**dataclasses.asdict(a))
    assert a != ref_a
    assert a != tuple(dataclasses.astuple(a))
    assert dataclasses.replace(a, calls=3) == Usage(**{**dataclasses.asdict(a), "calls": 3})
    assert Usage(*dataclasses.astuple(a)) == a
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.calls = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del a.calls  # type: ignore[misc]
    with pytest.raises(TypeError):
        Usage(calls=1, tokens=2)  # type: ignore[call-arg]
