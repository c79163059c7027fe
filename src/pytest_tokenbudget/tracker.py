"""Per-test token accounting behind the ``token_tracker`` fixture.

A :class:`TokenTracker` keeps one test's usage (or one bucket's: ``<session>``,
``<fixture NAME>``); which tracker a call lands on is ``attribution.py``'s business. Operation
labels live in a context variable of the thread or task that opened them.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol

from . import sums
from .labels import OPERATION
from .sums import Known, Table, add_held, add_served, aliased, one_call
from .sums import cells_from_payload as cells_from_payload
from .sums import tracker_payload as tracker_payload
from .usage import (
    EMPTY,
    MAX_COUNT,
    NO_MODEL,
    NO_OPERATION,
    UNCOUNTED,
    Cell,
    Extracted,
    NoPrices,
    Part,
    Pricer,
    Usage,
    group,
    make_usage,
    priced_at,
    priced_call,
    usd_to_pico,
)

if TYPE_CHECKING:
    from .providers import Endpoint


class Admission(Protocol):
    """A request spend protection admitted: what it may still bill is reserved until then."""

    def settle(self, count: Callable[[], object]) -> None:
        """Count the reply (``count``) and release the reservation in one step."""

    def release(self) -> None:
        """The request ended without a reply to count."""


#: A parser of replies no provider recognised (request, read response): what it billed, or None.
ParseResponse = Callable[[Any, Any], "Extracted | None"]
#: Spend protection's check before a request: (tracker, endpoint, path, the request body).
BeforeRequest = Callable[
    ["TokenTracker", "Endpoint", str, Callable[[], "bytes | None"]], "Admission | None"
]


class Run(Protocol):
    """What every tracker of a run reads each time it counts (attribution.py's
    ``Attribution``, set by the plugin after the trackers of the run's start were made)."""

    #: Served or deployment names -> the model they are priced and grouped as.
    aliases: Mapping[str, str]
    #: Told of every record: (node id or bucket, what it counted); None: nobody listens.
    recorded: Callable[[str, Usage], None] | None


class TokenTracker:
    """Usage of one test (or of the session bucket), thread-safe, kept per
    :class:`~pytest_tokenbudget.usage.Cell` (model, operation) so that both breakdowns, and
    what grew in a regression, can be derived from one table."""

    def __init__(self, nodeid: str, pricer: Pricer | None = None, run: Run | None = None) -> None:
        self.nodeid = nodeid
        self._pricer: Pricer = pricer or NoPrices()
        self._run = run
        self._lock = threading.Lock()
        self._cells: Table = {}
        #: Flat rates of models priced before (``LazyPricer.flat``): record()'s price lookup.
        self._flat: dict[str, tuple[int, int, int, int] | None] = getattr(pricer, "flat", {})
        #: The Usage of calls priced from ``_flat`` before (``LazyPricer.calls``): reused.
        self._calls: Known = getattr(pricer, "calls", {})
        self._seen_ids: set[str] = set()
        #: Once its test ended: the tracker that gets what is recorded later, its note's maker.
        self._late: tuple[TokenTracker, Callable[[str], str], str] | None = None
        #: Notes for the summary (never ``warnings.warn``: suites run with filterwarnings=error).
        self.notes: dict[str, int] = {}
        #: Why calls could not be counted, and how many each time (the summary names the test).
        self.uncounted_reasons: dict[str, int] = {}
        #: Served model ids (before aliases), with the ``system_fingerprint``s: ``environment``.
        self.served: dict[str, set[str]] = {}
        #: Told of every usage counted (spend protection keeps the run's running total).
        self.listener: Callable[[Usage], None] | None = None

    # -- recording -------------------------------------------------------------------------
    def record(
        self,
        response: object = None,
        /,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        model: str | None = None,
        operation: str | None = None,
        response_id: str | None = None,
        cost_usd: float | None = None,
    ) -> Usage:
        """Record one call's usage; returns what was counted (empty when a duplicate).

        With ``response`` (an SDK response object or dict), usage, model and id are read from
        it; keyword figures are then not allowed, but ``model``/``operation`` may label it.
        """
        if (
            response is None
            and response_id is None
            and cost_usd is None
            and type(input_tokens)
            is type(output_tokens)
            is type(cache_read_tokens)
            is type(cache_write_tokens)
            is type(reasoning_tokens)
            is int
            and (cache_read_tokens | cache_write_tokens | reasoning_tokens) >= 0  # none negative
            and cache_read_tokens + cache_write_tokens <= input_tokens <= MAX_COUNT
            and reasoning_tokens <= output_tokens <= MAX_COUNT
            and (model is None or type(model) is str)
            and (operation is None or type(operation) is str)
        ):
            # the common record, valid as given: one part, no id to deduplicate, priced here
            run = self._run
            named = model
            if model is not None and run is not None and model in run.aliases:
                named = run.aliases[model]
            call = (
                named,
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_write_tokens,
                reasoning_tokens,
            )
            counted = self._calls.get(call)  # the same figures priced before: the same Usage
            if counted is None:
                rates = None if named is None else self._flat.get(named)
                if rates is None:
                    counted = priced_call(self._pricer, named, call[1:])
                else:  # a model priced before at flat rates
                    counted = one_call(self._calls, rates, call)
            key = (named or NO_MODEL, operation or OPERATION.get() or NO_OPERATION)
            lock = self._lock
            lock.acquire()  # not ``with``: its __enter__/__exit__ calls cost ~1k more a record
            try:
                ended = self._late is not None
                if not ended:
                    cells = self._cells
                    held = cells.get(key)
                    if type(held) is list:  # added in place: no Usage per call
                        held[0] += input_tokens
                        held[1] += output_tokens
                        if cache_read_tokens or cache_write_tokens or reasoning_tokens:
                            held[2] += cache_read_tokens
                            held[3] += cache_write_tokens
                            held[4] += reasoning_tokens
                        held[5] += 1
                        held[6] += counted.unpriced_calls
                        held[9] += counted.cost_pico
                    else:
                        add_held(cells, key, counted)
                    if model is not None and model not in self.served:  # as ``add_served``
                        self.served[model] = set()
            finally:
                lock.release()
            if not ended:
                if self.listener is not None:
                    self.listener(counted)
                if run is not None and run.recorded is not None:
                    run.recorded(self.nodeid, counted)
                return counted
            # its test ended meanwhile: the general path forwards it
        if response is not None:
            from .providers import extract

            given = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
            if any(given) or reasoning_tokens:
                raise ValueError(
                    "record(response) reads the token figures from the response; "
                    "do not pass input_tokens/output_tokens/... as well"
                )
            found = extract(response)
            if found is None:
                raise ValueError(
                    f"record() found no usage in {type(response).__name__} object: pass an "
                    "OpenAI/Anthropic response (or dict) with a `usage`, or give the figures "
                    "as input_tokens=..., output_tokens=..."
                )
            if model is not None:
                found = Extracted(
                    tuple(p._replace(model=model) for p in found.parts), found.response_id
                )
            cost = None if cost_usd is None else usd_to_pico(cost_usd)
            return self.add_extracted(
                found, operation=operation, response_id=response_id, cost_pico=cost
            )
        usage = make_usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
        )
        if model is not None and not isinstance(model, str):
            raise ValueError(f"model must be a string, got {model!r}")
        if operation is not None and not isinstance(operation, str):
            raise ValueError(f"operation must be a string, got {operation!r}")
        cost = None if cost_usd is None else usd_to_pico(cost_usd)
        return self.add_extracted(
            Extracted((Part(usage, model),)),
            operation=operation,
            response_id=response_id,
            cost_pico=cost,
        )

    def add_extracted(
        self,
        found: Extracted,
        *,
        operation: str | None = None,
        response_id: str | None = None,
        cost_pico: int | None = None,
    ) -> Usage:
        """Count one response: price each part, label it, deduplicate by response id.

        The single entry point for manual records and automatic capture alike. A response
        already counted in this test (same id) counts nothing and returns empty usage.
        """
        return self._add(found, operation, response_id, cost_pico, None)

    def _add(
        self,
        found: Extracted,
        operation: str | None,
        response_id: str | None,
        cost_pico: int | None,
        uncounted: str | None,
    ) -> Usage:
        """:meth:`add_extracted`; ``uncounted``: the reason of an uncounted call, kept with it
        (both here, or both forwarded once the test ended)."""
        op = operation or self.current_operation() or NO_OPERATION
        run = self._run
        named = found if run is None or not run.aliases else aliased(found, run.aliases)
        priced = [
            (Cell(part.model or NO_MODEL, op), self._priced(part, cost_pico))
            for part in named.parts
        ]
        rid = response_id or found.response_id
        # one part (the common case) is counted as is: no sum to build
        counted = priced[0][1] if len(priced) == 1 else sum((u for _, u in priced), EMPTY)
        with self._lock:
            late = self._late
            if late is None:
                if rid is not None:
                    if rid in self._seen_ids:
                        return EMPTY
                    self._seen_ids.add(rid)
                for key, usage in priced:
                    add_held(self._cells, key, usage)
                if uncounted is None:
                    add_served(self.served, found)
                else:
                    reasons = self.uncounted_reasons
                    reasons[uncounted] = reasons.get(uncounted, 0) + 1
        if late is not None:  # a thread of an ended test (or a reply that came after its end)
            target, note, about = late
            target.note(note(about))
            return target._add(found, op, response_id, cost_pico, uncounted)
        if self.listener is not None:
            self.listener(counted)
        if run is not None and run.recorded is not None:
            run.recorded(self.nodeid, counted)
        return counted

    def _priced(self, part: Part, cost_pico: int | None) -> Usage:
        usage = part.usage
        if cost_pico is None:
            cost_pico = part.billed_pico
        if cost_pico is None:
            cost_pico = self._pricer.cost_pico(
                part.model, usage, cache_write_1h_tokens=part.cache_write_1h_tokens
            )
        return priced_at(usage, cost_pico)

    def note(self, message: str) -> None:
        with self._lock:
            late = self._late
            if late is None:
                self.notes[message] = self.notes.get(message, 0) + 1
                return
        late[0].note(message)

    def end(self, late: TokenTracker, note: Callable[[str], str], about: str | None = None) -> None:
        """Its test ended (its figures are final): what is recorded later goes to ``late``,
        which gets ``note(about)`` each time (``about``: this tracker's test, by default)."""
        with self._lock:  # the note itself is made only if something comes late
            self._late = (late, note, self.nodeid if about is None else about)

    def absorb(self, other: TokenTracker) -> None:
        """Take all that ``other`` counted (a test's tracker made after the test's last report:
        what it counted came after the test ended)."""
        cells, served = other.cells(), other.served_models()
        with self._lock:
            for key, usage in cells.items():
                add_held(self._cells, key, usage)
            pairs = ((self.notes, other.notes), (self.uncounted_reasons, other.uncounted_reasons))
            for mine, theirs in pairs:
                for text, times in theirs.items():
                    mine[text] = mine.get(text, 0) + times
            for model, fingerprints in served.items():
                self.served.setdefault(model, set()).update(fingerprints)

    def refuse(self, model: str | None = None) -> None:
        """Count one request that enforcement refused to send."""
        self.add_extracted(Extracted((Part(Usage(refused_calls=1), model),)), cost_pico=0)

    def uncounted(
        self, reason: str, *, model: str | None = None, operation: str | None = None
    ) -> None:
        """Count one reply that capture recognised as an LLM call but could not read, and why
        (``reason``, for the summary): an uncounted call, never nothing and never a figure."""
        self._add(Extracted((Part(UNCOUNTED, model),)), operation, None, 0, reason)

    # -- operations ------------------------------------------------------------------------
    @contextmanager
    def operation(self, name: str) -> Iterator[None]:
        """Label everything recorded inside, automatic capture included."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"operation name must be a non-empty string, got {name!r}")
        token = OPERATION.set(name)
        try:
            yield
        finally:
            OPERATION.reset(token)

    def current_operation(self) -> str | None:
        """The caller's operation: the one its thread or task opened, or inherited."""
        return OPERATION.get()

    # -- tokenizer -------------------------------------------------------------------------
    def count(self, text: str, *, model: str | None = None, encoding: str | None = None) -> int:
        from .tokenizer import count_tokens

        return count_tokens(text, model=model, encoding=encoding)

    def record_text(
        self, text: str, *, model: str | None = None, operation: str | None = None
    ) -> Usage:
        """Count ``text`` with tiktoken and record it as one call's input."""
        tokens = self.count(text, model=model)
        return self.record(input_tokens=tokens, model=model, operation=operation)

    # -- reading ---------------------------------------------------------------------------
    def cells(self) -> dict[Cell, Usage]:
        with self._lock:
            return sums.read_cells(self._cells)

    def payload_cells(self) -> list[list[Any]]:  # model, operation, counts; sorted
        if not self._cells:  # nothing recorded (yet): nothing to hold the lock for
            return []
        with self._lock:
            return sums.payload_cells(self._cells)

    def served_models(self) -> dict[str, list[str]]:
        """The served model ids, each with its fingerprints (sorted)."""
        if not self.served:
            return {}
        with self._lock:
            return {model: sorted(fps) for model, fps in self.served.items()}

    @property
    def usage(self) -> Usage:
        with self._lock:
            return sums.total(self._cells.values())

    @property
    def by_model(self) -> dict[str, Usage]:
        return group(self.cells(), "model")

    @property
    def by_operation(self) -> dict[str, Usage]:
        return group(self.cells(), "operation")

    def __repr__(self) -> str:
        u = self.usage
        return f"<TokenTracker {self.nodeid} {u.total_tokens} tokens in {u.calls} calls>"
