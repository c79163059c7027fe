"""Spend protection: refuse an LLM request once the test or the run reached a budget (no pytest).

Capture calls :meth:`SpendGuard.before_request` before each request it recognises, in the
thread that sends it; raising :class:`~pytest_tokenbudget.gate.budget.BudgetExceeded` there
stops the request. Each test's first refusal is kept until the test ends, when the plugin fails
the test with it even if the test's code caught it. Under xdist the run budget is shared by the
workers while they run: each worker publishes its running total to a file in a folder the
controller made (:class:`SharedTotals`), and adds up the others' files before each request. A
worker reads totals that are at most one response old, so at most one request in flight per
worker can pass the limit.

Requests in flight count: admitting a request reserves what it may still bill (one call, its
declared output cap, its input counted locally where the model's tokenizer is known, priced
where it can be), in the same locked step as the check; the reservation is released when its
reply is counted (under the same lock) or when the request ends without one. A new request is
sent only while spent plus reserved stays under each limit, so ``max_calls`` is never passed
and a token or cost limit by at most one request when every request declares its size.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Mapping

from .attribution import ATTRIBUTION
from .gate.budget import BudgetExceeded, Limits, reached
from .tracker import TokenTracker
from .usage import EMPTY, USAGE_FIELDS, Usage, usage_counts

if TYPE_CHECKING:  # the providers load with the first HTTP client capture patches
    from .providers import Endpoint

#: A published running total is a few hundred bytes; a bigger file is not one.
MAX_TOTAL_BYTES = 4096


class SharedTotals:
    """The running totals of all xdist workers, one small file per worker.

    Never raises into a test: while the folder or a file is missing, unreadable or holds
    garbage, the run budget is checked against what could be read (this worker's own total,
    and the other workers' totals as last read: totals only grow, so they stay a lower bound),
    and the run gets one note from this worker naming why. A vanished folder is not made
    again: in a shared temp folder that is the controller's to make, and the other workers'
    files in it are gone anyway.
    """

    def __init__(self, folder: str, worker_id: str) -> None:
        self.folder = folder
        self.worker_id = worker_id
        self.own = f"{worker_id}.json"
        self._path = os.path.join(folder, self.own)
        #: The other workers' totals as last read, by file name.
        self._others: dict[str, Usage] = {}
        #: Why the shared totals failed first (the note), None while they never did.
        self.trouble: str | None = None
        self._lock = threading.Lock()

    def publish(self, usage: Usage) -> None:
        from .atomicfile import write_atomic

        try:
            if not os.path.isdir(self.folder):  # write_atomic would make it again
                raise FileNotFoundError(errno.ENOENT, "no such folder", self.folder)
            write_atomic(self._path, json.dumps(usage_counts(usage)), durable=False)
        except OSError as exc:
            self._degrade("could not publish its running total", exc)

    def total(self, own: Usage) -> Usage:
        others = dict(self._others)  # a copy: requests in other threads read at the same time
        try:
            with os.scandir(self.folder) as entries:
                names = [e.name for e in entries if e.name != self.own and e.name.endswith(".json")]
        except OSError as exc:
            self._degrade("could not read the shared run totals", exc)
            names = []
        for name in names:
            try:
                others[name] = read_total(os.path.join(self.folder, name))
            except (OSError, ValueError, RecursionError) as exc:
                self._degrade(f"could not read the running total {name}", exc)
        self._others = others
        return sum(others.values(), own)

    def _degrade(self, what: str, exc: BaseException) -> None:
        with self._lock:
            if self.trouble is not None:
                return
            self.trouble = (
                f"spend protection on worker {self.worker_id} {what} "
                f"({type(exc).__name__}: {exc}); meanwhile its run budget was checked against "
                "its own running total and the other workers' totals as last read"
            )
        ATTRIBUTION.tracker().notes[self.trouble] = 1


def read_total(path: str) -> Usage:
    """A running total as :meth:`SharedTotals.publish` wrote it; ValueError for anything else."""
    with open(path, "rb") as fh:
        raw = fh.read(MAX_TOTAL_BYTES + 1)
    if len(raw) > MAX_TOTAL_BYTES:
        raise ValueError(f"{path} is over {MAX_TOTAL_BYTES} bytes")
    data = json.loads(raw)
    if not isinstance(data, dict) or not all(
        name in USAGE_FIELDS and type(value) is int and value >= 0 for name, value in data.items()
    ):
        raise ValueError(f"{path} holds no running total")
    return Usage(**data)


class Reservation:
    """What one admitted request may still bill, held until its reply is counted or it ends."""

    __slots__ = ("guard", "nodeid", "usage")

    def __init__(self, guard: SpendGuard, nodeid: str, usage: Usage) -> None:
        self.guard = guard
        self.nodeid = nodeid
        self.usage: Usage | None = usage

    def settle(self, count: Callable[[], object]) -> None:
        """Count the reply (``count``) and release the reservation in one step."""
        with self.guard.lock:
            try:
                count()
            finally:
                self.release()

    def release(self) -> None:
        """The request ended (failed, refused by the server, closed without usage); idempotent."""
        guard = self.guard
        with guard.lock:
            usage, self.usage = self.usage, None
            if usage is None:
                return
            left = beyond(guard.in_flight.get(self.nodeid, EMPTY), usage)
            if left:
                guard.in_flight[self.nodeid] = left
            else:
                guard.in_flight.pop(self.nodeid, None)
            guard.in_flight_run = beyond(guard.in_flight_run, usage)
            guard.publish()


def beyond(total: Usage, part: Usage) -> Usage:
    """What ``total`` holds beyond ``part``, field by field (never below zero)."""
    return Usage(**{n: max(getattr(total, n) - getattr(part, n), 0) for n in USAGE_FIELDS})


class SpendGuard:
    """This process's running total and requests in flight, and the check before each request."""

    def __init__(self, enforce: bool, run_limits: Limits, limits: Mapping[str, Limits]) -> None:
        #: ``enforce`` from the option or config; a marker's ``enforce=`` wins for its test.
        self.enforce = enforce
        self.run_limits = run_limits
        #: Per-test limits by node id (filled in at collection).
        self.limits = limits
        #: All usage this process counted so far, and, on an xdist worker, the other workers'.
        self.running = EMPTY
        #: What the requests in flight may still bill: by test node id, and all of them.
        self.in_flight: dict[str, Usage] = {}
        self.in_flight_run = EMPTY
        #: Held while admitting a request and while counting a reply (re-entered: counting
        #: tells :meth:`count_running`).
        self.lock = threading.RLock()
        self.shared: SharedTotals | None = None
        #: The first refusal of each test by node id, until the test ends: a test whose code
        #: caught it is failed all the same.
        self.refusals: dict[str, BudgetExceeded] = {}
        if run_limits:  # the running total serves only to check the run budget
            ATTRIBUTION.listen(self.count_running)

    def count_running(self, usage: Usage) -> None:
        with self.lock:
            self.running += usage
            self.publish()

    def publish(self) -> None:
        """Under xdist, the other workers see this one's spent and reserved (read only by
        spend protection)."""
        if self.shared is not None and ATTRIBUTION.before_request is not None:
            self.shared.publish(self.running + self.in_flight_run)

    def install(self) -> None:
        """Hook into capture only if a request of this run could be refused: every captured
        call pays for the hook (called again once the markers are read)."""
        default = self.enforce
        could_refuse = (default and self.run_limits) or any(
            (default if lim.enforce is None else lim.enforce) and (lim or self.run_limits)
            for lim in self.limits.values()
        )
        ATTRIBUTION.before_request = self.before_request if could_refuse else None

    def before_request(
        self,
        tracker: TokenTracker,
        endpoint: Endpoint,
        path: str,
        body: Callable[[], bytes | None],
    ) -> Reservation | None:
        """Refuse a request once the test or the run reached a limit, counting what the
        requests in flight may still bill; else reserve what this one may bill."""
        __tracebackhide__ = True
        limits = self.limits.get(tracker.nodeid)
        enforce = self.enforce
        if limits is not None and limits.enforce is not None:
            enforce = limits.enforce
        if not enforce:
            return None
        sized = (limits is not None and _sized(limits)) or _sized(self.run_limits)
        reserve = estimate(endpoint, path, body) if sized else CALL
        others = EMPTY if self.shared is None else self.shared.total(EMPTY)
        with self.lock:
            nodeid = tracker.nodeid
            for scope, used, lim in (
                ("test", tracker.usage + self.in_flight.get(nodeid, EMPTY), limits),
                ("run", others + self.running + self.in_flight_run, self.run_limits),
            ):
                verdict = reached(used, lim) if lim else None
                if verdict is not None:
                    raw = body()  # listed under the model it asked for, never "(unknown)"
                    tracker.refuse(None if raw is None else endpoint.request_model(path, raw))
                    refusal = BudgetExceeded(scope, verdict)
                    self.refusals.setdefault(nodeid, refusal)
                    raise refusal
            self.in_flight[nodeid] = self.in_flight.get(nodeid, EMPTY) + reserve
            self.in_flight_run += reserve
            self.publish()
        return Reservation(self, nodeid, reserve)


#: The reservation of a request when only calls are limited.
CALL = Usage(calls=1)


def _sized(limits: Limits) -> bool:
    """Does any limit but ``max_calls`` apply (so a request's size must be estimated)?"""
    return any(name != "max_calls" for name in limits.values)


def estimate(endpoint: Endpoint, path: str, body: Callable[[], bytes | None]) -> Usage:
    """What a request may bill at most, as far as it can be known before it is sent: one call,
    its declared output cap, its input counted with tiktoken where the model's tokenizer is
    known (else 0), priced where the pricer can."""
    raw = body()
    declared = None if raw is None else endpoint.declared(path, raw)
    if declared is None:
        return CALL
    input_tokens = 0
    if declared.texts and declared.model is not None:
        from .tokenizer import count_tokens

        try:
            counted = [count_tokens(text, model=declared.model) for text in declared.texts]
        except Exception:  # a model tiktoken cannot count, or no encoding to load
            counted = []
        if counted:
            input_tokens = sum(counted) + declared.overhead
    usage = Usage(input_tokens=input_tokens, output_tokens=declared.output_cap, calls=1)
    pricer = ATTRIBUTION.pricer
    cost = None if pricer is None else pricer.cost_pico(declared.model, usage)
    return usage if cost is None else replace(usage, cost_pico=cost)
