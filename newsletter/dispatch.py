"""The send engine: render once, then deliver an issue to every active subscriber exactly once.

A send is driven by the ledger (:mod:`newsletter.store.ledger`). Each run enqueues the
active subscribers who have no row yet, settles the rows a dead run left behind, then lets
a few workers (one per transport connection) claim batches, build each message from the
issue's single layout (:class:`~newsletter.render.mime.MessageFactory`), pace them with the
rate limit and hand them to the adapter. Outcomes are written per batch.

- Temporary failures (4xx, lost connections, timeouts) go back to ``pending`` with an
  exponential backoff and are retried in the same run, up to ``max_attempts``.
- Permanent failures (5xx) are recorded with the server's reason and not retried; a 5.1.x
  reply also marks the subscriber as bounced.
- A :class:`ConfigError` from the transport (bad credentials…) stops the run at once and is
  never counted against a recipient; claimed rows go back to ``pending``.

Killing the process at any moment loses nobody and sends nobody twice: see the ledger's
docstring for how rows in flight are settled by the next run.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping, Sequence

from newsletter.config import Settings
from newsletter.content.check import check_issue
from newsletter.publication import proof_url
from newsletter.content.problems import errors
from newsletter.delivery.base import Adapter, Outgoing, RequestRefused, Result, adapter_class, send_once
from newsletter.errors import ContentError, NewsletterError
from newsletter.render.mime import HeaderInjectionError, MessageFactory, Recipient, message_id
from newsletter.render.pipeline import RenderedIssue
from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.models import DeliveryStatus
from newsletter.store.subscribers import list_subscribers

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Progress = Callable[[int], None]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


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
    stopped: str = ""  # why the run ended early (limit, stop request), if it did

    def count(self, status: DeliveryStatus) -> int:
        return self.counts.get(status.value, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        return self.count(DeliveryStatus.PENDING) + self.count(DeliveryStatus.QUEUED)


@dataclass(frozen=True)
class Policy:
    """Retry policy of the engine."""

    max_attempts: int = 5
    backoff_seconds: float = 30.0

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=self.backoff_seconds * 2 ** max(0, attempts - 1))

    @classmethod
    def from_settings(cls, settings: Settings) -> "Policy":
        return cls(settings.delivery.max_attempts, settings.delivery.retry_backoff)


def prepare(settings: Settings, day: date) -> RenderedIssue:
    """Check and render the issue: the one render of the whole send.

    :raises ContentError: when the check fails (nothing is sent).
    """
    report = check_issue(settings, day)
    if errors(report.problems) or report.rendered is None:
        raise ContentError(f"issue {day.isoformat()} does not pass the check; nothing was sent",
                           report.problems, hint=f"run `newsletter check {day.isoformat()}`")
    return report.rendered


def make_adapter(settings: Settings, environ: Mapping[str, str] | None = None) -> Adapter:
    """The configured adapter (``[delivery] adapter``)."""
    return adapter_class(settings.delivery.adapter)(settings, environ)


class _Stopped(Exception):
    """Raised from the handover when a stop was requested: the message in hand is not sent."""


class _Run:
    """One run of one send: shared state of its worker threads."""

    def __init__(self, store: Store, send_id: int, factory: MessageFactory, settings: Settings, *,
                 adapters: Sequence[Adapter], clock: Clock, policy: Policy, limit: int | None,
                 stop: threading.Event, progress: Progress | None) -> None:
        self.store, self.send_id, self.factory, self.settings = store, send_id, factory, settings
        self.adapters, self.clock, self.policy = adapters, clock, policy
        self.limit, self.stop, self.progress = limit, stop, progress
        self.run_id = ledger.new_run_id()
        self.limiter = RateLimiter(settings.delivery.rate_per_second)
        self.lock = threading.Lock()
        self.claimed = 0
        self.sent = 0
        self.failed = 0
        self.fatal: BaseException | None = None
        self.stopped = ""

    def _quota(self, want: int) -> int:
        with self.lock:
            if self.limit is None:
                return want
            n = max(0, min(want, self.limit - self.claimed))
            return n

    def worker(self, adapter: Adapter) -> None:
        try:
            adapter.prepare(self.factory.layout)
            adapter.open()
            while not self.stop.is_set() and self.fatal is None:
                want = self._quota(adapter.batch_size)
                if want == 0:
                    self.stopped = f"--limit {self.limit} reached"
                    return
                batch = ledger.claim(self.store, self.send_id, self.run_id, want, self.clock())
                if not batch:
                    if not self._wait_for_retries():
                        return
                    continue
                with self.lock:
                    self.claimed += len(batch)
                self._deliver(adapter, batch)
            if self.stop.is_set():
                self.stopped = "stop requested"
        except BaseException as err:  # recorded, re-raised by the caller after all workers stop
            with self.lock:
                if self.fatal is None:
                    self.fatal = err
            self.stop.set()
        finally:
            adapter.close()

    def _wait_for_retries(self) -> bool:
        """Sleep until the next retry is due; False when nothing is left to wait for."""
        due = ledger.next_due(self.store, self.send_id)
        if due is None:
            return False
        delay = (due - self.clock()).total_seconds()
        if delay > 0:
            log.info("issue %s: waiting %.0f s for the next retry", self.factory.issue_key, delay)
            self.stop.wait(min(delay, 5.0))
        return True

    def _deliver(self, adapter: Adapter, batch: list[ledger.Claimed]) -> None:
        outgoing: list[Outgoing] = []
        outcomes: list[ledger.Outcome] = []
        sender = self.settings.newsletter.sender_address
        for row in batch:
            try:
                person = self.factory.personal(Recipient(row.email, row.first_name, row.last_name))
            except HeaderInjectionError as err:
                outcomes.append(ledger.Outcome(row.delivery_id, DeliveryStatus.FAILED, str(err), handed_over=False))
                continue
            message = self.factory.build_from(person) if adapter.wants_mime else None
            outgoing.append(Outgoing(row.delivery_id, person, sender, message))
        attempts = {row.delivery_id: row.attempts for row in batch}
        subscribers = {row.delivery_id: row.subscriber_id for row in batch}

        def handover(items: Sequence[Outgoing]) -> None:
            self.limiter.acquire(len(items))
            if self.stop.is_set():  # still before the point of no return: these can wait for the next run
                raise _Stopped()
            ledger.mark_sending(self.store, [item.key for item in items], self.clock())

        try:
            for results in adapter.send(outgoing, handover):
                self._settle(results, attempts, subscribers)
        except _Stopped:
            ledger.release(self.store, [o.key for o in outgoing], self.clock())
            self.stopped = "stop requested"
            return
        except RequestRefused as err:
            # Nothing of that request was sent: its rows go back to the queue as they were.
            ledger.release(self.store, err.keys, self.clock(), reason=str(err), sending_too=True)
            ledger.release(self.store, [o.key for o in outgoing], self.clock())
            raise
        except BaseException:
            # The transport gave up on the batch (configuration error, interruption): rows it
            # never took go back to the pool; rows marked sending stay in doubt.
            ledger.release(self.store, [o.key for o in outgoing], self.clock())
            raise
        if outcomes:
            ledger.record(self.store, outcomes, self.clock())
            self._count(outcomes)

    def _settle(self, results: Sequence[Result], attempts: Mapping[int, int], subscribers: Mapping[int, int]) -> None:
        """Record results as soon as the transport gives them: a crash right after leaves nothing in doubt."""
        if not results:
            return
        now = self.clock()
        outcomes = [self._outcome(r, attempts[r.key] + (1 if r.handed_over else 0), now) for r in results]
        ledger.record(self.store, outcomes, now)
        bounced = [subscribers[r.key] for r in results if r.hard_bounce]
        if bounced:
            ledger.mark_bounced(self.store, bounced, now)
        for result, outcome in zip(results, outcomes):
            log.debug("issue %s: %s → %s %s", self.factory.issue_key, result.key, outcome.status.value, result.error)
        self._count(outcomes)

    def _count(self, outcomes: list[ledger.Outcome]) -> None:
        with self.lock:
            self.sent += sum(o.status is DeliveryStatus.SENT for o in outcomes)
            self.failed += sum(o.status is DeliveryStatus.FAILED for o in outcomes)
        if self.progress is not None:
            self.progress(len(outcomes))

    def _outcome(self, result: Result, attempts: int, now: datetime) -> ledger.Outcome:
        if result.ok:
            return ledger.Outcome(result.key, DeliveryStatus.SENT, provider_id=result.provider_id)
        if result.uncertain:
            return ledger.Outcome(result.key, DeliveryStatus.UNCERTAIN, result.error)
        if result.transient and attempts < self.policy.max_attempts:
            wait = self.policy.delay(attempts) if result.retry_after is None else timedelta(seconds=result.retry_after)
            return ledger.Outcome(result.key, DeliveryStatus.PENDING, f"will retry: {result.error}",
                                  retry_at=now + wait, handed_over=result.handed_over)
        if result.transient:
            return ledger.Outcome(result.key, DeliveryStatus.FAILED,
                                  f"gave up after {attempts} attempts: {result.error}", handed_over=result.handed_over)
        return ledger.Outcome(result.key, DeliveryStatus.FAILED, result.error, handed_over=result.handed_over)


def _settle_orphans(store: Store, send_id: int, adapter: Adapter, settings: Settings, issue_key: str,
                    now: datetime) -> None:
    queued, in_doubt = ledger.orphans(store, send_id, now)
    if queued:
        log.warning("issue %s: %d recipients claimed by a run that stopped; sending them now", issue_key, len(queued))
        ledger.release(store, queued, now)
    if in_doubt:
        ids = [(key, message_id(settings, issue_key, address)) for key, address in in_doubt]
        outcomes = adapter.reconcile(ids)
        log.warning("issue %s: %d messages were in flight when a run stopped: %d delivered, %d not, %d unknown",
                    issue_key, len(in_doubt), sum(v is True for v in outcomes.values()),
                    sum(v is False for v in outcomes.values()), sum(v is None for v in outcomes.values()))
        ledger.settle_in_doubt(store, outcomes, now)


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

    Running it again, or after a crash, sends only to those not yet served.

    :param secret_key: signs the per-recipient unsubscribe links.
    :param adapter_factory: makes one transport per connection; defaults to ``[delivery] adapter``.
    :param limit: hand over at most this many messages in this run.
    :param stop: set it (e.g. on SIGTERM) to end the run after the current batches.
    :param progress: called with the number of recipients settled after each batch.
    :raises ContentError: when the issue does not pass the check.
    :raises ConfigError: when the transport refuses the configuration (nothing counted as failed).
    :raises DeliveryError: when the transport cannot be reached at all.
    """
    started = time.monotonic()
    make = adapter_factory or (lambda: make_adapter(settings))
    rendered = prepare(settings, day)
    factory = MessageFactory(rendered, settings, secret_key=secret_key, date=clock())
    send_id = ledger.send_for(store, day, rendered.subject, clock())
    report = SendReport(day, enqueued=ledger.enqueue(store, send_id, clock()))
    first = make()
    _settle_orphans(store, send_id, first, settings, factory.issue_key, clock())
    adapters = [first] + [make() for _ in range(first.connections - 1)]
    run = _Run(store, send_id, factory, settings, adapters=adapters, clock=clock,
               policy=policy or Policy.from_settings(settings), limit=limit, stop=stop or threading.Event(),
               progress=progress)
    log.info("issue %s: run %s starts with %d connection(s), %d new recipients queued",
             factory.issue_key, run.run_id, len(adapters), report.enqueued)
    threads = [threading.Thread(target=run.worker, args=(a,), name=f"send-{i}") for i, a in enumerate(adapters)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        # Ctrl+C: let the workers finish the message in hand, keep the ledger consistent.
        run.stop.set()
        for thread in threads:
            thread.join()
        run.fatal = run.fatal or KeyboardInterrupt()
    now = clock()
    ledger.finish(store, send_id, now)
    report.counts = ledger.counts(store, send_id)
    report.failures = ledger.failures(store, send_id, [DeliveryStatus.FAILED.value, DeliveryStatus.UNCERTAIN.value,
                                                       DeliveryStatus.PENDING.value])
    report.sent_now, report.failed_now, report.stopped = run.sent, run.failed, run.stopped
    report.elapsed = time.monotonic() - started
    log.info("issue %s: run %s ends: %d sent, %d failed in %.1f s; totals %s", factory.issue_key, run.run_id,
             run.sent, run.failed, report.elapsed, report.counts)
    if run.fatal is not None:
        if isinstance(run.fatal, (NewsletterError, KeyboardInterrupt)):
            raise run.fatal
        raise NewsletterError(f"the send stopped on an unexpected error: {run.fatal!r}") from run.fatal
    return report


def send_test(settings: Settings, day: date, addresses: Iterable[Recipient], *, secret_key: str,
              adapter: Adapter | None = None, clock: Clock = utc_now) -> list[Result]:
    """Send the issue to ``addresses`` only, marked "[TEST]" and kept out of the ledger."""
    rendered = prepare(settings, day)
    factory = MessageFactory(rendered, settings, secret_key=secret_key, date=clock(), subject_prefix="[TEST] ",
                             web_url=proof_url(settings.newsletter.base_url, secret_key, day))
    adapter = adapter or make_adapter(settings)
    people = [factory.personal(r) for r in addresses]
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
    from sqlalchemy import func, select

    from newsletter.store.models import Delivery, Send, Subscriber, SubscriberStatus

    rendered = prepare(settings, day)
    factory = MessageFactory(rendered, settings, secret_key=secret_key, date=clock())
    with store.session() as session:
        active = session.scalar(select(func.count()).where(Subscriber.status == SubscriberStatus.ACTIVE.value)) or 0
        served = session.scalar(
            select(func.count()).select_from(Delivery).join(Send, Send.id == Delivery.send_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Send.issue_date == day, Subscriber.status == SubscriberStatus.ACTIVE.value,
                   Delivery.status.in_([DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value,
                                        DeliveryStatus.UNCERTAIN.value]))) or 0
    first = next(iter(list_subscribers(store, status=SubscriberStatus.ACTIVE.value, limit=1)), None)
    recipient = Recipient(first.email, first.first_name, first.last_name) if first else \
        Recipient("camille.martin@example.org", "Camille", "Martin")
    todo = active - served
    if limit is not None:
        todo = min(todo, limit)
    return DryRun(day, todo, served, factory.build(recipient).data, recipient.email)


__all__ = ["DryRun", "Policy", "RateLimiter", "SendReport", "dry_run", "make_adapter", "prepare", "send_issue",
           "send_test"]
