"""The correction mail's send: each reader who received a corrected issue is told once.

Through the configured transport and the correction mail's own ledger (:mod:`newsletter.store.corrections`),
with the send engine's parts: the run's lease and heartbeat (:mod:`newsletter.store.leases`), the
transport's ``handover`` just before the point of no return (rows are marked ``sending`` there, and
only there), its rate limit and retry policy, and messages built as an issue's are (List-Unsubscribe,
a text part, a deterministic Message-ID of their own). A run that dies leaves its rows to the next:
``queued`` ones are sent, ``sending`` ones are in doubt and never sent again; a reader who left since
the issue (unsubscribed, bounced, complained, erased) is skipped. A reader whose address the receiving server
refuses for good (a hard bounce, SMTP 5.1.x) is marked ``bounced``, as the issue's send marks them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Sequence

from newsletter.config import Settings
from newsletter.core.clock import Clock
from newsletter.delivery.base import Adapter, Failed, InDoubt, Outgoing, RetryLater, Sent, make_adapter
from newsletter.delivery.engine import Policy, RateLimiter
from newsletter.errors import Stopped
from newsletter.render.mime import MessageFactory, Recipient
from newsletter.store import corrections, leases, ledger
from newsletter.store.database import Store
from newsletter.store.models import DeliveryStatus

log = logging.getLogger(__name__)

#: How many rows a run claims at once (a few: a crash leaves at most one in doubt per connection anyway).
BATCH = 20


@dataclass(frozen=True)
class MailReport:
    """The correction mail's rows by status once the run ended, and what this run did."""

    counts: dict[str, int]
    sent: int  #: sent by this run
    held_elsewhere: int  #: rows another live run holds (it finishes them)

    @property
    def complete(self) -> bool:
        return not any(self.counts.get(s.value, 0) for s in
                       (DeliveryStatus.PENDING, DeliveryStatus.QUEUED, DeliveryStatus.SENDING))


def send_correction_mail(settings: Settings, store: Store, correction_id: int, factory: MessageFactory, *,
                         clock: Clock, environ: Mapping[str, str] | None = None) -> MailReport:
    """Send the correction mail to every reader of its ledger not told yet, then report.

    :raises ConfigError: when the transport refuses the configuration (rows not handed over wait).
    """
    lease = timedelta(seconds=settings.delivery.lease_seconds)
    run_id = ledger.new_run_id()
    heartbeat = leases.Heartbeat(store, run_id, duration=lease, clock=clock).start()
    policy = Policy.from_settings(settings)
    sent = 0
    pause = threading.Event()  # never set: the run's waits, in real time
    held = 0
    try:
        adapter = make_adapter(settings, environ)
        limiter = RateLimiter(settings.delivery.rate_per_second) if adapter.paced else None
        adapter.use_layout(factory.layout)
        adapter.open()
        try:
            # Rows another run holds are its own until its lease expires (it may be sending them now); then
            # this run takes them over. It waits for that at most twice a lease: a live run renews its own.
            patience = time.monotonic() + 2 * lease.total_seconds()
            while heartbeat.holds(clock()):
                _, uncertain, held = corrections.take_over_dead(store, correction_id, run_id, clock(), lease)
                if uncertain:
                    log.warning("correction %s: %s message(s) in doubt after a run died; they are not sent again",
                                factory.issue_key, uncertain)
                batch = corrections.claim(store, correction_id, run_id, BATCH, clock())
                if not batch:
                    if not held or time.monotonic() > patience:
                        break
                    pause.wait(min(1.0, lease.total_seconds() / 6))
                    continue
                sent_now, retry = _deliver(store, adapter, factory, batch, run_id, heartbeat, clock, limiter, policy)
                sent += sent_now
                if retry:  # the transport asked to wait: the rows wait in pending, the run a little
                    pause.wait(min(policy.delay(retry).total_seconds(), 5.0))
        finally:
            adapter.close()
    finally:
        heartbeat.stop()
    return MailReport(corrections.mail_counts(store, correction_id), sent, held)


def _deliver(store: Store, adapter: Adapter, factory: MessageFactory, batch: Sequence[corrections.MailClaim],
             run_id: str, heartbeat: leases.Heartbeat, clock: Clock, limiter: RateLimiter | None,
             policy: Policy) -> tuple[int, int]:
    """Hand one claimed batch over; return (sent, the highest try number of a row to retry, 0 if none)."""
    sender = factory.settings.newsletter.sender_address
    outgoing: list[Outgoing] = []
    attempts = {row.row_id: row.attempts + 1 for row in batch}
    subscribers = {row.row_id: row.subscriber_id for row in batch}
    for row in batch:
        try:
            person = factory.personal(Recipient(row.email, row.first_name, row.last_name, row.subscriber_id))
            message = factory.build_from(person) if adapter.wants_mime else None
        except Exception as err:  # noqa: BLE001  this reader's address or name alone: only they fail
            corrections.settle(store, row.row_id, run_id, DeliveryStatus.FAILED, clock(),
                               error=f"this recipient's message cannot be built: {err}")
            continue
        outgoing.append(Outgoing(row.row_id, person, person.envelope_from or sender, message))
    handed: set[int] = set()

    def handover(items: Sequence[Outgoing]) -> None:
        if limiter is not None:
            limiter.acquire(len(items))
        keys = [item.key for item in items]
        if not heartbeat.holds(clock()) or corrections.mark_sending(store, keys, run_id, clock()) < len(keys):
            raise Stopped()  # another run may own these rows now: nothing more is handed over
        handed.update(keys)

    done: set[int] = set()
    sent = retry = 0
    try:
        for results in adapter.send(outgoing, handover):
            for result in results:
                done.add(result.key)
                if isinstance(result, Sent):
                    corrections.settle(store, result.key, run_id, DeliveryStatus.SENT, clock())
                    sent += 1
                elif isinstance(result, RetryLater) and not policy.gives_up(attempts[result.key]):
                    corrections.settle(store, result.key, run_id, DeliveryStatus.PENDING, clock(), error=result.error)
                    retry = max(retry, attempts[result.key])
                elif isinstance(result, InDoubt):
                    corrections.settle(store, result.key, run_id, DeliveryStatus.UNCERTAIN, clock(), error=result.error)
                else:
                    assert isinstance(result, (Failed, RetryLater))
                    bounced = subscribers[result.key] if isinstance(result, Failed) and result.bounced else None
                    corrections.settle(store, result.key, run_id, DeliveryStatus.FAILED, clock(), error=result.error,
                                       bounced=bounced)
    except Stopped:
        pass
    finally:
        for item in outgoing:  # what the transport never answered: back to the queue unless handed over
            if item.key not in done:
                status = DeliveryStatus.UNCERTAIN if item.key in handed else DeliveryStatus.PENDING
                corrections.settle(store, item.key, run_id, status, clock(), counted=item.key in handed,
                                   error="the transport gave no answer" if item.key in handed else "")
    return sent, retry
