"""The usage records of report and baseline files, as msgspec types (pure).

A 100,000-test report is about 157 MB of JSON. Decoding it into these frozen, untracked structs
validates every figure in C (a count is a non-negative int, never a bool or a float; a cost is a
non-negative number or null) at several times the speed of ``json.loads`` alone, and the gate
then works on them directly instead of building a :class:`~pytest_tokenbudget.usage.Usage` per
record. Each test's ``by_operation`` is kept as its raw JSON (syntax checked) and decoded when a
regression is explained; loading with ``check=True`` checks them all in one more C pass
(:func:`pytest_tokenbudget.fileformat.check_tests`).

No ``from __future__ import annotations`` here: msgspec reads these annotations at run time, on
every supported Python (``Optional``/``Union`` rather than ``X | Y`` for 3.9).
"""

from itertools import repeat
from operator import attrgetter, itemgetter, mul, sub
from typing import Annotated, Any, Dict, List, Mapping, Optional, Tuple, Union

import msgspec
from msgspec import UNSET, Raw, UnsetType

from .sums import total
from .usage import (
    COUNT_FIELDS,
    EMPTY,
    NO_MODEL,
    NO_OPERATION,
    PICO_PER_USD,
    TOKEN_FIELDS,
    Cell,
    Usage,
    group,
    usd_to_pico,
)

_COUNTS = TOKEN_FIELDS + COUNT_FIELDS
Count = Annotated[int, msgspec.Meta(ge=0)]
#: Samples kept per figure (the newest).
MAX_SAMPLES = 20
Dollars = Annotated[float, msgspec.Meta(ge=0)]


class Figures(msgspec.Struct, frozen=True, gc=False):
    """One usage record as the files store it (PRODUCT.md "Usage numbers").

    ``total_tokens`` and ``cost_usd`` may be absent in a hand-written file; when present,
    ``total_tokens`` must be input + output and a null ``cost_usd`` needs an unpriced call.
    """

    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0
    reasoning_tokens: Count = 0
    calls: Count = 0
    unpriced_calls: Count = 0
    refused_calls: Count = 0
    uncounted_calls: Count = 0
    total_tokens: Union[Count, UnsetType] = UNSET
    cost_usd: Union[Dollars, UnsetType, None] = UNSET

    def __post_init__(self) -> None:
        total = self.total_tokens
        if total is not UNSET and total != self.input_tokens + self.output_tokens:
            raise ValueError(
                f"total_tokens {total!r} != input_tokens + output_tokens "
                f"({self.input_tokens + self.output_tokens})"
            )
        if self.cost_usd is None and self.calls and not self.unpriced_calls:
            raise ValueError("cost_usd is null but unpriced_calls is 0")

    @property
    def cost_pico(self) -> int:
        """The recorded cost in picodollars (0 when null or absent)."""
        cost = self.cost_usd
        return 0 if cost is None or cost is UNSET else dollars_to_pico(cost)

    @property
    def usage(self) -> Usage:
        figures: Tuple[int, ...] = (*_counts_of(self), self.cost_pico)
        return Usage(*figures)


def _fields(usage: Usage) -> Dict[str, Any]:
    """``usage``'s record fields by name (:func:`_values`)."""
    return dict(zip(Figures.__struct_fields__, _values(usage)))


_counts_of = attrgetter(*_COUNTS)


#: A record's fields in :class:`Figures`' order: nine counts, the total, the cost in dollars.
Values = Tuple[int, int, int, int, int, int, int, int, int, int, Optional[float]]


#: A Usage's counts in :class:`Figures`' order, read from its instance dict (where Usage keeps
#: every figure): a quarter cheaper than reading them as attributes.
_dict_counts = itemgetter(*_COUNTS)


def _values(usage: Usage) -> Values:
    """``usage``'s record fields in :class:`Figures`' order, to pass by position (a record
    made from keywords costs twice as much): its counts, the total, and the cost in dollars
    (None while any call is unpriced)."""
    held = usage.__dict__
    cost = None if held["unpriced_calls"] else held["cost_pico"] / PICO_PER_USD
    total = held["input_tokens"] + held["output_tokens"]
    values: Values = (*_dict_counts(held), total, cost)
    return values


def figures(usage: Usage) -> Figures:
    """``usage`` as a file record."""
    return Figures(*_values(usage))


def dollars_to_pico(cost: float) -> int:
    """A file's float dollars as the integer picodollars they were written from."""
    if cost < 1e3:
        scaled = cost * PICO_PER_USD
        pico = round(scaled)
        if abs(scaled - pico) < 1e-3:  # clearly a whole picodollar: skip the Decimal round trip
            return pico
    return usd_to_pico(cost)


_cost_usd = attrgetter("cost_usd")


def total_cost_pico(records: "list[Figures]") -> int:
    """The records' recorded costs added up exactly, in picodollars.

    Whole picodollars (what the plugin writes) are summed by C-level maps; any other value
    goes through :func:`dollars_to_pico` one by one.
    """
    costs = [c for c in map(_cost_usd, records) if c]  # null, absent and 0 add nothing
    if not costs or max(costs) >= 1e3:
        return sum(map(dollars_to_pico, costs))
    scaled = list(map(mul, costs, repeat(float(PICO_PER_USD))))
    picos = list(map(round, scaled))
    if max(map(abs, map(sub, scaled, picos))) < 1e-3:
        return sum(picos)
    return sum(map(dollars_to_pico, costs))


class OperationRecord(Figures, frozen=True, gc=False):
    """Usage of one operation of one test, split by model."""

    by_model: Dict[str, Figures] = {}


_operations = msgspec.json.Decoder(Dict[str, OperationRecord])
_encoder = msgspec.json.Encoder(order="sorted")
#: A string as JSON (quoted and escaped).
_json_string = msgspec.json.encode


Number = Union[int, float]


class Violation(msgspec.Struct, frozen=True, gc=False):
    """One budget or regression violation (the report's ``violations``).

    The plugin writes every field; a hand-made file may leave the figures out.
    """

    kind: str
    message: str
    nodeid: Optional[str] = None
    metric: Union[str, UnsetType] = UNSET
    limit: Union[Number, UnsetType] = UNSET
    actual: Union[Number, UnsetType, None] = UNSET


class Samples(msgspec.Struct, frozen=True, gc=False):
    """A test's figures run by run (a baseline of several runs, a confirmed test): what the
    noise-aware gate judges. At most 20 of each, oldest first, ``n`` of each."""

    n: Count
    input_tokens: List[Count] = []
    output_tokens: List[Count] = []
    calls: List[Count] = []

    def __post_init__(self) -> None:
        if not 1 <= self.n <= MAX_SAMPLES:
            raise ValueError(f"samples n must be from 1 to {MAX_SAMPLES}, got {self.n}")
        for name in ("input_tokens", "output_tokens", "calls"):
            if len(getattr(self, name)) != self.n:
                raise ValueError(
                    f"samples {name} must hold n = {self.n} values, got {len(getattr(self, name))}"
                )

    def values(self) -> Dict[str, List[int]]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "calls": self.calls,
        }


def make_samples(runs: Mapping[str, List[int]]) -> "Union[Samples, UnsetType]":
    """``runs`` (figure -> values, oldest first) as a record's samples, the newest
    ``MAX_SAMPLES`` kept; UNSET for one sample (the record's own figures say it)."""
    kept = {
        name: list(runs[name])[-MAX_SAMPLES:] for name in ("input_tokens", "output_tokens", "calls")
    }
    n = len(kept["calls"])
    return UNSET if n < 2 else Samples(n, **kept)


def sample_values(rec: Figures) -> Dict[str, List[int]]:
    """A record's samples by figure (a test record of a report or a baseline); its own
    figures, one sample, when it has none."""
    samples = getattr(rec, "samples", UNSET)
    if isinstance(samples, Samples):
        return samples.values()
    return {
        "input_tokens": [rec.input_tokens],
        "output_tokens": [rec.output_tokens],
        "calls": [rec.calls],
    }


class BudgetRecord(msgspec.Struct, frozen=True, gc=False):
    """A test's limits, where each came from, and how the test stood against them."""

    limits: Dict[str, Number] = {}
    sources: Dict[str, str] = {}
    violations: List[Violation] = []
    near: List[str] = []
    note: Optional[str] = None


#: The per-operation breakdown of a test that recorded nothing, as its record holds it.
NO_OPERATIONS = Raw(b"{}")


class TestRecord(Figures, frozen=True, gc=False):
    """Usage of one test with the breakdowns that explain a regression.

    ``status`` and ``budget`` are a report's; a baseline's records leave them unset.
    """

    __test__ = False  # not a pytest test class

    by_model: Dict[str, Figures] = {}
    operations: Raw = msgspec.field(name="by_operation", default=NO_OPERATIONS)
    budget: Union["BudgetRecord", UnsetType, None] = UNSET
    status: Union[str, UnsetType, None] = UNSET
    samples: Union[Samples, UnsetType] = UNSET

    @property
    def by_operation(self) -> Dict[str, OperationRecord]:
        """The per-operation breakdown, decoded (ValueError naming the field when invalid)."""
        try:
            ops: Dict[str, OperationRecord] = _operations.decode(self.operations)
        except msgspec.DecodeError as exc:  # a ValueError only from msgspec 0.21 on
            raise ValueError(str(exc)) from None
        return ops

    def cells(self) -> Dict[Cell, Usage]:
        """(model, operation) -> usage; falls back to coarser data when breakdowns are absent."""
        out: Dict[Cell, Usage] = {}
        by_operation = self.by_operation
        if by_operation:
            for op, rec in by_operation.items():
                if rec.by_model:
                    for model, u in rec.by_model.items():
                        out[Cell(model, op)] = u.usage
                else:
                    out[Cell(NO_MODEL, op)] = rec.usage
        elif self.by_model:
            for model, u in self.by_model.items():
                out[Cell(model, NO_OPERATION)] = u.usage
        elif self.usage:
            out[Cell(NO_MODEL, NO_OPERATION)] = self.usage
        return out

    def for_baseline(self) -> "TestRecord":
        """This record without the report-only fields."""
        if self.status is UNSET and self.budget is UNSET:
            return self
        return msgspec.structs.replace(self, status=UNSET, budget=UNSET)


def make_operation(usage: Usage, by_model: Optional[Mapping[str, Usage]] = None) -> OperationRecord:
    models = {m: figures(u) for m, u in (by_model or {}).items()}
    return OperationRecord(*_values(usage), models)


def make_record(
    usage: Usage,
    by_model: Optional[Mapping[str, Usage]] = None,
    by_operation: Optional[Mapping[str, OperationRecord]] = None,
    *,
    status: Union[str, UnsetType, None] = UNSET,
    budget: Union[BudgetRecord, UnsetType, None] = UNSET,
) -> TestRecord:
    """A record built in memory (a merge of overlapping shards, a ``--stat`` baseline, tests)."""
    return TestRecord(
        **_fields(usage),
        by_model={m: figures(u) for m, u in (by_model or {}).items()},
        operations=Raw(_encoder.encode(dict(by_operation or {}))),
        budget=budget,
        status=status,
    )


def one_cell_record(
    usage: Usage,
    model: str,
    operation: str,
    *,
    status: Union[str, UnsetType, None] = UNSET,
    budget: Union[BudgetRecord, UnsetType, None] = UNSET,
) -> TestRecord:
    """:func:`make_record` of a test with one model in one operation (the common test): its
    figures read once, for the test, its model and its operation."""
    values = _values(usage)
    figures = Figures(*values)
    # its by_operation, {operation: OperationRecord(*values, {model: figures})}, written from
    # the figures' own sorted JSON ("by_model" sorts first): about half a nested encode's cost
    text = _encoder.encode(figures)
    name, label = _json_string(model), _json_string(operation)
    operations = b"".join((b"{", label, b':{"by_model":{', name, b":", text, b"},", text[1:], b"}"))
    return TestRecord(*values, {model: figures}, Raw(operations), budget, status)


#: The record of a test that recorded nothing, by status (a frozen value: shared).
_EMPTY_RECORDS: Dict[str, TestRecord] = {}


def test_record(
    cells: Mapping[Cell, Usage], status: str, budget: Optional[Mapping[str, Any]]
) -> TestRecord:
    """The record of a test of the run (``run.TestUsage``): its usage by model and operation,
    its status and its budget as shipped (built-in types)."""
    if not cells and budget is None:  # recorded nothing (most tests of a run that records)
        found = _EMPTY_RECORDS.get(status)
        if found is None:
            found = _EMPTY_RECORDS[status] = make_record(EMPTY, status=status, budget=None)
        return found
    converted = None if budget is None else msgspec.convert(budget, BudgetRecord)
    if len(cells) == 1:  # one model in one operation (the common test): nothing to group
        ((cell, usage),) = cells.items()
        return one_cell_record(usage, cell.model, cell.operation, status=status, budget=converted)
    by_operation = {
        op: make_operation(
            op_usage, {key.model: u for key, u in cells.items() if key.operation == op}
        )
        for op, op_usage in group(cells, "operation").items()
    }
    usage = total(cells.values())
    return make_record(usage, group(cells, "model"), by_operation, status=status, budget=converted)
