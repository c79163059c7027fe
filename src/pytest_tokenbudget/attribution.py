"""Which tracker a call lands on: the test running now, a wider-scope fixture's bucket, or
``<session>``.

Attribution is process-wide: a pytest process (or xdist worker) runs one test at a time, so
"the test running now" is one slot, set when a test starts and cleared when its teardown has
been reported. While a fixture wider than function scope is set up or torn down, its own bucket
(``<fixture NAME>``) takes the slot's place, so that per-test figures are the same serially and
under xdist (where such fixtures run once per worker). Outside any test: ``<session>``.

Threads: a thread that a test's code started (in the thread running the tests, or in a thread
of that test) carries an :class:`Owner` naming the test. While the test runs, the thread's
usage is the test's; once the test ended, it goes to ``<session>`` with a note naming the test,
never to the test running then. Threads started outside any test, or by a wider-scope fixture,
carry no owner and follow the slot (a server thread started by a session fixture serves each
test in turn). New threads and pool tasks also take the operation label in force where they
were started; ``threads.py`` hands both over. asyncio tasks copy the label themselves, and
follow the slot.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Tuple

from .buckets import SESSION_BUCKET
from .labels import OPERATION

if TYPE_CHECKING:  # made on first use: a run that records nothing never loads them
    from .tracker import BeforeRequest, ParseResponse, TokenTracker
    from .usage import Pricer, Usage


class Owner:
    """The test whose code started a thread (one per test, made when it starts its first)."""

    __slots__ = ("forward", "nodeid")

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        #: What records the thread's usage once the test ended (made then).
        self.forward: TokenTracker | None = None


#: The test a thread belongs to; None in the thread that runs the tests and in threads started
#: outside any test (both follow the slot).
_owner: ContextVar[Owner | None] = ContextVar("tokenbudget_owner", default=None)
#: What a new thread or pool task takes from where it was started: its owner, its label.
Inherited = Tuple[Optional[Owner], Optional[str]]


def late_note(nodeid: str) -> str:
    return f"{nodeid}: a thread it started recorded usage after it ended: in {SESSION_BUCKET}"


class Attribution:
    """Which tracker receives usage now; one per process, driven by the plugin."""

    def __init__(self) -> None:
        self.reset()

    def reset(self, pricer: Pricer | None = None) -> Callable[[], None]:
        """Start a fresh run; returns a function restoring the previous state (nested runs,
        e.g. pytester's in-process runs, must not disturb the outer run's attribution)."""
        saved = dict(self.__dict__)
        self._pricer: Pricer | None = pricer
        #: Makes the run's pricer when the first tracker (or request) needs one: the plugin's
        #: is made then, its module with it.
        self.pricing: Callable[[], Pricer] | None = None
        #: The running test's tracker, made on first use.
        self.current: TokenTracker | None = None
        self._nodeid: str | None = None
        #: The running test as the threads its code started know it (made with the first).
        self._owner: Owner | None = None
        #: The bucket name of the wider-scope fixture being set up or torn down, if any (the
        #: bucket is made on first use).
        self.fixture: str | None = None
        #: Every bucket of this process by name, ``<session>`` included once made (shipped at
        #: its end).
        self.buckets: dict[str, TokenTracker] = {}
        #: The thread that runs the tests (the one that starts the run).
        self.runner = threading.get_ident()
        #: Called before each request that capture recognises (spend protection); may raise.
        self.before_request: BeforeRequest | None = None
        #: Given to every tracker: told of all usage counted in this process.
        self.listener: Callable[[Usage], None] | None = None
        #: Reads replies no provider recognised (the parse_response hook); None: nobody does.
        self.parse_response: ParseResponse | None = None
        #: Told of every record: (node id or bucket, what it counted); None: nobody listens.
        self.recorded: Callable[[str, Usage], None] | None = None
        #: Served or deployment names -> the model they are priced and grouped as.
        self.aliases: Mapping[str, str] = {}
        #: Called once, when the first test's tracker is made (then cleared): the plugin's cue
        #: to start watching every test's reports (an idle run never does).
        self.activate: Callable[[], None] | None = None
        return lambda: self.__dict__.update(saved)

    @property
    def pricer(self) -> Pricer | None:
        """Given to every tracker (None: nothing is priced)."""
        if self._pricer is None and self.pricing is not None:
            self._pricer = self.pricing()
        return self._pricer

    def listen(self, listener: Callable[[Usage], None]) -> None:
        """Tell ``listener`` of all usage counted from now on (tests and buckets)."""
        self.listener = listener
        for tracker in (self.current, *self.buckets.values()):
            if tracker is not None:
                tracker.listener = listener

    @property
    def session(self) -> TokenTracker:
        """The ``<session>`` bucket: usage outside any test (made on first use)."""
        return self.bucket(SESSION_BUCKET)

    def start(self, nodeid: str) -> None:
        """A test starts: the one before it has ended (see :meth:`close`)."""
        if self.current is not None:
            self.close()
        self._nodeid = nodeid
        self._owner = None

    def close(self) -> None:
        """End a test nobody finished: until some test's reports are watched, the plugin only
        starts tests (each test's only per-test call in a run that records nothing), so a
        tracker still here was made after its test's last report was watched for (by a
        ``logreport`` hook, a thread after the test): what it counted is ``<session>``'s."""
        left = self.finish()
        if left is not None:
            self.session.absorb(left)

    def tracker(self) -> TokenTracker:
        """The caller's tracker: for a thread of an ended test, a forwarder to ``<session>``;
        else the wider-scope fixture being set up or torn down (unless the caller is a thread
        of the running test); else the running test's tracker (made on first use); else
        ``<session>``."""
        owner = _owner.get()
        if owner is not None:
            if owner is not self._owner:
                return self._forward(owner)
        elif self.fixture is not None:
            return self.bucket(self.fixture)
        current = self.current
        if current is not None:
            return current
        nodeid = self._nodeid
        if nodeid is None:
            return self.session
        activate = None
        _create_lock.acquire()  # not ``with``: every tracker test makes one
        try:
            made = self.current
            if made is None:
                made = self.current = self._make(nodeid)
                activate, self.activate = self.activate, None
        finally:
            _create_lock.release()
        if activate is not None:
            activate()
        return made

    def finish(self) -> TokenTracker | None:
        """End the running test; returns its tracker if anything used it. Its figures are
        final from now on: what is recorded into it later goes to ``<session>``, noted."""
        tracker, self.current, self._nodeid, self._owner = self.current, None, None, None
        if tracker is not None:
            session = self.buckets.get(SESSION_BUCKET)  # made by the first test's end
            tracker.end(self.session if session is None else session, late_note)
        return tracker

    def bucket(self, name: str) -> TokenTracker:
        """This process's bucket ``name`` (made on first use)."""
        found = self.buckets.get(name)
        if found is not None:
            return found
        with _create_lock:
            found = self.buckets.get(name)
            if found is None:
                found = self.buckets[name] = self._make(name)
            return found

    def _make(self, name: str) -> TokenTracker:
        """A new tracker of this run for ``name`` (a test's node id or a bucket)."""
        global _tracker_type
        if _tracker_type is None:  # the first: a run that records nothing never loads them
            from .tracker import TokenTracker

            _tracker_type = TokenTracker
        pricer = self._pricer  # the property's work, once it made the run's
        made = _tracker_type(name, self.pricer if pricer is None else pricer, self)
        made.listener = self.listener
        return made

    def inherited(self) -> Inherited:
        """What a thread or pool task that the caller starts takes: the caller's owner (the
        running test, when the test's own code starts it) and operation label."""
        owner = _owner.get()
        if (
            owner is None
            and self._nodeid is not None
            and self.fixture is None
            and threading.get_ident() == self.runner
        ):
            owner = self._owner
            if owner is None:
                owner = self._owner = Owner(self._nodeid)
        return owner, OPERATION.get()

    def _forward(self, owner: Owner) -> TokenTracker:
        session = self.session  # made outside the lock, which its making takes
        with _create_lock:
            if owner.forward is None:
                owner.forward = self._make(SESSION_BUCKET)
                owner.forward.end(session, late_note, owner.nodeid)
            return owner.forward


def inherit(inherited: Inherited) -> Callable[[], None]:
    """Make the calling thread (or pool task) carry ``inherited``; returns the undo."""
    owner, label = inherited
    owner_token, label_token = _owner.set(owner), OPERATION.set(label)

    def undo() -> None:
        OPERATION.reset(label_token)
        _owner.reset(owner_token)

    return undo


_create_lock = threading.Lock()
#: ``tracker.TokenTracker``, once the first tracker is made: an import statement in
#: ``Attribution.tracker`` would cost every test's tracker about a microsecond more.
_tracker_type: type[TokenTracker] | None = None
ATTRIBUTION = Attribution()


def current_tracker() -> TokenTracker:
    return ATTRIBUTION.tracker()
