"""The tables: subscribers, one send per issue, and the delivery ledger.

The ledger holds one row per (send, subscriber). Its unique constraint makes a double send
impossible even with two processes: a recipient can only be claimed by flipping that row
from ``pending`` to ``queued``, which one process at a time wins.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from enum import Enum

from typing import Any

from sqlalchemy import (ColumnElement, Date, DateTime, Dialect, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, and_)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from newsletter.core.issue_id import day_of, edition_of


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class SubscriberStatus(str, Enum):
    PENDING = "pending"  # waiting for a double opt-in confirmation
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


#: Statuses that an import, an `add` or anything but an explicit opt-in never reverts.
SUPPRESSED = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)


class Frequency(str, Enum):
    """How often a reader receives the newsletter: every issue, or only the weekly roundup."""

    DAILY = "daily"
    WEEKLY = "weekly"


class DeliveryStatus(str, Enum):
    PENDING = "pending"  # to send (again, after ``next_attempt_at`` when set)
    QUEUED = "queued"  # claimed by a run, not yet handed to the transport
    SENDING = "sending"  # handed over, outcome not recorded: in doubt if the run died here
    SENT = "sent"
    FAILED = "failed"  # permanent failure, or retries exhausted
    SKIPPED = "skipped"  # the subscriber left between enqueue and send
    UNCERTAIN = "uncertain"  # a run died while the transport held it; not resent


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    first_name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    last_name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    status: Mapped[str] = mapped_column(String(20), default=SubscriberStatus.ACTIVE.value, nullable=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_source: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    consent_ip: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the reader agreed that their own clicks be recognised ([analytics] per_subscriber; migration 0017).
    click_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Migration 0019: what the reader chose on their preferences page (or an import, or the desk).
    frequency: Mapped[str] = mapped_column(String(10), default=Frequency.DAILY.value, nullable=False)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # no issue before then

    __table_args__ = (Index("ix_subscribers_status", "status"),)


class Send(Base):
    """One issue's send to the list (test sends are not recorded)."""

    __tablename__ = "sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)
    # The special edition's slug, "" for the daily issue (migration 0025; newsletter.core.issue_id).
    edition: Mapped[str] = mapped_column(String(40), default="", nullable=False)
    subject: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when an operator sent it without the approval that [schedule] require_approval asks for.
    override_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    override_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    override_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("issue_date", "edition", name="uq_sends_issue"),)


class Delivery(Base):
    """The ledger: one row per recipient of a send."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), nullable=False)
    # Empty (and ``email`` too) once the subscriber was erased: the row keeps the send's counts (0019).
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING.value, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    provider_id: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    run_id: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    # The adapter of the run that claimed it (migration 0014): a row in doubt is looked up there, and only there.
    transport: Mapped[str] = mapped_column(String(40), default="", nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("send_id", "subscriber_id", name="uq_delivery_once"),
        Index("ix_deliveries_send_status_id", "send_id", "status", "id"),  # claims in id order (0010)
    )


class DayClaimState(str, Enum):
    CLAIMED = "claimed"  # a scheduler process is sending it
    DONE = "done"  # the send ran to its end
    WAITING = "waiting"  # the readiness gate failed; tried again until the grace period ends
    SKIPPED = "skipped"  # not sent on schedule (gate still failing at the deadline, or missed while down)


class DayClaim(Base):
    """What the scheduler did about one day's issue; the row is also the claim that stops two
    scheduler processes from sending the same issue (table ``dispatches`` before migration 0005)."""

    __tablename__ = "day_claims"

    issue_date: Mapped[date] = mapped_column(Date, primary_key=True)
    edition: Mapped[str] = mapped_column(String(40), primary_key=True, default="")  # migration 0025
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    run_id: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Migration 0002 also made an ``alerted`` column (server default ""); nothing reads it: alerts
    # sent are the ``alerts`` table's rows, once per day and reason for the whole store.


class Lease(Base):
    """A run's hold on what it claimed (ledger rows, a day's claim), valid until ``expires_at``.

    The run renews it by heartbeat; once it has expired another run may take over what the run
    held. Unlike a process id, a lease means the same in a container, after a restart that kept
    the host name, or on another host.
    """

    __tablename__ = "leases"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="", nullable=False)  # host:pid, for people only
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    taken_by: Mapped[str] = mapped_column(String(64), default="", nullable=False)  # who settles what it held
    # What ``status`` shows of a live worker (migration 0010), written by its heartbeat.
    send_id: Mapped[int | None] = mapped_column(Integer)  # the send it works on (None: a scheduler's lease)
    messages: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # messages it settled
    rate: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)  # messages/s over its recent window


class Alert(Base):
    """An operator alert already sent: one per day and reason for the whole store, whatever the processes."""

    __tablename__ = "alerts"

    issue_date: Mapped[date] = mapped_column(Date, primary_key=True)
    edition: Mapped[str] = mapped_column(String(40), primary_key=True, default="")  # migration 0025
    reason: Mapped[str] = mapped_column(String(200), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class WelcomeMail(Base):
    """The welcome ledger (migration 0019): one row per subscriber greeted, claimed (``sending``) before
    the transport takes the message, so a second confirmation or a crash never sends a second welcome."""

    __tablename__ = "welcome_mails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(20), nullable=False)  # sending | sent | failed
    error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (UniqueConstraint("subscriber_id", name="uq_welcome_once"),)


class Suppression(Base):
    """An erased address (migration 0019), kept only as its keyed hash: no import, API call or webhook
    adds it back; the reader's own double opt-in through the form removes it."""

    __tablename__ = "suppressions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)  # "erased"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


def issue_key(day: date) -> dict[str, Any]:
    """The columns that name an issue (a date, or an :class:`~newsletter.core.issue_id.IssueId`) in a row."""
    return {"issue_date": day_of(day), "edition": edition_of(day)}


def is_issue(columns: Any, day: date) -> ColumnElement[bool]:
    """The rows of ``columns`` (a table's ``.c``, or a mapped class) that are about the issue ``day``."""
    return and_(columns.issue_date == day_of(day), columns.edition == edition_of(day))
