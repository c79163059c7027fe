"""The run's report: one typed model that the plugin builds, the files store and every view reads.

The plugin's accounting builds a :class:`Report` at the end of a run; the JSON file is that
object encoded, ``load_report`` decodes a file back into it, and the terminal summary, Markdown,
HTML, ``tokenbudget report`` and the GitHub Action all render from it. The baseline comparison is
stored in it as a :class:`ComparisonRecord`, so a comparison can be shown again from a report file
without the baseline.

No ``from __future__ import annotations`` here: msgspec reads these annotations at run time, on
every supported Python (``Optional``/``Union`` rather than ``X | Y`` for 3.9).
"""

from itertools import compress, repeat
from operator import attrgetter
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

import msgspec
from msgspec import UNSET, UnsetType

from .buckets import is_bucket
from .environment import Environment
from .records import NO_OPERATIONS, Figures, Number, TestRecord, Violation, total_cost_pico
from .usage import COUNT_FIELDS, TOKEN_FIELDS, Usage, used

T = TypeVar("T")

REPORT_SCHEMA = "pytest-tokenbudget/report@1"
BASELINE_SCHEMA = "pytest-tokenbudget/baseline@1"

__all__ = [
    "BASELINE_SCHEMA",
    "REPORT_SCHEMA",
    "BaselineDoc",
    "ChangeRecord",
    "ComparisonRecord",
    "Counts",
    "Projection",
    "Recorded",
    "Report",
    "TestVerdict",
    "TotalRecord",
    "breakdown",
    "buckets",
    "counts",
    "ranked",
    "sum_counts",
    "sum_figures",
    "tests_only",
    "tests_with_usage",
]


class Projection(msgspec.Struct, frozen=True, gc=False):
    """A cost figure projected to a month of ``runs_per_month`` runs, at the run's price table.

    ``cost_usd`` is the month's cost (null where a call is unpriced: never $0); on a compared
    test and the comparison's total, ``change_usd`` is the month's change against the baseline
    (negative: a saving; null where either side has an unpriced call).
    """

    runs_per_month: int
    cost_usd: Optional[float] = None
    change_usd: Union[float, UnsetType, None] = UNSET


class ChangeRecord(msgspec.Struct, gc=False):
    """One test's figure on both sides of a comparison and, for a regression, what grew."""

    nodeid: str
    #: The figure compared (one of the rule's metrics; absent in reports of earlier versions).
    metric: Optional[str] = None
    before: Optional[Number] = None
    after: Optional[Number] = None
    change_pct: Optional[float] = None
    before_usage: Figures = msgspec.field(default_factory=Figures)
    after_usage: Figures = msgspec.field(default_factory=Figures)
    saved_tokens: int = 0
    saved_usd: Optional[float] = None
    details: List[str] = []
    message: str = ""
    #: Its cost and change projected to a month (``runs_per_month`` set; absent otherwise).
    projection: Union[Projection, UnsetType] = UNSET


class TotalRecord(ChangeRecord, gc=False):
    """The change of the tests present on both sides, judged as a whole."""

    regressed: bool = False


class TestVerdict(msgspec.Struct, frozen=True, gc=False):
    """A test's verdict in a comparison: ``regressed``, ``inconclusive``, ``improved``,
    ``unchanged``, ``new`` or ``missing``."""

    __test__ = False  # not a pytest test class

    verdict: str
    #: This run's cost of the test projected to a month (``runs_per_month`` set; absent for a
    #: test missing from this run, and without the setting).
    projection: Union[Projection, UnsetType] = UNSET


class Recorded(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """When a baseline was recorded, for the pull-request comment's footer: the commit
    (``$GITHUB_SHA`` where known), the date and how many runs it was made of."""

    commit: Optional[str] = None
    date: Optional[str] = None
    runs: Optional[int] = None


class ComparisonRecord(msgspec.Struct, gc=False):
    """A run compared with the baseline: the report's ``baseline`` section."""

    metric: str = "total_tokens"
    regression: float = 0.1
    regression_min_tokens: int = 0
    rule: str = ""
    costs: str = "recorded"
    regressed: bool = False
    total: TotalRecord = msgspec.field(default_factory=lambda: TotalRecord("(total)"))
    baseline_totals: Figures = msgspec.field(default_factory=Figures)
    current_totals: Figures = msgspec.field(default_factory=Figures)
    regressions: List[ChangeRecord] = []
    #: Tests past the rule whose growth is within the baseline's noise: shown, never failing.
    inconclusive: List[ChangeRecord] = []
    improvements: List[ChangeRecord] = []
    new: List[str] = []
    missing: List[str] = []
    saved_tokens: int = 0
    saved_usd: Optional[float] = None
    unpriced: List[str] = []
    #: The baseline file compared with (set by the plugin; absent when recomputed by a command).
    path: Union[str, UnsetType] = UNSET
    #: When that baseline was recorded, where its file says.
    recorded: Union[Recorded, UnsetType] = UNSET
    #: Every figure the rule judged (``metric`` is the first).
    metrics: List[str] = []
    #: Re-runs a test that looked regressed was allowed (``--tokenbudget-confirm``).
    confirm: int = 0
    #: Each test's verdict by node id.
    tests: Dict[str, TestVerdict] = {}
    #: What changed in the environment since the baseline was recorded (``environment.changes``).
    environment: List[str] = []


class Report(msgspec.Struct, dict=True, tag_field="schema", tag=REPORT_SCHEMA):
    """A run's machine report (``--tokenbudget-json``).

    ``path`` (not stored) is the file it was read from, for messages; None when built in memory.
    """

    tests: Dict[str, TestRecord]
    totals: Figures = msgspec.field(default_factory=Figures)
    created: Optional[str] = None
    baseline: Optional[ComparisonRecord] = None
    violations: List[Violation] = []
    pricing: Dict[str, Any] = {}
    passed: bool = True
    notes: List[str] = []
    #: What could explain a change that is not ours (served models, SDK versions, prices).
    environment: Union[Environment, UnsetType] = UNSET
    #: The run's cost projected to a month (``runs_per_month`` set; absent otherwise).
    projection: Union[Projection, UnsetType] = UNSET

    def __post_init__(self) -> None:
        self.path: Optional[str] = None

    @property
    def usage(self) -> Usage:
        """The run's totals as a Usage."""
        return self.totals.usage


class BaselineDoc(msgspec.Struct, gc=False, tag_field="schema", tag=BASELINE_SCHEMA):
    """A baseline file: the usage stored for the main branch, test by test."""

    tests: Dict[str, TestRecord]
    totals: Union[Figures, UnsetType] = UNSET
    recorded: Union[Recorded, UnsetType] = UNSET
    environment: Union[Environment, UnsetType] = UNSET


_COUNTS = [(name, attrgetter(name)) for name in TOKEN_FIELDS + COUNT_FIELDS]


def sum_counts(records: Sequence[Figures]) -> Dict[str, int]:
    """The records' token and call counts added up, by field (C-level maps: 100,000 records)."""
    return {name: sum(map(get, records)) for name, get in _COUNTS}


def sum_figures(records: Iterable[Figures]) -> Usage:
    """Exact sum of file records (their recorded costs), without a Usage per record."""
    items = records if isinstance(records, list) else list(records)
    return Usage(**sum_counts(items), cost_pico=total_cost_pico(items))


def tests_only(tests: Mapping[str, T]) -> Mapping[str, T]:
    """``tests`` without its buckets (``<session>``, ``<fixture NAME>``, ...): what is compared
    with a baseline, counted and ranked as tests. The same mapping when it holds none."""
    # at C speed (100,000 tests): only the ids starting with "<" are looked at
    found = [n for n in compress(tests, map(str.startswith, tests, repeat("<"))) if is_bucket(n)]
    if not found:
        return tests
    out = dict(tests)
    for nodeid in found:
        del out[nodeid]
    return out


def buckets(tests: Mapping[str, TestRecord]) -> List[Tuple[str, TestRecord]]:
    """The run's buckets (usage in its totals that is no test's figure), by name; only the
    ids starting with "<" are looked at (at C speed, as :func:`tests_only`)."""
    named = compress(tests, map(str.startswith, tests, repeat("<")))
    return sorted((n, tests[n]) for n in named if is_bucket(n))


def tests_with_usage(tests: Mapping[str, TestRecord]) -> List[Tuple[str, TestRecord]]:
    """The real tests (no bucket) that used tokens or made calls (counted or not), biggest
    first."""
    rows = [(nodeid, rec) for nodeid, rec in tests_only(tests).items() if used(rec)]
    rows.sort(key=lambda kv: (-(kv[1].input_tokens + kv[1].output_tokens), kv[0]))
    return rows


def breakdown(tests: Mapping[str, TestRecord], by: str) -> Dict[str, Usage]:
    """The run's usage per model (``by="model"``) or per operation (``by="operation"``)."""
    found: Dict[str, List[Figures]] = {}
    table: Mapping[str, Figures]
    for rec in tests.values():
        if by == "model":
            table = rec.by_model
        elif rec.operations == NO_OPERATIONS:  # nothing to decode (a test that recorded nothing)
            continue
        else:
            table = rec.by_operation
        for name, figures in table.items():
            found.setdefault(name, []).append(figures)
    return {name: sum_figures(records) for name, records in found.items()}


def ranked(rows: Mapping[str, Usage]) -> List[Tuple[str, Usage]]:
    """``rows`` biggest first by total tokens, then by name."""
    return sorted(rows.items(), key=lambda kv: (-kv[1].total_tokens, kv[0]))


class Counts(msgspec.Struct, frozen=True, gc=False):
    """How a run stands, counted in one place for every view (the Markdown report and the
    pull-request comment, the Action's outputs, the terminal): the same numbers everywhere.

    Tests only, never a bucket (``<session>``): ``regressed`` is the number of tests that
    regressed; :attr:`regressions` adds the total of the tests on both sides when it regressed
    too (the gate's "3 regressions (2 tests and the total)", the Action's ``regressions``).
    """

    tests: int
    compared: bool = False
    regressed: int = 0
    #: Tests past the rule whose growth is within the baseline's noise (never failing).
    inconclusive: int = 0
    improved: int = 0
    unchanged: int = 0
    new: int = 0
    missing: int = 0
    #: Tests over a budget, or refused a request by one (a test over several counts once).
    over_budget: int = 0
    run_over_budget: bool = False
    total_regressed: bool = False
    #: The regressions were accepted into the baseline (a run that updated it): shown, not failing.
    accepted: bool = False
    #: Entries in the report's ``violations`` (the Action's ``violations`` output).
    violations: int = 0

    @property
    def regressions(self) -> int:
        """Regressions found: the tests that regressed, and the total when it did."""
        return self.regressed + (1 if self.total_regressed else 0)

    @property
    def changed(self) -> bool:
        """Tests moved against the baseline: regressed, inconclusive, improved, new or missing."""
        return bool(
            self.regressed or self.inconclusive or self.improved or self.new or self.missing
        )


def counts(report: Report) -> Counts:
    """The :class:`Counts` of ``report`` (its own comparison with the baseline, if any)."""
    real = tests_only(report.tests)  # buckets are no test: never counted as one
    violations = report.violations
    over = {v.nodeid for v in violations if v.kind != "regression" and v.nodeid is not None}
    run_over = any(v.kind == "run_budget" and not v.nodeid for v in violations)
    comparison = report.baseline
    if comparison is None:
        return Counts(
            len(real), over_budget=len(over), run_over_budget=run_over, violations=len(violations)
        )
    moved = {c.nodeid for c in comparison.regressions}
    moved.update(c.nodeid for c in comparison.inconclusive)
    moved.update(c.nodeid for c in comparison.improvements)
    new = {n for n in comparison.new if not is_bucket(n)}  # a report of an earlier version
    failing = any(v.kind == "regression" for v in violations)
    return Counts(
        len(real),
        compared=True,
        regressed=len(comparison.regressions),
        inconclusive=len(comparison.inconclusive),
        improved=len(comparison.improvements),
        unchanged=sum(1 for n in real if n not in new and n not in moved),
        new=len(new),
        missing=sum(1 for n in comparison.missing if not is_bucket(n)),
        over_budget=len(over),
        run_over_budget=run_over,
        total_regressed=comparison.total.regressed,
        accepted=comparison.regressed and not failing,
        violations=len(violations),
    )
