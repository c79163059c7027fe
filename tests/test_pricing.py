from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tokenbudget.pricing import (
    RATE_KEYS,
    PriceTable,
    cache_savings,
    describe,
    load_pricer,
    load_table,
    usd_per_mtok_to_pico,
)
from pytest_tokenbudget.tracker import TokenTracker
from pytest_tokenbudget.usage import Usage, make_usage

PICO = 10**12


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_pricer(use_genai_prices=False)


def usd(pico: int | None) -> Decimal | None:
    return None if pico is None else Decimal(pico) / PICO


def test_table_is_dated_and_reports_its_source(table: PriceTable) -> None:
    assert table.version == "2026-11-30"
    assert table.source == "pytest-tokenbudget"
    for model in (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1-nano",
        "gpt-5-mini",
        "o4-mini",
        "o1",
        "text-embedding-3-small",
        "claude-opus-4-1",
        "claude-3-5-haiku",
        "claude-sonnet-4-5",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
    ):
        assert table.resolve(model) == model


def test_openai_cached_input(table: PriceTable) -> None:
    # prompt_tokens 10,000 of which cached 4,000; completion 500. gpt-4o: $2.50 / $1.25 / $10.
    usage = make_usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=500)
    # 6,000 x 2.5 + 4,000 x 1.25 + 500 x 10 = 15,000 + 5,000 + 5,000 micro-dollars
    assert usd(table.cost_pico("gpt-4o-2024-08-06", usage)) == Decimal("0.025")


def test_reasoning_tokens_are_output(table: PriceTable) -> None:
    usage = make_usage(input_tokens=1_000, output_tokens=3_000, reasoning_tokens=2_500)
    # o3-mini $1.10 in, $4.40 out: 1,100 + 13,200 micro-dollars
    assert usd(table.cost_pico("o3-mini-2025-01-31", usage)) == Decimal("0.0143")


def test_anthropic_cache_read_5m_and_1h_writes(table: PriceTable) -> None:
    # Anthropic: input_tokens 100, cache_read 5,000, cache_creation 3,000 (1,000 of it 1-hour)
    usage = make_usage(
        input_tokens=100 + 5_000 + 3_000,
        cache_read_tokens=5_000,
        cache_write_tokens=3_000,
        output_tokens=200,
    )
    cost = table.cost_pico("claude-sonnet-4-20250514", usage, cache_write_1h_tokens=1_000)
    # 100 x 3 + 5,000 x 0.30 + 2,000 x 3.75 + 1,000 x 6 + 200 x 15 = 18,300 micro-dollars
    assert usd(cost) == Decimal("0.0183")
    all_5m = table.cost_pico("claude-sonnet-4-20250514", usage)
    assert usd(all_5m) == Decimal("0.0183") - Decimal("0.00225")  # 1,000 x (6 - 3.75)


def test_long_context_rates_apply_to_the_whole_call(table: PriceTable) -> None:
    short = make_usage(input_tokens=200_000, output_tokens=1_000)
    long = make_usage(input_tokens=250_000, output_tokens=1_000)
    assert usd(table.cost_pico("claude-sonnet-4-5", short)) == Decimal("0.615")  # 3 / 15
    assert usd(table.cost_pico("claude-sonnet-4-5", long)) == Decimal("1.5225")  # 6 / 22.5


def test_embeddings_price_input_only(table: PriceTable) -> None:
    usage = make_usage(input_tokens=1_000_000)
    assert usd(table.cost_pico("text-embedding-3-small", usage)) == Decimal("0.02")
    assert table.cost_pico("text-embedding-3-small", make_usage(output_tokens=1)) is None


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # its own (older, dearer) entry
        ("gpt-4o-2024-11-20", "gpt-4o"),
        ("GPT-4o-Mini", "gpt-4o-mini"),
        ("openai/gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("o1-mini-2024-09-12", "o1-mini"),
        ("o1-2024-12-17", "o1"),
        ("gpt-5-pro-2025-10-06", "gpt-5-pro"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-haiku-4-5@20251001", "claude-haiku-4-5"),
        ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("gpt-4-0613", "gpt-4"),
        # Bedrock: region and vendor prefixes, version suffixes
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("apac.amazon.nova-pro-v1:0", "nova-pro"),
        ("amazon.nova-micro-v1:0", "nova-micro"),
        ("arn:aws:bedrock:us-east-1:1:inference-profile/us.amazon.nova-lite-v1:0", "nova-lite"),
        ("deepseek-chat", "deepseek-chat"),
        ("llama-3.3-70b-versatile", "llama-3.3-70b-versatile"),
    ],
)
def test_dated_ids_resolve_to_the_longest_family(table: PriceTable, model: str, entry: str) -> None:
    assert table.resolve(model) == entry


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-9",  # a newer version is not its older family
        "gpt-5.9",  # "." is no separator: not gpt-5
        "gpt-4o2",
        "ft:gpt-4o-mini:acme::abc123",  # fine-tuned models cost more
        "mistral-large-latest",  # which release it points at changes
        "us.anthropic.claude-opus-4-9-v1:0",
        "anthropic.titan-text-express-v1",  # a vendor prefix alone prices nothing
        "",
    ],
)
def test_unknown_models_are_unpriced_never_zero(table: PriceTable, model: str) -> None:
    assert table.resolve(model) is None
    assert table.cost_pico(model, make_usage(input_tokens=10, output_tokens=10)) is None


def test_no_model_is_unpriced(table: PriceTable) -> None:
    assert table.cost_pico(None, make_usage(input_tokens=1)) is None


def test_missing_cache_rate_makes_the_call_unpriced(table: PriceTable) -> None:
    # o1-pro has no cached-input price: cache reads on it are not guessed at the input rate
    assert table.cost_pico("o1-pro", make_usage(input_tokens=10, cache_read_tokens=5)) is None
    assert table.cost_pico("o1-pro", make_usage(input_tokens=10)) == 10 * 150_000_000
    # OpenAI bills cache writes as plain input
    write = make_usage(input_tokens=1_000, cache_write_tokens=1_000)
    assert table.cost_pico("gpt-4.1", write) == table.cost_pico(
        "gpt-4.1", make_usage(input_tokens=1_000)
    )
    # 1-hour writes need the Anthropic-only rate
    assert table.cost_pico("gpt-4.1", write, cache_write_1h_tokens=10) is None


def test_overrides_replace_and_add(table: PriceTable) -> None:
    pricer = load_pricer(
        {
            "gpt-4o": {"input": 2, "cache_read": "0.5"},
            "acme-llm": {"input": 1, "output": 4},
            "claude-sonnet-4-5": {"input": 2},
        },
        use_genai_prices=False,
    )
    assert pricer.source == "pytest-tokenbudget+config"
    usage = make_usage(input_tokens=1_000_000, cache_read_tokens=500_000, output_tokens=1_000_000)
    # gpt-4o: 0.5M x 2 + 0.5M x 0.5 + 1M x 10 (output kept from the table)
    assert usd(pricer.cost_pico("gpt-4o-2024-08-06", usage)) == Decimal("11.25")
    assert usd(pricer.cost_pico("acme-llm-2026-01-01", make_usage(input_tokens=10**6))) == 1
    # an overridden entry is flat: no long-context tier from the table
    long = make_usage(input_tokens=1_000_000)
    assert usd(pricer.cost_pico("claude-sonnet-4-5", long)) == 2
    # the table itself is unchanged
    assert usd(table.cost_pico("gpt-4o", make_usage(input_tokens=10**6))) == Decimal("2.5")


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"inptu": 1}, r"unknown price key 'inptu' for model 'm' \(value 1\)"),
        ({"input": "abc"}, r"model 'm' key 'input'.*'abc'"),
        ({"input": -1}, r"model 'm' key 'input'.*-1"),
        ({"input": True}, r"model 'm' key 'input'.*True"),
        ({"output": float("nan")}, r"model 'm' key 'output'.*nan"),
        ({"input": 0.0000001}, r"model 'm' key 'input'.*6 decimal places"),
        ({}, r"model 'm' give no rate"),
        ("cheap", r"prices for model 'm' must be a table"),
        ({"long_context": {"above_input_tokens": 1}}, r"unknown price key 'long_context'"),
    ],
)
def test_bad_overrides_name_model_key_and_value(entry: object, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        load_pricer({"m": entry}, use_genai_prices=False)  # type: ignore[dict-item]
    assert "[tool.tokenbudget.prices]" in str(info.value)


def test_usd_per_million_is_exact_integer_pico() -> None:
    assert usd_per_mtok_to_pico(0.075, where="x") == 75_000
    assert usd_per_mtok_to_pico("0.000001", where="x") == 1
    assert usd_per_mtok_to_pico(150, where="x") == 150_000_000


@given(
    st.sampled_from(sorted(load_table().models)),
    st.sampled_from(["", "-2024-08-06", "@001", ":free", "-3"]),
    st.integers(0, 300_000),
    st.integers(0, 5_000),
)
def test_the_shipped_table_parsed_on_read_prices_as_parsed_at_once(
    name: str, suffix: str, input_tokens: int, output_tokens: int
) -> None:
    """The shipped table's entries are parsed when first read (a run prices a few models):
    a table of them all parsed up front, in another order, prices every id the same."""
    lazy = PriceTable(load_table().models, version="v")
    eager = PriceTable(dict(reversed(list(load_table().models.items()))), version="v")
    usage = make_usage(input_tokens=input_tokens, output_tokens=output_tokens, calls=1)
    model = name + suffix
    assert lazy.cost_pico(model, usage) == eager.cost_pico(model, usage)
    assert lazy.rates(model) == eager.rates(model)
    assert (lazy.rates(model) is None) is (lazy.resolve(model) is None)


def test_every_table_entry_is_well_formed() -> None:
    data = load_table()
    assert len(data.models) > 50
    for name, rates in data.models.items():
        assert name == name.lower(), name  # a PriceTable keeps the shipped names as they are
        assert rates.input is not None, name
        providers = {"openai", "anthropic", "google", "deepseek", "mistral", "groq", "bedrock"}
        assert data.providers[name] in providers, name
        if data.providers[name] == "anthropic":
            assert rates.cache_read is not None, name
            assert rates.cache_write_1h is not None, name
            assert rates.cache_write_1h == 2 * rates.input, name
        if rates.cache_read is not None:
            assert rates.cache_read < rates.input, name


def test_tracker_uses_the_pricer(table: PriceTable) -> None:
    tracker = TokenTracker("t", table)
    tracker.record(input_tokens=1_000_000, output_tokens=0, model="gpt-4o-mini-2024-07-18")
    tracker.record(input_tokens=5, model="who-knows")
    assert tracker.by_model["gpt-4o-mini-2024-07-18"].cost_usd == pytest.approx(0.15)
    assert tracker.usage.unpriced_calls == 1
    assert tracker.usage.cost_usd is None


def test_cache_savings_over_the_whole_run_net_of_cache_writes(table: PriceTable) -> None:
    by_model = {
        # gpt-4o: 400k of 1M input read from cache at $1.25/M instead of $2.50/M: $0.50 saved
        "gpt-4o": make_usage(input_tokens=1_000_000, cache_read_tokens=400_000),
        # claude-3-5-haiku: 1,000 reads at $0.08/M instead of $0.80/M save $0.00072; 8,000
        # writes at $1.00/M instead of $0.80/M cost $0.0016 more
        "claude-3-5-haiku": make_usage(
            input_tokens=10_000, cache_read_tokens=1_000, cache_write_tokens=8_000
        ),
        "gpt-4.1": make_usage(input_tokens=100),  # no cache, but part of the run's input cost
    }
    saved = cache_savings(table, by_model)
    assert saved is not None
    assert usd(saved.reads_saved_pico) == Decimal("0.50072")
    assert usd(saved.writes_extra_pico) == Decimal("0.0016")
    assert usd(saved.saved_pico) == Decimal("0.49912")
    # the whole run's input uncached: 2.50 + 0.008 + 0.0002
    assert usd(saved.input_cost_uncached_pico) == Decimal("2.5082")
    assert saved.note() == (
        "prompt caching saved $0.49912 net (cache reads saved $0.50072, cache writes cost "
        "$0.0016 extra; 19.9% of the run's input cost without caching)"
    )

    haiku_writes = make_usage(input_tokens=10_000, cache_write_tokens=8_000)
    writes_only = cache_savings(table, {"claude-3-5-haiku": haiku_writes})
    assert writes_only is not None
    assert writes_only.note() == (
        "prompt caching cost $0.0016 more than no caching (cache writes cost $0.0016 extra; "
        "20.0% of the run's input cost without caching)"
    )
    reads_only = cache_savings(
        table, {"gpt-4o": by_model["gpt-4o"], "mystery": make_usage(input_tokens=1)}
    )
    assert reads_only is not None
    assert reads_only.note() == "prompt caching saved $0.50"  # mystery: the run's share unknown
    # a model that used the cache and has no price: no figure for part of the run
    unpriced = make_usage(input_tokens=10, cache_read_tokens=5)
    assert cache_savings(table, {**by_model, "mystery": unpriced}) is None
    nothing = cache_savings(table, {"gpt-4.1": by_model["gpt-4.1"]})
    assert nothing is not None
    assert nothing.note() is None


def test_describe(table: PriceTable) -> None:
    assert describe(table.rates("gpt-4o")) == (
        "$2.5/M input, $10/M output, $1.25/M cache read, $2.5/M cache write"
    )
    assert describe(None) == "unpriced"


def test_lookup_results_are_cached(table: PriceTable) -> None:
    table.resolve("gpt-4o-mini-2099-01-01")
    assert table._resolved["gpt-4o-mini-2099-01-01"] == "gpt-4o-mini"


counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def usages(draw: st.DrawFn) -> tuple[Usage, int]:
    read, write, plain, out = draw(counts), draw(counts), draw(counts), draw(counts)
    one_hour = draw(st.integers(min_value=0, max_value=write))
    usage = make_usage(
        input_tokens=read + write + plain,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=out,
    )
    return usage, one_hour


@given(usages(), st.sampled_from(["claude-opus-4-1", "claude-3-haiku", "claude-haiku-4-5"]))
def test_cost_is_the_sum_of_its_parts_exactly(case: tuple[Usage, int], model: str) -> None:
    usage, one_hour = case
    table = load_pricer(use_genai_prices=False)
    rates = table.models[model]
    mtok = {k: Decimal(getattr(rates, k)) / 10**6 for k in RATE_KEYS}  # USD per million
    expected = (
        (usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens) * mtok["input"]
        + usage.cache_read_tokens * mtok["cache_read"]
        + (usage.cache_write_tokens - one_hour) * mtok["cache_write"]
        + one_hour * mtok["cache_write_1h"]
        + usage.output_tokens * mtok["output"]
    ) / 10**6
    cost = table.cost_pico(model, usage, cache_write_1h_tokens=one_hour)
    assert cost is not None
    assert usd(cost) == expected


@given(st.lists(usages(), min_size=1, max_size=8))
def test_costs_add_up_whatever_the_grouping(cases: list[tuple[Usage, int]]) -> None:
    table = load_pricer(use_genai_prices=False)
    parts = [table.cost_pico("gpt-4.1-mini", u) for u, _ in cases]
    whole = table.cost_pico("gpt-4.1-mini", sum((u for u, _ in cases), Usage()))
    assert whole == sum(p for p in parts if p is not None)


def test_an_old_price_table_is_named_in_a_note() -> None:
    from datetime import date

    from pytest_tokenbudget.pricing import staleness_note

    assert staleness_note("2026-11-23", date(2027, 5, 1)) is None  # 159 days
    note = staleness_note("2026-11-23; genai-prices 0.2.3", date(2027, 6, 1))
    assert note is not None
    assert note.startswith("price table dated 2026-11-23 is 190 days old")
    assert staleness_note("custom", date(2030, 1, 1)) is None
