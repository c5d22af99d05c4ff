"""What comes back after a send: bounces, complaints and unsubscribes reported by a provider or a mailbox.

Every report becomes a :class:`Feedback` and goes through :func:`record_feedback`, whatever
its source (a mail API's webhook, a DSN, an ARF report, a ``mailto:`` unsubscribe):

- **Once.** An event is kept in ``feedback_events``, unique on ``(source, event_id)``:
  a provider that retries its webhook, or a bounce read twice, counts once.
- **Subscriber status.** Hard bounce → ``bounced``; soft bounces are counted per message
  (a provider reporting every retry of one message counts once) and make the subscriber
  ``bounced`` at ``soft_bounce_limit`` messages within ``soft_bounce_days``; complaint →
  ``complained``; unsubscribe → ``unsubscribed``. Statuses only ever get stronger, in this
  order: ``pending``/``active`` < ``bounced`` < ``unsubscribed`` < ``complained``. A bounce
  says nothing about the person's wish, so it never hides an unsubscribe; a spam complaint
  is the strongest signal there is (the person told their mailbox provider), so nothing
  replaces it. Nobody is ever reactivated here.
- **Ledger.** The event is linked to the ledger row (``deliveries``) of the message it is
  about: by the provider's message id (with the subscriber, since a batch shares one id) or
  by our own ids carried in the message (issue date and subscriber). An event that arrives
  before the send recorded its row keeps ``delivery_id`` empty and is linked later, by the
  next event recorded or by any reader (:func:`link_pending`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Callable, Sequence, cast

from sqlalchemy import (Date, ForeignKey, Index, Integer, Select, String, Table, Text, UniqueConstraint, and_,
                        bindparam, literal_column, or_, select, update)
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.core import addresses
from newsletter.errors import AddressError
from newsletter.store import dialect, outbox
from newsletter.store.database import Store
from newsletter.core.issue_id import IssueId, day_of, edition_of
from newsletter.store.models import (Base, Delivery, Send, Subscriber, SubscriberStatus, Suppression, UTCDateTime,
                                     is_issue)

log = logging.getLogger(__name__)


class FeedbackKind(str, Enum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True)
class Feedback:
    """One report about one recipient, as its source gave it."""

    kind: FeedbackKind
    source: str  # "mailgun" | "sendgrid" | "postmark" | "brevo" | "dsn" | "arf" | "mailto"
    event_id: str  # unique per event at its source: the idempotency key (source, event_id)
    occurred_at: datetime  # aware
    email: str | None = None  # the recipient as reported (canonicalized by record_feedback)
    subscriber_id: int | None = None  # when known from our own id or signed token
    issue: date | None = None  # the issue concerned, when known
    provider_message_id: str | None = None
    detail: str = ""  # short reason (SMTP status, DSN diagnostic…); never a message body
    reason: str = ""  # for a bounce, the word of the reasons table (newsletter.feedback.mail.reasons): "mailbox full"…


class FeedbackResult(str, Enum):
    APPLIED = "applied"  # recorded (the subscriber's status may or may not have changed: see the outcome)
    DUPLICATE = "duplicate"  # this (source, event_id) was recorded before; nothing done
    UNMATCHED = "unmatched"  # recorded, but no subscriber has this id or address


@dataclass(frozen=True)
class FeedbackOutcome:
    """What :func:`record_feedback` did."""

    result: FeedbackResult
    subscriber_id: int | None = None
    previous_status: str | None = None
    new_status: str | None = None  # set only when the status changed
    delivery_id: int | None = None  # the ledger row the event is linked to, when found now

    @property
    def changed(self) -> bool:
        return self.new_status is not None


class FeedbackEvent(Base):
    """A recorded event: the proof of a status change and the idempotency key of its source."""

    __tablename__ = "feedback_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    email: Mapped[str] = mapped_column(String(320), default="", nullable=False)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    issue_date: Mapped[date | None] = mapped_column(Date)
    edition: Mapped[str] = mapped_column(String(40), default="", nullable=False)  # migration 0025
    provider_message_id: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(Text, default="", nullable=False)
    reason: Mapped[str] = mapped_column(String(40), default="", nullable=False)  # migration 0016
    status_change: Mapped[str] = mapped_column(String(40), default="", nullable=False)  # "active>bounced"

    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_feedback_once"),
        Index("ix_feedback_subscriber_kind", "subscriber_id", "kind", "occurred_at"),
        Index("ix_feedback_delivery", "delivery_id"),
        Index("ix_feedback_kind_received", "kind", "received_at"),  # migration 0008: a running send's look
    )


_E = cast(Table, FeedbackEvent.__table__)
_D = cast(Table, Delivery.__table__)
_S = cast(Table, Subscriber.__table__)
_SENDS = cast(Table, Send.__table__)

#: How strong a status is: feedback only ever moves a subscriber up this scale (see the module).
STRENGTH = {
    SubscriberStatus.PENDING.value: 0,
    SubscriberStatus.ACTIVE.value: 0,
    SubscriberStatus.BOUNCED.value: 1,
    SubscriberStatus.UNSUBSCRIBED.value: 2,
    SubscriberStatus.COMPLAINED.value: 3,
}
_TARGET = {
    FeedbackKind.HARD_BOUNCE: SubscriberStatus.BOUNCED,
    FeedbackKind.COMPLAINT: SubscriberStatus.COMPLAINED,
    FeedbackKind.UNSUBSCRIBE: SubscriberStatus.UNSUBSCRIBED,
}
#: How long after it arrived an unlinked event is tried again at each new event (ledger rows and
#: provider ids are written within minutes of a send; readers try every unlinked event).
LINK_WINDOW = timedelta(days=3)
_LINK_BATCH = 1000
#: Longest texts kept; a provider's diagnostic can be long, and ids are short.
_MAX_DETAIL = 500
_MAX_ID = 200
_MAX_REASON = 40


def bare_message_id(value: str | None) -> str:
    """A provider message id without the angle brackets some providers put around it."""
    text = (value or "").strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text[:_MAX_ID]


def _canonical(email: str | None) -> str:
    if not email:
        return ""
    try:
        return addresses.canonical(email)
    except AddressError:
        return email.strip().lower()[:320]


def record_feedback(store: Store, event: Feedback, *, now: datetime,
                    soft_bounce_limit: int = 3, soft_bounce_days: int = 7,
                    erased_digest: Callable[[str], str] | None = None) -> FeedbackOutcome:
    """Record one event and apply it to its subscriber and ledger row, in one transaction.

    Idempotent on ``(event.source, event.event_id)``. Never reactivates anyone; a status only
    gets stronger (``bounced`` < ``unsubscribed`` < ``complained``).

    :param erased_digest: the keyed hash of an erased address: an event about an erased reader is
        kept (its id stays the idempotency key) without their address or the diagnostic that names them.
    """
    if event.occurred_at.tzinfo is None:
        raise ValueError("Feedback.occurred_at must be an aware datetime")
    email = _canonical(event.email)
    message_id = bare_message_id(event.provider_message_id)
    with store.session() as session:
        if session.scalar(select(_E.c.id).where(_E.c.source == event.source,
                                                _E.c.event_id == event.event_id[:_MAX_ID])) is not None:
            return FeedbackOutcome(FeedbackResult.DUPLICATE)
        subscriber = _subscriber(session, event.subscriber_id, email, message_id)
        subscriber_id = subscriber.id if subscriber is not None else None
        detail = event.detail[:_MAX_DETAIL]
        if subscriber is None and email and erased_digest is not None and session.scalar(
                select(Suppression.digest).where(Suppression.digest == erased_digest(email))) is not None:
            email, detail = "", ""  # nothing names an erased reader again
        delivery_id = _delivery(session, subscriber_id, event.issue, message_id)
        inserted = session.execute(
            store.insert(_E).values(
                source=event.source, event_id=event.event_id[:_MAX_ID], kind=event.kind.value,
                occurred_at=event.occurred_at, received_at=now, email=email or (subscriber.email if subscriber else ""),
                subscriber_id=subscriber_id, issue_date=day_of(event.issue) if event.issue else None,
                edition=edition_of(event.issue) if event.issue else "", provider_message_id=message_id,
                delivery_id=delivery_id, detail=detail, reason=event.reason[:_MAX_REASON],
            ).on_conflict_do_nothing(index_elements=["source", "event_id"]).returning(_E.c.id)
        ).scalar()
        if inserted is None:  # a concurrent delivery of the same event won
            return FeedbackOutcome(FeedbackResult.DUPLICATE)
        if subscriber is None:
            log.info("%s event %s (%s) matches no subscriber; kept", event.source, event.kind.value,
                     event.event_id[:80])
            return FeedbackOutcome(FeedbackResult.UNMATCHED, delivery_id=delivery_id)
        target = _TARGET.get(event.kind)
        if event.kind is FeedbackKind.SOFT_BOUNCE and _soft_bounces(
                session, subscriber.id, now - timedelta(days=soft_bounce_days)) >= soft_bounce_limit:
            target = SubscriberStatus.BOUNCED
        previous = subscriber.status
        new_status = None
        if target is not None and STRENGTH.get(target.value, 0) > STRENGTH.get(previous, 0):
            weaker = [s for s, n in STRENGTH.items() if n < STRENGTH[target.value]]
            values: dict[str, Any] = {"status": target.value, "updated_at": now}
            if target is SubscriberStatus.UNSUBSCRIBED:
                values["unsubscribed_at"] = now
            changed = session.execute(update(_S).where(_S.c.id == subscriber.id, _S.c.status.in_(weaker))
                                      .values(**values).returning(_S.c.id)).scalar()
            if changed is not None:
                new_status = target.value
                session.execute(update(_E).where(_E.c.id == inserted)
                                .values(status_change=f"{previous}>{new_status}"))
                log.info("subscriber %d is now %s (%s event from %s)", subscriber.id, new_status,
                         event.kind.value, event.source)
                outbox.add_event(session, store.hooks, f"subscriber.{new_status}",
                                 {"email": subscriber.email, "source": event.source,
                                  "issue": event.issue.isoformat() if event.issue else None}, now)
        _link(session, received_since=now - LINK_WINDOW)
        return FeedbackOutcome(FeedbackResult.APPLIED, subscriber.id, previous, new_status, delivery_id)


@dataclass(frozen=True)
class _Found:
    id: int
    email: str
    status: str


def _subscriber(session: Session, subscriber_id: int | None, email: str, message_id: str) -> _Found | None:
    """The subscriber concerned: by our own id, else by address, else by the ledger row of the message.

    The row is locked (PostgreSQL) so that two events for one person are applied one after the other.
    """
    query: Select[Any] = select(_S.c.id, _S.c.email, _S.c.status).with_for_update()
    row = None
    if subscriber_id is not None:
        row = session.execute(query.where(_S.c.id == subscriber_id)).first()
    if row is None and email:
        row = session.execute(query.where(_S.c.email == email)).first()
    if row is None and message_id:
        owners = session.scalars(select(_D.c.subscriber_id).where(_provider_is(message_id)).limit(2)).all()
        if len(owners) == 1:  # one recipient for that id; a batch's shared id needs the address
            row = session.execute(query.where(_S.c.id == owners[0])).first()
    return _Found(row.id, row.email, row.status) if row is not None else None


def _provider_is(message_id: str) -> Any:
    """Ledger rows whose provider id is this one (stored with or without angle brackets).

    The index on provider ids holds only rows that have one (migration 0010); the condition that
    says so is written out, not bound, so that the planner can use it for a prepared statement too.
    """
    return and_(_D.c.provider_id.in_([message_id, f"<{message_id}>"]), _D.c.provider_id != literal_column("''"))


def _delivery(session: Session, subscriber_id: int | None, issue: date | None, message_id: str) -> int | None:
    """The ledger row the event is about, or None when the send has not recorded it (yet)."""
    if subscriber_id is None:
        return None
    if issue is not None:
        found = session.scalar(select(_D.c.id).join(_SENDS, _SENDS.c.id == _D.c.send_id)
                               .where(is_issue(_SENDS.c, issue), _D.c.subscriber_id == subscriber_id))
        if found is not None:
            return int(found)
    if message_id:
        found = session.scalar(select(_D.c.id).where(_provider_is(message_id), _D.c.subscriber_id == subscriber_id)
                               .order_by(_D.c.id.desc()).limit(1))
        if found is not None:
            return int(found)
    return None


def _soft_bounces(session: Session, subscriber_id: int, since: datetime) -> int:
    """Soft-bounced messages of the subscriber since ``since``: one per issue (or message) however often reported."""
    rows = session.execute(
        select(_E.c.issue_date, _E.c.edition, _E.c.provider_message_id, _E.c.event_id)
        .where(_E.c.subscriber_id == subscriber_id, _E.c.kind == FeedbackKind.SOFT_BOUNCE.value,
               _E.c.occurred_at >= since)
    ).all()
    return len({(r.issue_date, r.edition) if r.issue_date else r.provider_message_id or r.event_id for r in rows})


def _link(session: Session, *, received_since: datetime | None = None) -> int:
    """Link the events that arrived before their ledger row to the row, now that it may exist.

    Some events never get a row (a person suppressed before the send is not enqueued): the newest
    unlinked events are tried, and only the recent ones when a webhook is being answered.
    """
    recent = [] if received_since is None else [_E.c.received_at >= received_since]
    pending = session.execute(
        select(_E.c.id, _E.c.subscriber_id, _E.c.issue_date, _E.c.edition, _E.c.provider_message_id)
        .where(_E.c.delivery_id.is_(None), _E.c.subscriber_id.is_not(None),
               or_(_E.c.issue_date.is_not(None), _E.c.provider_message_id != ""), *recent)
        .order_by(_E.c.id.desc()).limit(_LINK_BATCH)
    ).all()
    linked = 0
    for row in pending:
        issue = IssueId.stored(row.issue_date, row.edition) if row.issue_date else None
        found = _delivery(session, row.subscriber_id, issue, row.provider_message_id)
        if found is not None:
            session.execute(update(_E).where(_E.c.id == row.id).values(delivery_id=found))
            linked += 1
    return linked


def editions_sent(store: Store, day: date) -> list[str]:
    """The slugs of the special editions of ``day`` that have a send (what a VERP token of an edition may name)."""
    with store.session() as session:
        return list(session.scalars(select(Send.edition).where(Send.issue_date == day, Send.edition != "")))


def link_pending(store: Store) -> int:
    """Link events that arrived before the send recorded their row; return how many were linked."""
    with store.session() as session:
        return _link(session)


def hard_bounced_rows(store: Store, send_id: int, since: datetime) -> set[int]:
    """Ledger rows of the send that hard-bounce events received since ``since`` are about (what the
    send's bounce brake adds to the bounces it saw itself).

    Called every hundred messages of a running send: the recent events are found first by their
    index, then only their rows are looked up, so the cost does not grow with the ledger.
    """
    with store.session() as session:
        reported = session.scalars(
            select(_E.c.delivery_id).where(_E.c.kind == FeedbackKind.HARD_BOUNCE.value, _E.c.received_at >= since,
                                           _E.c.delivery_id.is_not(None))
        ).all()
        if not reported:
            return set()
        rows = session.scalars(select(_D.c.id).where(_D.c.id.in_(set(reported)), _D.c.send_id == send_id)).all()
    return {int(r) for r in rows}


_MARK_BOUNCED = dialect.Prepared(update(_S).where(_S.c.id == bindparam("b_id"), _S.c.status == SubscriberStatus.ACTIVE.value)
                                 .values(status=SubscriberStatus.BOUNCED.value,
                                         updated_at=bindparam("b_now", type_=UTCDateTime())))


def mark_bounced(store: Store, conn: Any, subscriber_ids: Sequence[int], now: datetime, cursor: Any = None) -> None:
    """Mark these subscribers ``bounced`` (the active ones: a stronger status stays), in the caller's transaction
    ``conn``, with the ``subscriber.bounced`` event of each: what a hard bounce at the handover (SMTP 5.1.x) does,
    for the issue's messages and the correction mail's alike.

    :param cursor: the transaction's driver cursor, when the caller has one open (one executemany).
    """
    if not subscriber_ids:
        return
    if store.hooks.get("subscriber.bounced"):
        active = select(_S.c.email).where(_S.c.id.in_(subscriber_ids), _S.c.status == SubscriberStatus.ACTIVE.value)
        for email in conn.scalars(active):
            outbox.add_event(conn, store.hooks, "subscriber.bounced", {"email": email, "source": "smtp"}, now)
    rows = [{"b_id": key, "b_now": now} for key in subscriber_ids]
    if cursor is None:
        with dialect.driver_cursor(conn) as own:
            _MARK_BOUNCED.run(conn, own, rows)
    else:
        _MARK_BOUNCED.run(conn, cursor, rows)
