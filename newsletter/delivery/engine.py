"""The send engine: render once, then deliver an issue to every active subscriber exactly once.

A send is driven by the ledger (:mod:`newsletter.store.ledger`). Each run enqueues the
active subscribers who have no row yet, settles the rows a dead run left behind, then lets
a few workers (one per transport connection) claim batches (shared by the run's connections, a
few rows at a time for SMTP: see :attr:`~newsletter.delivery.base.Adapter.take`), build each message from the
issue's single layout (:class:`~newsletter.render.mime.MessageFactory`), pace them with the
rate limit (remote transports only: the outbox is a local folder) and hand them to the
adapter. Each message handed over is marked ``sending`` just before its point of no return, in
the transaction that writes the outcomes its connection learnt since (see :class:`_Group`): one
cheap commit per message, and a crash leaves in doubt only a message on the wire. A stop
request (SIGTERM) lets no new message begin and finishes the ones in hand, cutting a silent
server's connection after :data:`STOP_GRACE` seconds.

The adapter says what became of each message with one of four outcomes
(:data:`~newsletter.delivery.base.Result`):

- :class:`~newsletter.delivery.base.RetryLater` (4xx, lost connections, timeouts): back to
  ``pending`` after the provider's delay or an exponential backoff, retried in the same run up
  to ``max_attempts`` tries (a try is counted by the ledger when its outcome is written, before
  or after the point of no return, so ``max_attempts`` always ends the run);
- :class:`~newsletter.delivery.base.Failed` (5xx): recorded with the server's reason, not
  retried; ``bounced`` (5.1.x) also marks the subscriber as bounced;
- :class:`~newsletter.delivery.base.InDoubt`: looked up at the transport first where it keeps a
  record of what it took (:func:`_look_up`, the adapter's ``settle``): found, it is sent; proved
  never to have arrived, it is retried; else recorded ``uncertain``, never resent. The same lookup
  settles the rows a dead run left in flight, and the send's ``uncertain`` rows when a run starts;
- :class:`~newsletter.delivery.base.Sent`.

A :class:`ConfigError` (bad credentials…) or a :class:`RequestRefused` from the transport stops
the run at once and is never counted against a recipient; claimed rows go back to ``pending``.

A send protects the sender's reputation: when the hard bounces among the last ``[delivery]
bounce_window`` messages exceed ``[delivery] max_bounce_rate`` (see
:mod:`newsletter.delivery.bounce_guard`), the run pauses itself as a stop request would end
it: no new message begins, the ones in hand are settled, the rest stay ``pending``. The pause
is recorded on the send (:mod:`newsletter.store.pauses`) and the report says why; the next
run (``newsletter send DATE``) clears it and starts a fresh window.

Killing the process at any moment sends nobody twice, and every recipient keeps a row that says
where they stand: the next run sends the rows never handed over and settles those in flight (see
the ledger's docstring). A row in flight that the adapter cannot look up (SMTP, most mail APIs)
becomes ``uncertain``: it may have arrived or not, and it is not resent, so such a recipient may
have missed the issue until an operator chooses :func:`resend_uncertain` (``newsletter send DATE
--resend-uncertain``), accepting a possible second copy with the same Message-ID.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from contextlib import nullcontext
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence, TypeVar, assert_never

from newsletter.config import Settings
from newsletter.content.publication import proof_url
from newsletter.content.problems import errors
from newsletter.delivery import reasons
from newsletter.delivery.bounce_guard import BounceGuard, Verdict
from newsletter.delivery.reasons import PAUSED_BEFORE_HANDOVER, STOPPED_BEFORE_HANDOVER, TAKEN_FROM_A_DEAD_RUN
from newsletter.delivery.base import (Adapter, Doubt, Failed, InDoubt, NeverArrived, Outgoing, RequestRefused, Result,
                                      RetryLater, Sent, Settled, Turns, adapter_class, make_adapter,
                                      prepare_transport, send_once)
from newsletter.errors import (ContentError, DeliveryError, NewsletterError, NotSent, SendBusyError, Stopped,
                               StoreUnavailable, describe)
from newsletter.core.clock import Clock, utc_now
from newsletter.core.i18n import N_
from newsletter.render import checked
from newsletter.render.rendered import RenderedIssue
from newsletter.render.snapshot import freeze, thaw
from newsletter.store import leases, ledger, pauses, snapshots, workers
from newsletter.store.database import Store, patiently
from newsletter.store.models import DeliveryStatus, SubscriberStatus
from newsletter.store.subscribers import list_subscribers

if TYPE_CHECKING:  # loaded by the runs that build messages, not by a send with nothing left to do
    from newsletter.render.mime import MessageFactory, Recipient

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
T = TypeVar("T")

#: Seconds a stop request leaves the messages in hand to finish before their connections are cut.
STOP_GRACE = 5.0


class RateLimiter:
    """At most ``rate`` acquisitions per second across threads (a token bucket holding one second)."""

    def __init__(self, rate: float, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.monotonic, self.sleep = monotonic, sleep
        self.updated = monotonic()
        self.lock = threading.Lock()

    def acquire(self, n: int = 1) -> None:
        """Take ``n`` tokens. A batch larger than the bucket goes into debt that later calls repay,
        so that an API call of 1,000 messages still averages ``rate`` messages per second."""
        need = min(float(n), self.capacity)
        while True:
            with self.lock:
                now = self.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= need:
                    self.tokens -= n
                    return
                wait = (need - self.tokens) / self.rate
            self.sleep(wait)


class SharedRateLimiter:
    """``rate`` messages per second for the whole send, shared by every worker through the store
    (:mod:`newsletter.store.pacing`): the interface of :class:`RateLimiter`, its clock the database's.

    Slots are reserved in chunks of about a quarter of a second of the pace (or the batch, when
    larger), so that a fast sender asks the database a few times a second, not once per message.
    """

    def __init__(self, reserve: Callable[[int], float], rate: float, *,
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.reserve, self.rate = reserve, rate
        self.chunk = max(1, int(rate / 4))
        self.monotonic, self.sleep = monotonic, sleep
        self.left = 0  # slots reserved and not used yet
        self.at = 0.0  # when the next of them begins (monotonic)
        self.lock = threading.Lock()

    def acquire(self, n: int = 1) -> None:
        """Wait until ``n`` reserved slots have begun (the later of the old ones and a new reservation).

        The connections of one worker wait in turn (the lock is held while sleeping): their slots follow
        each other anyway, and the order of the reservations is kept."""
        with self.lock:
            if self.left and self.at < self.monotonic() - 1.0:
                self.left = 0  # slots long past are lost: used now they would make a burst above the pace
            if self.left < n:
                need = max(n - self.left, self.chunk)
                start = self.monotonic() + self.reserve(need)
                self.at = max(self.at, start)
                self.left += need
            begin = self.at
            self.left -= n
            self.at = begin + n / self.rate
            wait = begin - self.monotonic()
            if wait > 0:
                self.sleep(wait)


@dataclass
class SendReport:
    """Where a send stands after a run (counts over the whole ledger, plus this run's work)."""

    day: date
    counts: dict[str, int] = field(default_factory=dict)
    sent_now: int = 0
    failed_now: int = 0
    enqueued: int = 0
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    elapsed: float = 0.0
    stopped: str = ""  # why the run ended early (limit, stop request, pause), if it did
    paused: str = ""  # why the send paused itself (too many hard bounces), if it did
    pause_id: int | None = None  # the pause recorded on the send (the key of its alert)
    resumed: "pauses.Pause | None" = None  # the pause this run cleared, if the send was paused
    lease_lost: bool = False  # the run stopped because its lease expired or was taken over (a busy machine)

    def count(self, status: DeliveryStatus) -> int:
        return self.counts.get(status.value, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        return self.count(DeliveryStatus.PENDING) + self.count(DeliveryStatus.QUEUED)

    @property
    def in_flight(self) -> int:
        """Rows marked sending: held by a run still at work, or in doubt until its lease expires."""
        return self.count(DeliveryStatus.SENDING)

    @property
    def complete(self) -> bool:
        """Every recipient has an outcome (sent, failed, uncertain or skipped): nothing is left to do."""
        return self.pending == 0 and self.in_flight == 0


@dataclass(frozen=True)
class Policy:
    """Retry policy of the engine."""

    max_attempts: int = 5
    backoff_seconds: float = 30.0

    def gives_up(self, attempt: int) -> bool:
        """Whether a temporary failure of try number ``attempt`` (1 for the first) is the last one."""
        return attempt >= self.max_attempts

    def delay(self, attempt: int) -> timedelta:
        """How long to wait after a temporary failure of try number ``attempt``: doubled each time."""
        return timedelta(seconds=self.backoff_seconds * 2 ** max(0, attempt - 1))

    @classmethod
    def from_settings(cls, settings: Settings) -> "Policy":
        return cls(settings.delivery.max_attempts, settings.delivery.retry_backoff)


def render_checked_issue(settings: Settings, day: date) -> RenderedIssue:
    """Check and render the issue: the one render of the whole send.

    :raises ContentError: when the check fails (nothing is sent).
    """
    # The check loads the renderer (jinja2, MJML, premailer): only a run that must render pays for it,
    # not one that starts from the checked render (:func:`checked_issue`) or has nothing to send.
    from newsletter.services.check import check_issue

    report = check_issue(settings, day, spelling_words=False)
    if errors(report.problems) or report.rendered is None:
        raise ContentError(f"issue {day.isoformat()} does not pass the check; nothing was sent",
                           report.problems, hint=f"run `newsletter check {day.isoformat()}`")
    return report.rendered


def checked_issue(settings: Settings, day: date, now: datetime) -> checked.Checked:
    """The issue's render and public page for a send: the ones its last check kept for the very same inputs
    (``approve``, or an earlier run: :mod:`newsletter.render.checked`), else checked and rendered now, and kept.

    :raises ContentError: when the check fails (nothing is sent).
    """
    key = checked.inputs_digest(settings, day)
    found = checked.load(settings, day, key)
    if found is not None:
        log.info("issue %s: starting from the render checked for these inputs (%s)", day.isoformat(), key[:12])
        return found
    from newsletter.render.web_version import public_page  # the renderer, as in render_checked_issue

    rendered = render_checked_issue(settings, day)
    return checked.keep(settings, day, key, rendered, lambda: public_page(rendered.issue, settings), now)


#: How many settled messages pass between two looks at the hard bounces reported by feedback events.
FEEDBACK_EVERY = 100


def _limiter(store: Store, send_id: int, rate: float,
             sleep: Callable[[float], None]) -> "RateLimiter | SharedRateLimiter":
    """The send's pace: shared through the database where workers may help (PostgreSQL), else this process's."""
    if workers.supported(store):
        from newsletter.store import pacing

        return SharedRateLimiter(lambda n: pacing.reserve(store, send_id, n, rate).wait, rate, sleep=sleep)
    return RateLimiter(rate, sleep=sleep)


class _RunStop(threading.Event):
    """One run's stop: set by its caller's request (SIGTERM), seen at the next check, or by the run itself
    when an error ends it. The latter never sets the caller's event: a scheduler would never send again."""

    def __init__(self, requested: threading.Event) -> None:
        super().__init__()
        self.requested = requested

    def is_set(self) -> bool:
        if self.requested.is_set() and not super().is_set():
            self.set()  # wakes the run's waits too
        return super().is_set()


class _Group:
    """One batch on its way: which rows are marked sending, handed over, and have an outcome not yet written.

    Writes are grouped without marking ahead: each handover marks only the messages handed over,
    in the transaction that writes the outcomes gathered since the last write (for SMTP: the
    previous message's); the rest of the batch's outcomes are written in one more when it ends.
    So a row is ``sending`` only from just before its point of no return until the next write,
    and a crash leaves at most one SMTP message per connection in doubt; the batch's other rows
    are still ``queued``, certainly not sent, and the next run sends them.
    """

    def __init__(self, outgoing: Sequence[Outgoing], built_failures: list[ledger.Outcome]) -> None:
        self.keys = [item.key for item in outgoing]
        self.items = {item.key: item for item in outgoing}
        self.handed_at: dict[int, datetime] = {}  # when each message was handed over: a lookup searches from there
        self.marked: set[int] = set()
        self.handed: set[int] = set()
        self.done: set[int] = set()
        #: Outcomes not yet written: the batch's messages that could not be built, then the transport's.
        self.unwritten: list[tuple[Result | None, ledger.Outcome]] = [(None, o) for o in built_failures]

    def to_mark(self, items: Sequence[Outgoing]) -> list[int]:
        """The keys of ``items`` not marked yet: those to mark now."""
        return [item.key for item in items if item.key not in self.marked]

    def not_begun(self) -> list[int]:
        """Rows with no outcome that were never handed over: nothing of them was sent."""
        return [k for k in self.keys if k not in self.handed and k not in self.done]


class _Run:
    """One run of one send: shared state of its worker threads."""

    def __init__(self, store: Store, send_id: int, factory: MessageFactory, settings: Settings, *,
                 adapters: Sequence[Adapter], clock: Clock, policy: Policy, limit: int | None,
                 stop: threading.Event, progress: Progress | None, lease: timedelta) -> None:
        self.store, self.send_id, self.factory, self.settings = store, send_id, factory, settings
        self.adapters, self.clock, self.policy = adapters, clock, policy
        self.limit, self.progress = limit, progress
        self.stop = _RunStop(stop)
        self.run_id = ledger.new_run_id()
        self.lease = lease
        self.heartbeat = leases.Heartbeat(store, self.run_id, duration=lease, clock=clock, send_id=send_id,
                                          progress=lambda: self.sent + self.failed)
        self.settling = threading.Lock()
        self.lease_gone = threading.Event()  # the lease ran out or was taken over: hand nothing more over
        self.announced: set[str] = set()  # other runs whose rows this run has said it waits for
        # Connections take turns where the transport can (SMTP) and the store answers at once (SQLite; every
        # write waits on a PostgreSQL server, and the others keep running meanwhile).
        self.turns = Turns() if adapters[0].takes_turns and store.is_sqlite else None
        # Pacing protects a remote server; a local transport (the outbox) is not slowed down.
        self.limiter: RateLimiter | SharedRateLimiter | None = \
            _limiter(store, send_id, settings.delivery.rate_per_second, self._pause) if adapters[0].paced else None
        self.lock = threading.Lock()
        self.claimed = 0
        self.batch_size = adapters[0].batch_size
        self.pool: deque[ledger.Claimed] = deque()  # rows claimed by the run and not taken by a connection yet
        self.taking = threading.Lock()  # one connection at a time takes from the pool (and claims into it)
        self.sent = 0
        self.failed = 0
        self.fatal: BaseException | None = None
        self.stopped = ""
        # The bounce brake: outcomes of this run, plus hard bounces reported since it started.
        self.guard = BounceGuard(settings.delivery.max_bounce_rate, settings.delivery.bounce_window)
        self.started_at = clock()
        self.unchecked = 0  # messages settled since the feedback events were last read
        self.pause: Verdict | None = None
        self.paused = threading.Event()
        self.paused_elsewhere = threading.Event()  # another worker paused the send: this one stops too
        self.shared = workers.supported(store)  # other processes may work on the send (PostgreSQL)

    def _pause(self, seconds: float) -> None:
        """The pacing's sleep: the other connections take their turns meanwhile."""
        with self.turns.waiting() if self.turns is not None else nullcontext():
            time.sleep(seconds)

    def _take(self, adapter: Adapter) -> list[ledger.Claimed] | None:
        """The next rows for one connection: :attr:`~Adapter.take` of the run's claimed rows no connection has
        taken yet, claimed from the ledger (:attr:`~Adapter.batch_size` at once) when there are none.

        The rows of one claim are shared by the run's connections, so that a slow server holds up only the
        few one connection took. ``[]`` when nothing is due now; None once ``--limit`` is reached.
        """
        with self.taking:
            if not self.pool:
                want = self.batch_size if self.limit is None else min(self.batch_size, self.limit - self.claimed)
                if want <= 0:
                    return None
                claimed = self._patient(lambda: ledger.claim(
                    self.store, self.send_id, self.run_id, want, self.clock(), transport=adapter.name,
                    consent=self.settings.analytics.per_subscriber))
                self.claimed += len(claimed)
                self.pool.extend(claimed)
            n = min(adapter.take or len(self.pool), len(self.pool))
            return [self.pool.popleft() for _ in range(n)]

    def give_back(self) -> None:
        """Once the connections have ended: release the rows the run still holds unmarked (those no connection
        took: the run stopped, or reached ``--limit``; or a claim whose commit a store restart cut)."""
        self.pool.clear()
        reason = STOPPED_BEFORE_HANDOVER if self.stop.is_set() else ""
        self._patient(lambda: ledger.release_run(self.store, self.send_id, self.run_id, self.clock(), reason=reason))

    def _patient(self, call: Callable[[], T]) -> T:
        """``call()`` (a store operation), waiting out a store that cannot be reached for up to the lease."""
        return patiently(call, patience=self.lease.total_seconds())

    def worker(self, adapter: Adapter) -> None:
        adapter.stop = self.stop
        if self.turns is not None:
            adapter.turns = self.turns
        try:
            adapter.use_layout(self.factory.layout)
            if not self._open(adapter):
                self.stopped = self._halt_reason()
                return
            while not self._halted() and self.fatal is None:
                if self.shared and self._patient(lambda: workers.is_paused(self.store, self.send_id)):
                    self.paused_elsewhere.set()
                    break
                batch = self._take(adapter)
                if batch is None:
                    self.stopped = reasons.LIMIT_REACHED % {"limit": self.limit}
                    return
                if not batch:
                    if self._wait_for_retries() or self._wait_for_others(adapter):
                        continue
                    return
                self._deliver(adapter, batch)
            if self._halted():
                self.stopped = self._halt_reason()
        except BaseException as err:  # recorded, re-raised by the caller after all workers stop
            with self.lock:
                if self.fatal is None:
                    self.fatal = err
            self.stop.set()
        finally:
            adapter.close()

    def _open(self, adapter: Adapter) -> bool:
        """Open the connection, trying again with the retry policy's backoff while the transport cannot be
        reached (refused, a 421 greeting: :class:`NotSent`), up to ``max_attempts`` tries. Nobody's try is
        counted: no recipient was involved. False when a stop came first.

        :raises NotSent: when the last try fails too (the run stops; every row waits for the next one).
        """
        for attempt in itertools.count(1):
            try:
                adapter.open()
                return True
            except NotSent as err:
                if self._halted():
                    return False
                if self.policy.gives_up(attempt):
                    raise
                wait = self.policy.delay(attempt).total_seconds()
                log.warning("issue %s: %s; trying again in %.0f s (%d of %d)", self.factory.issue_key, err, wait,
                            attempt, self.policy.max_attempts)
                self.stop.wait(wait)
                if self._halted():
                    return False
        raise AssertionError("unreachable")

    def _halted(self) -> bool:
        return (self.stop.is_set() or self.paused.is_set() or self.paused_elsewhere.is_set()
                or self.lease_gone.is_set() or self.heartbeat.lost.is_set())

    def _halt_reason(self) -> str:
        if self.stop.is_set():
            return reasons.STOP_REQUESTED
        if self.pause is not None:
            return reasons.PAUSED % {"reason": self.pause.describe()}
        if self.paused_elsewhere.is_set():
            return reasons.PAUSED_ELSEWHERE
        return self._lease_problem()

    def _lease_problem(self) -> str:
        if self.heartbeat.lost.is_set():
            return reasons.LEASE_TAKEN
        return reasons.LEASE_LATE

    def _wait_for_others(self, adapter: Adapter) -> bool:
        """Rows other runs hold: wait while their lease is valid, settle them once it has expired.

        False when no other run holds anything, so that a run ends only when the issue is done
        (or stopped), not while a concurrent run finishes its part.
        """
        held = self._patient(lambda: ledger.held_elsewhere(self.store, self.send_id, self.run_id))
        if not held:
            return False
        with self.settling:
            self._patient(lambda: _settle_orphans(self.store, self.send_id, adapter, self.settings,
                                                  self.factory.issue_key, self.clock(), self.lease, self.run_id,
                                                  self.factory.layout.subject))
        if self._patient(lambda: ledger.held_elsewhere(self.store, self.send_id, self.run_id)):
            with self.lock:
                new_holders = set(held) - self.announced
                self.announced |= new_holders
            # Said once per holder: after a crash the wait can last a whole lease, and must not look like a hang.
            (log.warning if new_holders else log.debug)(
                "issue %s: %d recipients are held by %d other run(s); waiting until they finish, or until their "
                "lease runs out if they stopped (at most [delivery] lease_seconds = %.0f s after their last "
                "heartbeat)", self.factory.issue_key, sum(held.values()), len(held), self.lease.total_seconds())
            self.stop.wait(min(2.0, self.lease.total_seconds() / 6))
        return True

    def _wait_for_retries(self) -> bool:
        """Sleep until the next retry is due; False when nothing is left to wait for."""
        due = self._patient(lambda: ledger.next_due(self.store, self.send_id))
        if due is None:
            return False
        delay = (due - self.clock()).total_seconds()
        if delay > 0:
            log.info("issue %s: waiting %.0f s for the next retry", self.factory.issue_key, delay)
            self.stop.wait(min(delay, 5.0))
        return True

    def _deliver(self, adapter: Adapter, batch: list[ledger.Claimed]) -> None:
        with self.turns.turn() if self.turns is not None else nullcontext():
            self._deliver_in_turn(adapter, batch)

    def _deliver_in_turn(self, adapter: Adapter, batch: list[ledger.Claimed]) -> None:
        from newsletter.render.mime import Recipient

        outgoing: list[Outgoing] = []
        outcomes: list[ledger.Outcome] = []
        sender = self.settings.newsletter.sender_address
        for row in batch:
            try:
                person = self.factory.personal(Recipient(row.email, row.first_name, row.last_name,
                                                         row.subscriber_id, row.click_consent))
                message = self.factory.build_from(person) if adapter.wants_mime else None
            except Exception as err:  # noqa: BLE001  one recipient's fields, address or header: they alone fail
                reason = f"this recipient's message cannot be built: {describe(err)}"
                log.warning("issue %s: delivery %s failed: %s", self.factory.issue_key, row.delivery_id, reason)
                outcomes.append(ledger.Outcome(row.delivery_id, DeliveryStatus.FAILED, reason))
                continue
            outgoing.append(Outgoing(row.delivery_id, person, person.envelope_from or sender, message))
        attempts = {row.delivery_id: row.attempt for row in batch}
        subscribers = {row.delivery_id: row.subscriber_id for row in batch}
        group = _Group(outgoing, outcomes)

        def handover(items: Sequence[Outgoing]) -> None:
            # No stop check here: for SMTP the DATA has begun, and a message begun is finished. A run
            # whose lease is lost or about to expire hands nothing over: another run may own its rows.
            if self.limiter is not None:
                self.limiter.acquire(len(items))
            if not self.heartbeat.holds(self.clock()):
                self.lease_gone.set()
                raise Stopped()
            marking = group.to_mark(items)
            if marking:  # one transaction: the outcomes known so far, and these rows marked
                if self._write(group, subscribers, mark=marking) < len(marking):
                    # Fenced: another run took these rows over while this one was frozen; they are its own now.
                    log.error("issue %s: run %s lost its rows to another run; it hands nothing more over",
                              self.factory.issue_key, self.run_id)
                    self.lease_gone.set()
                    raise Stopped()
                group.marked.update(marking)
            group.handed.update(item.key for item in items)
            group.handed_at.update(dict.fromkeys((item.key for item in items), self.clock()))

        # A stop request takes effect before a message begins: before the batch, between the
        # results the adapter yields (one message for SMTP and the outbox, one call for an API),
        # or where the adapter raises Stopped (SMTP: before DATA). What is not begun waits.
        stopped = self._halted()
        sending = adapter.send(outgoing, handover)
        try:
            try:
                if not stopped:
                    for results in sending:
                        self._settle(adapter, results, attempts, group, subscribers)
                        if self._halted():
                            stopped = True
                            break
            finally:
                # The outcomes not written yet in one transaction, also when the transport gave up half-way.
                self._write(group, subscribers)
        except Stopped:
            stopped = True
        except RequestRefused as err:
            # Nothing of that request was sent: its rows go back to the queue as they were, once
            # the run is stopped (another connection would otherwise claim and send them now).
            self.stop.set()
            self._patient(lambda: ledger.release(self.store, err.keys, self.clock(), reason=str(err), sending_too=True,
                                                 run_id=self.run_id))
            self._patient(lambda: ledger.release(self.store, group.not_begun(), self.clock(), sending_too=True,
                                                 run_id=self.run_id))
            raise
        except BaseException:
            # The transport gave up on the batch (configuration error, interruption): rows it
            # never took go back to the pool (after the stop, as above); rows handed over stay in doubt.
            self.stop.set()
            self._patient(lambda: ledger.release(self.store, group.not_begun(), self.clock(), sending_too=True,
                                                 run_id=self.run_id))
            raise
        finally:
            if isinstance(sending, Generator):
                sending.close()
        if stopped:
            why = PAUSED_BEFORE_HANDOVER if self.paused.is_set() and not self.stop.is_set() else STOPPED_BEFORE_HANDOVER
            self._patient(lambda: ledger.release(self.store, group.not_begun(), self.clock(), reason=why,
                                                 sending_too=True, run_id=self.run_id))
            self.stopped = self._halt_reason()

    def _settle(self, adapter: Adapter, results: Sequence[Result], attempts: Mapping[int, int], group: _Group,
                subscribers: Mapping[int, int]) -> None:
        """Turn results into outcomes as the transport gives them. One message's outcome is written with
        the next mark, or when the batch ends (see :class:`_Group`); a whole call's (a mail API's) at
        once: grouping adds nothing there, and the provider's webhooks about those messages may come
        at once and must find their provider ids in the ledger.

        ``attempts`` holds each row's :attr:`~newsletter.store.ledger.Claimed.attempt`: the number
        this try has once recorded (the ledger counts it, see :mod:`newsletter.store.ledger`). The
        bounce brake sees each result at once, so a pause takes effect at the next message. Messages in
        doubt are looked up at the transport first (:func:`_look_up`).
        """
        if not results:
            return
        if any(isinstance(result, InDoubt) for result in results):
            results = self._resolve(adapter, results, group)
        now = self.clock()
        settled = 0
        for result in results:
            outcome = self._outcome(result, attempts[result.key], now)
            group.unwritten.append((result, outcome))
            group.done.add(result.key)
            settled += outcome.status is not DeliveryStatus.PENDING
        if len(results) > 1:
            self._write(group, subscribers)
        if self.progress is not None and settled:  # a retry is not settled: its row counts when it is
            self.progress(settled)
        self._watch_bounces(results)

    def _resolve(self, adapter: Adapter, results: Sequence[Result], group: _Group) -> list[Result]:
        """Results in doubt replaced by what the transport's records prove: found (sent), or never arrived
        (sent again, as a retry); the others stay in doubt."""
        now = self.clock()
        rows = [Doubt(r.key, group.items[r.key].personal.email, group.items[r.key].personal.message_id,
                      group.handed_at.get(r.key, now), now, self.factory.layout.subject)
                for r in results if isinstance(r, InDoubt) and r.key in group.items]
        found = _look_up(adapter, rows, now, self.factory.issue_key)
        resolved: list[Result] = []
        for result in results:
            proof = found.get(result.key) if isinstance(result, InDoubt) else None
            if isinstance(proof, NeverArrived):
                resolved.append(RetryLater(result.key, proof.reason, after=0.0))
            else:
                resolved.append(proof or result)
        return resolved

    def _write(self, group: _Group, subscribers: Mapping[int, int], *, mark: Sequence[int] = ()) -> int:
        """Write the group's outcomes not yet written, hard bounces included, and mark ``mark`` sending:
        one transaction, fenced by the run's id (only over rows it still holds). Return how many were marked."""
        written = group.unwritten
        if not written and not mark:
            return 0
        outcomes = [outcome for _, outcome in written]
        bounced = [subscribers[r.key] for r, _ in written if isinstance(r, Failed) and r.bounced]
        marked = self._patient(lambda: ledger.record(self.store, outcomes, self.clock(), bounced=bounced,
                                                     then_sending=mark, run_id=self.run_id))
        group.unwritten = []  # only once written: a store error leaves them for the batch's last write
        if log.isEnabledFor(logging.DEBUG):
            for result, outcome in written:
                log.debug("issue %s: %s → %s %s", self.factory.issue_key, outcome.delivery_id,
                          outcome.status.value, result.error if result else outcome.error)
        self._count(outcomes)
        built_failures = sum(result is None for result, _ in written)
        if built_failures and self.progress is not None:
            self.progress(built_failures)
        return marked

    def _watch_bounces(self, results: Sequence[Result]) -> None:
        """Feed the bounce brake; pause the run when the hard bounces of the window are over the line.

        A retry is not a message handed over yet and does not count; a message sent, refused or in
        doubt does. Hard bounces reported by feedback events (webhooks, DSNs) about this run's
        messages are read every :data:`FEEDBACK_EVERY` messages.
        """
        if not self.guard.enabled:
            return
        with self.lock:
            for result in results:
                if not isinstance(result, RetryLater):
                    self.guard.add(result.key, isinstance(result, Failed) and result.bounced)
            self.unchecked += len(results)
            look = self.unchecked >= FEEDBACK_EVERY
            if look:
                self.unchecked = 0
        if look:
            from newsletter.store.feedback import hard_bounced_rows  # the feedback's tables: a run that sends only

            late = self._patient(lambda: hard_bounced_rows(self.store, self.send_id, self.started_at))
        else:
            late = set()
        with self.lock:
            self.guard.add_late(late)
            verdict = self.guard.verdict() if self.pause is None else None
            if verdict is not None:
                self.pause = verdict
                self.paused.set()
        if verdict is not None:
            log.warning("issue %s: the send pauses itself: %s; `newsletter send %s` resumes it",
                        self.factory.issue_key, verdict.describe(), self.factory.issue_key)

    def _count(self, outcomes: list[ledger.Outcome]) -> None:
        with self.lock:
            self.sent += sum(o.status is DeliveryStatus.SENT for o in outcomes)
            self.failed += sum(o.status is DeliveryStatus.FAILED for o in outcomes)

    def _outcome(self, result: Result, attempt: int, now: datetime) -> ledger.Outcome:
        """The ledger's record of ``result``; ``attempt`` is this try's number (1 for the first)."""
        match result:
            case Sent():
                return ledger.Outcome(result.key, DeliveryStatus.SENT, provider_id=result.provider_id)
            case InDoubt():
                return ledger.Outcome(result.key, DeliveryStatus.UNCERTAIN, result.error)
            case Failed():
                return ledger.Outcome(result.key, DeliveryStatus.FAILED, result.error)
            case RetryLater() if self.policy.gives_up(attempt):
                return ledger.Outcome(result.key, DeliveryStatus.FAILED,
                                      f"gave up after {attempt} attempts: {result.error}")
            case RetryLater():
                wait = self.policy.delay(attempt) if result.after is None else timedelta(seconds=result.after)
                return ledger.Outcome(result.key, DeliveryStatus.PENDING, f"will retry: {result.error}",
                                      retry_at=now + wait)
        assert_never(result)


def _join(stop: threading.Event, threads: Sequence[threading.Thread], adapters: Sequence[Adapter],
          issue_key: str) -> None:
    """Wait for the workers. Once a stop is requested they finish the messages in hand, for at
    most :data:`STOP_GRACE` seconds: then a server that does not answer has its connection cut
    (the message is in doubt if it was complete), so a stop never waits for the transport's timeout."""
    for thread in threads:
        while thread.is_alive() and not stop.is_set():
            thread.join(0.2)
    if not stop.is_set():
        return
    deadline = time.monotonic() + STOP_GRACE
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        log.warning("issue %s: the server has not answered within %.0f s of the stop request; closing the "
                    "connection", issue_key, STOP_GRACE)
        for adapter in adapters:
            adapter.abort()
    for thread in threads:
        thread.join()


#: At most this many ``uncertain`` rows are looked up at the transport when a run starts.
LOOKUP_AT_START = 5000


def _look_up(adapter: Adapter, rows: Sequence[Doubt], now: datetime, issue_key: str) -> dict[int, Settled]:
    """The settle step: what the transport's records prove about messages in doubt (:meth:`Adapter.settle`),
    asked before they are left ``uncertain``. A lookup that fails proves nothing and never ends the send."""
    if not rows or not adapter.looks_up:
        return {}
    try:
        found = adapter.settle(rows, now)
    except Exception as err:  # noqa: BLE001  an adapter's lookup bug must not cost the send
        log.warning("issue %s: looking up %d messages in doubt failed (%s); they stay uncertain", issue_key, len(rows),
                    describe(err))
        return {}
    asked = {row.key for row in rows}
    settled = {key: proof for key, proof in found.items()
               if key in asked and isinstance(proof, (Sent, NeverArrived)) and proof.key == key}
    log.log(logging.WARNING if len(settled) < len(rows) else logging.INFO,
            "issue %s: %d messages in doubt looked up at %s: %d found, %d proved never to have arrived, "
            "%d unknown (left uncertain)", issue_key, len(rows), adapter.name,
            sum(isinstance(p, Sent) for p in settled.values()),
            sum(isinstance(p, NeverArrived) for p in settled.values()), len(rows) - len(settled))
    return settled


def _settle_orphans(store: Store, send_id: int, adapter: Adapter, settings: Settings, issue_key: str,
                    now: datetime, lease: timedelta, taker: str, subject: str = "") -> None:
    """Take over the rows of runs whose lease expired (dead, or frozen past it) and settle them for ``taker``
    (the run id that now holds them, so that a frozen run waking up writes nothing over them).

    Rows never marked ``sending`` are certainly not on the wire: back to pending, sent by this send.
    Rows marked ``sending`` (each just before its point of no return) may be: the transport the dead run
    used is asked (:func:`_look_up`, with ``subject``); what it cannot tell stays ``uncertain``, never resent.
    """
    from newsletter.render.mime import message_id

    queued, in_doubt = ledger.orphans(store, send_id, now, lease, taker=taker)
    if queued:
        log.warning("issue %s: %d recipients claimed by a run that stopped; sending them now", issue_key, len(queued))
        ledger.release(store, queued, now, reason=TAKEN_FROM_A_DEAD_RUN, run_id=taker)
    if in_doubt:
        # Only the transport the dead run used can tell: another one's records prove nothing.
        rows = [Doubt(row.delivery_id, row.email, message_id(settings, issue_key, row.email), row.changed_at,
                      row.changed_at, subject)
                for row in ledger.in_doubt(store, send_id, ids=[key for key, _ in in_doubt],
                                           status=DeliveryStatus.SENDING, transport=adapter.name)]
        found = _look_up(adapter, rows, now, issue_key)
        log.warning("issue %s: %d messages were in flight when a run stopped: %d delivered, %d not, %d unknown",
                    issue_key, len(in_doubt), sum(isinstance(p, Sent) for p in found.values()),
                    sum(isinstance(p, NeverArrived) for p in found.values()), len(in_doubt) - len(found))
        ledger.settle_in_doubt(store, {key: isinstance(found[key], Sent) if key in found else None
                                       for key, _ in in_doubt}, now,
                               provider_ids={k: p.provider_id for k, p in found.items() if isinstance(p, Sent)},
                               run_id=taker)


def _settle_uncertain(store: Store, send_id: int, adapter: Adapter, settings: Settings, issue_key: str,
                      now: datetime, subject: str) -> None:
    """Look up the send's ``uncertain`` rows handed to this transport once more: a lookup right after a lost
    answer may find nothing yet, and one later proves more (providers index their records with a delay)."""
    if not adapter.looks_up:
        return
    from newsletter.render.mime import message_id

    rows = [Doubt(row.delivery_id, row.email, message_id(settings, issue_key, row.email), row.send_created_at,
                  row.changed_at, subject)
            for row in ledger.in_doubt(store, send_id, transport=adapter.name, limit=LOOKUP_AT_START)]
    found = _look_up(adapter, rows, now, issue_key)
    if found:
        ledger.settle_uncertain(store, {k: p.provider_id for k, p in found.items() if isinstance(p, Sent)},
                                {k: p.reason for k, p in found.items() if isinstance(p, NeverArrived)}, now)


@dataclass
class StartedSend:
    """A send ready for runs: its id, the factory of its messages, the report begun by its start."""

    send_id: int
    factory: MessageFactory
    report: SendReport


def start_send(settings: Settings, store: Store, day: date, *, secret_key: str,
               clock: Clock = utc_now) -> StartedSend:
    """Check and render the issue (or take the render checked for the same inputs: :func:`checked_issue`),
    open its send (stored render, pause cleared, new subscribers queued).

    What workers help afterwards is this render (:mod:`newsletter.render.snapshot`), whatever their
    own copy of the issue's files says; the public archive shows this run's web version once a
    message went out (:mod:`newsletter.store.archive`), whatever the files say afterwards.

    :raises ContentError: when the issue does not pass the check.
    """
    from newsletter.render.mime import MessageFactory
    from newsletter.store import archive

    sent_on = clock()
    prepared = checked_issue(settings, day, sent_on)
    rendered, page = prepared.rendered, prepared.page
    if settings.analytics.clicks:
        rendered = _counted(settings, store, rendered, secret_key)
    factory = MessageFactory(rendered, settings, secret_key=secret_key, date=sent_on)
    send_id = ledger.get_or_create_send(store, day, rendered.subject, clock())
    frozen = freeze(rendered, sent_on)
    snapshots.save(store, send_id, frozen.digest, frozen.text, clock())
    archive.save_page(store, send_id, page, clock())  # unless an earlier run's messages went out: that page stays
    resumed = pauses.resume(store, send_id, clock())  # a new run is the operator's resume: a fresh window
    if resumed is not None:
        log.info("issue %s: resuming the send paused at %s (%s)", day.isoformat(), resumed.paused_at.isoformat(),
                 resumed.reason)
    report = SendReport(day, enqueued=ledger.enqueue(store, send_id, clock(), issue=day), resumed=resumed)
    return StartedSend(send_id, factory, report)


def _counted(settings: Settings, store: Store, rendered: RenderedIssue, secret_key: str) -> RenderedIssue:
    """The masters with counted links (``[analytics] clicks``), their links recorded for ``serve``'s redirects."""
    from newsletter.render.tracking import ITEM_ONLY, track
    from newsletter.store import clicks

    tracked, links = track(rendered, settings.newsletter.base_url, secret_key)
    labels, issue = rendered.item_labels, rendered.issue.date.isoformat()
    linked = {link.position for link in links}
    # Every item has a row, one without any link too (its title and tag for the report).
    places = [(link.position, link.link, link.url) for link in links] + \
        [(n, ITEM_ONLY, "") for n in range(1, len(labels) + 1) if n not in linked]
    clicks.save_links(store, [clicks.LinkRow(issue, n, link, url, *(labels[n - 1] if n else ("", "")))
                              for n, link, url in places])
    return tracked


def send_issue(
    settings: Settings,
    store: Store,
    day: date,
    *,
    secret_key: str,
    adapter_factory: Callable[[], Adapter] | None = None,
    clock: Clock = utc_now,
    limit: int | None = None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    policy: Policy | None = None,
) -> SendReport:
    """Send the issue of ``day`` to every active subscriber who has not received it.

    Running it again, or after a crash, sends only to those not yet served; once everyone has been,
    it only reports (no render, no connection).

    :param secret_key: signs the per-recipient unsubscribe links.
    :param adapter_factory: makes one transport per connection; defaults to ``[delivery] adapter``.
    :param limit: hand over at most this many messages in this run.
    :param stop: set it (e.g. on SIGTERM) to end the run: no new message begins, the ones in hand are
        finished (their connection is cut after :data:`STOP_GRACE` seconds without an answer).
    :param progress: called with the number of recipients settled as the transport reports them (their
        outcomes are written with the next rows marked sending, or when their batch ends; a mail API
        call's outcomes before).
    :raises ContentError: when the issue does not pass the check.
    :raises ConfigError: when the transport refuses the configuration (nothing counted as failed).
    :raises RequestRefused: when the provider refuses a whole request (nothing counted as failed).
    """
    started = time.monotonic()
    finished = _finished(settings, store, day, clock)
    if finished is not None:
        finished.elapsed = time.monotonic() - started
        return finished
    if adapter_factory is None:
        prepare_transport(settings)
    opened = start_send(settings, store, day, secret_key=secret_key, clock=clock)
    return _drive(settings, store, opened, adapter_factory=adapter_factory, clock=clock, limit=limit, stop=stop,
                  progress=progress, policy=policy, started=started)


def _finished(settings: Settings, store: Store, day: date, clock: Clock) -> SendReport | None:
    """The report of an issue already served (every row settled, no new subscriber to add), else None.

    Such a run has nothing to hand over: it neither renders the issue nor connects to the transport
    (a re-run after the end takes a fraction of a second, whatever the issue's files say now), unless
    rows left ``uncertain`` may be looked up at the transport they were handed to (:func:`_settle_uncertain`).
    """
    send_id = ledger.find_send(store, day)
    if send_id is None or ledger.has_work(store, send_id, clock(), issue=day):
        return None
    transport = settings.delivery.adapter
    if ledger.in_doubt(store, send_id, transport=transport, limit=1) \
            and adapter_class(transport).settle is not Adapter.settle:
        return None
    report = SendReport(day, resumed=pauses.resume(store, send_id, clock()))
    tally(store, send_id, report, clock())
    return report


def help_send(
    settings: Settings,
    store: Store,
    send_id: int,
    *,
    secret_key: str,
    adapter_factory: Callable[[], Adapter] | None = None,
    clock: Clock = utc_now,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    policy: Policy | None = None,
) -> SendReport:
    """Work on a send another run started (a worker): claim its rows alongside the other runs until
    nothing is left, with the render the send was started with, never the local issue files.

    :raises NewsletterError: when the send has no stored render (started by an older version).
    """
    from newsletter.render.mime import MessageFactory

    started = time.monotonic()
    stored = snapshots.load(store, send_id)
    if stored is None:
        raise NewsletterError(f"send {send_id} was started without a stored render (by an older newsletter); "
                              "workers cannot help it", hint="finish it with `newsletter send DATE`")
    rendered, sent_on = thaw(stored.layout)
    factory = MessageFactory(rendered, settings, secret_key=secret_key, date=sent_on)
    log.info("issue %s: helping send %d (render %s)", factory.issue_key, send_id, stored.digest[:12])
    opened = StartedSend(send_id, factory, SendReport(rendered.issue.date))
    return _drive(settings, store, opened, adapter_factory=adapter_factory, clock=clock, limit=None, stop=stop,
                  progress=progress, policy=policy, started=started)


@dataclass(frozen=True)
class ResendPlan:
    """A resend of a send's uncertain rows that every check let through: how many rows it would send again."""

    day: date
    send_id: int
    uncertain: int  #: rows it would send again


@dataclass
class ResendReport:
    """A resend's outcome: how many uncertain rows it reopened, and the report of the run that sent them."""

    day: date
    rows: int
    report: SendReport


def plan_resend(store: Store, day: date, now: datetime, lease: timedelta = leases.DEFAULT_LEASE) -> ResendPlan:
    """Check that the uncertain rows of ``day``'s send may be resent now, and count them.

    :raises DeliveryError: when the send never started, or has rows without an outcome (a run stopped
        before the end: ``newsletter send DATE`` finishes it and settles what was in flight first).
    :raises SendBusyError: while a run, a worker or the scheduler holds the send.
    """
    from newsletter.store import resends  # the resends' records: not for a send

    key = day.isoformat()
    send_id = ledger.find_send(store, day)
    if send_id is None:
        raise DeliveryError(N_("issue %(day)s has not been sent: there is nothing to resend"), values={"day": key},
                            hint=f"send it with `newsletter send {key}`")
    holder = resends.holder_of(store, send_id, day, now, lease)
    if holder:
        raise SendBusyError(f"the send of {key} is held by another run: {holder}; nothing was resent",
                            hint=f"wait until it ends (`newsletter status {key}` shows it), then run "
                                 f"`newsletter send {key} --resend-uncertain` again")
    counts = ledger.counts(store, send_id)
    unfinished = sum(counts.get(state, 0) for state in workers.OPEN_ROWS)
    if unfinished:
        raise DeliveryError(N_("the send of %(day)s is not finished: %(count)s recipients have no outcome yet; "
                               "nothing was resent"), values={"day": key, "count": unfinished},
                            hint=f"finish it first with `newsletter send {key}` (it also settles the messages a "
                                 "stopped run left in flight), then resend what is still uncertain")
    return ResendPlan(day, send_id, counts.get(DeliveryStatus.UNCERTAIN.value, 0))


def resend_uncertain(
    settings: Settings,
    store: Store,
    day: date,
    *,
    secret_key: str,
    by: str,
    adapter_factory: Callable[[], Adapter] | None = None,
    clock: Clock = utc_now,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    policy: Policy | None = None,
) -> ResendReport:
    """Send again the rows of ``day``'s send left ``uncertain``, and only them: the operator accepts
    that some recipients may get a second copy (with the same Message-ID, which receivers that drop
    duplicates recognize) so that none misses the issue.

    The rows go back to ``pending`` with the resend's record (who, when, how many), then one run sends
    them with the render the send was started with; from there the ledger makes it exactly once, as
    for any run (a crash now leaves them pending or in doubt again, never sent twice by us). The checks
    and the reopening are two transactions: a run that starts in between sends the reopened rows itself,
    once each, through the same ledger.

    :param by: who asked for the resend (recorded, shown by ``status`` and ``history``).
    :raises DeliveryError, SendBusyError: see :func:`plan_resend` (nothing is reopened).
    :raises NewsletterError: when the send has no stored render (started by an older version).
    """
    started = time.monotonic()
    lease = timedelta(seconds=settings.delivery.lease_seconds)
    plan = plan_resend(store, day, clock(), lease)
    if plan.uncertain == 0:
        report = SendReport(day)
        tally(store, plan.send_id, report, clock())
        return ResendReport(day, 0, report)
    from newsletter.store import resends

    factory = _stored_factory(settings, store, plan.send_id, secret_key)
    rows = resends.reopen_uncertain(store, plan.send_id, by=by, now=clock())
    log.info("issue %s: %d uncertain recipients reopened for a resend on the request of %s", factory.issue_key, rows,
             by)
    opened = StartedSend(plan.send_id, factory, SendReport(day))
    report = _drive(settings, store, opened, adapter_factory=adapter_factory, clock=clock, limit=None, stop=stop,
                    progress=progress, policy=policy, started=started)
    return ResendReport(day, rows, report)


def _stored_factory(settings: Settings, store: Store, send_id: int, secret_key: str) -> MessageFactory:
    """The messages of a started send, built from the render stored when it started (not the local files).

    :raises NewsletterError: when the send has no stored render (started by an older version).
    """
    from newsletter.render.mime import MessageFactory

    stored = snapshots.load(store, send_id)
    if stored is None:
        raise NewsletterError(f"send {send_id} was started without a stored render (by an older newsletter): "
                              "its messages cannot be built again as they were; nothing was resent")
    rendered, sent_on = thaw(stored.layout)
    return MessageFactory(rendered, settings, secret_key=secret_key, date=sent_on)


def _drive(settings: Settings, store: Store, opened: StartedSend, *,
           adapter_factory: Callable[[], Adapter] | None, clock: Clock, limit: int | None,
           stop: threading.Event | None, progress: Progress | None, policy: Policy | None,
           started: float) -> SendReport:
    """One run on an open send: settle what dead runs left, then deliver with one thread per connection."""
    make = adapter_factory or (lambda: make_adapter(settings))
    send_id, factory, report = opened.send_id, opened.factory, opened.report
    first = make()
    lease = timedelta(seconds=settings.delivery.lease_seconds)
    adapters = [first] + [make() for _ in range(first.connections - 1)]
    run = _Run(store, send_id, factory, settings, adapters=adapters, clock=clock,
               policy=policy or Policy.from_settings(settings), limit=limit, stop=stop or threading.Event(),
               progress=progress, lease=lease)
    try:
        run._patient(lambda: _settle_orphans(store, send_id, first, settings, factory.issue_key, clock(), lease,
                                             run.run_id, factory.layout.subject))
        run._patient(lambda: _settle_uncertain(store, send_id, first, settings, factory.issue_key, clock(),
                                               factory.layout.subject))
    except BaseException:
        run.heartbeat.stop()  # ends the lease it took
        raise
    run.heartbeat.start()
    log.info("issue %s: run %s starts with %d connection(s), %d new recipients queued",
             factory.issue_key, run.run_id, len(adapters), report.enqueued)
    threads = [threading.Thread(target=run.worker, args=(a,), name=f"send-{i}") for i, a in enumerate(adapters)]
    try:
        for thread in threads:
            thread.start()
        try:
            _join(run.stop, threads, adapters, factory.issue_key)
        except KeyboardInterrupt:
            # Ctrl+C: let the workers finish the message in hand, keep the ledger consistent.
            run.stop.set()
            _join(run.stop, threads, adapters, factory.issue_key)
            run.fatal = run.fatal or KeyboardInterrupt()
    finally:
        try:
            run.give_back()
        except StoreUnavailable as err:
            run.fatal = run.fatal or err
        finally:
            run.heartbeat.stop()
    if isinstance(run.fatal, StoreUnavailable):
        # Nothing more can be written: what the run held is settled by the next one once its lease expires.
        raise StoreUnavailable(f"issue {factory.issue_key}: the send stopped: {run.fatal}; {run.sent} sent and "
                               f"{run.failed} failed were recorded by this run, and the next run settles the rows "
                               "it held (those handed over without a recorded answer are in doubt, never resent)",
                               hint=f"start the database again, then run `newsletter send {factory.issue_key}`") \
            from run.fatal
    now = clock()
    run._patient(lambda: tally(store, send_id, report, now))
    report.sent_now, report.failed_now, report.stopped = run.sent, run.failed, run.stopped
    report.lease_lost = run.lease_gone.is_set() or run.heartbeat.lost.is_set()
    if run.pause is not None and report.complete:
        report.stopped = ""  # the line was crossed by the last messages: nothing is left to hold back
    elif run.pause is not None:
        report.paused = run.pause.describe()
        pause = run.pause
        report.pause_id = run._patient(lambda: pauses.record_pause(store, send_id, reason=report.paused,
                                                                   bounces=pause.bounces, messages=pause.messages,
                                                                   now=now))
    report.elapsed = time.monotonic() - started
    log.info("issue %s: run %s ends: %d sent, %d failed in %.1f s; totals %s", factory.issue_key, run.run_id,
             run.sent, run.failed, report.elapsed, report.counts)
    if run.fatal is not None:
        if isinstance(run.fatal, (NewsletterError, KeyboardInterrupt)):
            raise run.fatal
        # describe(), never repr(): an exception may carry a whole message, unsubscribe URL included.
        raise NewsletterError(f"the send stopped on an unexpected error: {describe(run.fatal)}") from run.fatal
    return report


def tally(store: Store, send_id: int, report: SendReport, now: datetime) -> None:
    """Close the send if nothing is left, and write its totals and undelivered reasons into ``report``."""
    ledger.finish(store, send_id, now)
    report.counts = ledger.counts(store, send_id)
    report.failures = ledger.failures(store, send_id, [DeliveryStatus.FAILED.value, DeliveryStatus.UNCERTAIN.value,
                                                       DeliveryStatus.PENDING.value])


def send_test(settings: Settings, day: date, addresses: Iterable[Recipient], *, secret_key: str,
              adapter: Adapter | None = None, clock: Clock = utc_now) -> list[Result]:
    """Send the issue to ``addresses`` only, marked "[TEST]" and kept out of the ledger.

    Each test copy has a Message-ID of its own, never the real message's: an editor who is also
    a subscriber still gets the real issue (the outbox, a relay or Gmail would otherwise take it
    for a copy already delivered).
    """
    from newsletter.render.mime import MessageFactory, proof_message_id

    rendered = render_checked_issue(settings, day)
    factory = MessageFactory(rendered, settings, secret_key=secret_key, date=clock(), subject_prefix="[TEST] ",
                             web_url=proof_url(settings.newsletter.base_url, secret_key, day))
    adapter = adapter or make_adapter(settings)
    people = [replace(factory.personal(r), message_id=proof_message_id(settings, factory.issue_key))
              for r in addresses]
    batch = [Outgoing(i, person, settings.newsletter.sender_address,
                      factory.build_from(person) if adapter.wants_mime else None) for i, person in enumerate(people)]
    return send_once(adapter, factory.layout, batch)


@dataclass
class DryRun:
    """What a send would do, without doing it."""

    day: date
    recipients: int
    already_served: int
    sample: bytes
    sample_to: str


def dry_run(settings: Settings, store: Store, day: date, *, secret_key: str, clock: Clock = utc_now,
            limit: int | None = None) -> DryRun:
    """Count who would receive the issue now and build one sample message; writes nothing."""
    from newsletter.render.mime import MessageFactory, Recipient

    rendered = render_checked_issue(settings, day)
    factory = MessageFactory(rendered, settings, secret_key=secret_key, date=clock())
    reach = ledger.coverage(store, day, clock())
    first = next(iter(list_subscribers(store, status=SubscriberStatus.ACTIVE.value, limit=1)), None)
    recipient = Recipient(first.email, first.first_name, first.last_name) if first else \
        Recipient("camille.martin@example.org", "Camille", "Martin")
    todo = reach.active - reach.served
    if limit is not None:
        todo = min(todo, limit)
    return DryRun(day, todo, reach.served, factory.build(recipient).data, recipient.email)


__all__ = ["DryRun", "Policy", "RateLimiter", "ResendPlan", "ResendReport", "SendReport", "SharedRateLimiter",
           "StartedSend", "dry_run", "help_send", "make_adapter", "plan_resend", "render_checked_issue",
           "resend_uncertain", "send_issue", "send_test", "start_send", "tally"]
