"""What happened to each issue sent: when its send ran, who overrode the approval, and the
figures of the history view (recipients, sent, failed, bounced, unsubscribed since)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, case, func, select, update

from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.models import Delivery, DeliveryStatus, Send, Subscriber, SubscriberStatus

_SENDS = cast(Table, Send.__table__)
_D = cast(Table, Delivery.__table__)
_S = cast(Table, Subscriber.__table__)


@dataclass(frozen=True)
class SendRecord:
    """One issue's send as the store keeps it."""

    day: date
    subject: str
    started_at: datetime
    finished_at: datetime | None
    override_by: str
    override_reason: str
    override_at: datetime | None


def send_record(store: Store, day: date) -> SendRecord | None:
    """The send of ``day``, or None when it never started."""
    with store.engine.connect() as conn:
        row = conn.execute(select(_SENDS.c.issue_date, _SENDS.c.subject, _SENDS.c.created_at, _SENDS.c.finished_at,
                                  _SENDS.c.override_by, _SENDS.c.override_reason, _SENDS.c.override_at)
                           .where(_SENDS.c.issue_date == day)).first()
    return SendRecord(*row) if row is not None else None


def is_sent(store: Store, day: date) -> bool:
    """True when the issue's send has run to its end (nobody left to serve)."""
    record = send_record(store, day)
    return record is not None and record.finished_at is not None


def record_override(store: Store, day: date, subject: str, *, by: str, reason: str, now: datetime) -> None:
    """Write down that ``by`` sends the issue without a current approval, and why (the latest use wins)."""
    send_id = ledger.get_or_create_send(store, day, subject, now)
    with store.session() as session:
        session.execute(update(_SENDS).where(_SENDS.c.id == send_id)
                        .values(override_by=by, override_reason=reason, override_at=now))


@dataclass(frozen=True)
class HistoryRow:
    """One line of ``newsletter history``."""

    day: date
    subject: str
    started_at: datetime
    finished_at: datetime | None
    recipients: int
    sent: int
    failed: int
    bounced: int  # recipients of this issue whose address is now marked bounced
    unsubscribed: int  # recipients who unsubscribed after the send started
    override_by: str


def history(store: Store, *, limit: int | None = None) -> list[HistoryRow]:
    """The sends, newest issue first, with their figures (one query)."""
    def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = (
        select(_SENDS.c.issue_date, _SENDS.c.subject, _SENDS.c.created_at, _SENDS.c.finished_at,
               func.count(_D.c.id),
               count_where(_D.c.status == DeliveryStatus.SENT.value),
               count_where(_D.c.status == DeliveryStatus.FAILED.value),
               count_where(_S.c.status == SubscriberStatus.BOUNCED.value),
               count_where(and_(_S.c.status == SubscriberStatus.UNSUBSCRIBED.value,
                                _S.c.unsubscribed_at >= _SENDS.c.created_at)),
               _SENDS.c.override_by)
        .select_from(_SENDS.outerjoin(_D, _D.c.send_id == _SENDS.c.id).outerjoin(_S, _S.c.id == _D.c.subscriber_id))
        .group_by(_SENDS.c.id)
        .order_by(_SENDS.c.issue_date.desc())
    )
    if limit:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        return [HistoryRow(*row) for row in conn.execute(query)]
