"""What happened to each issue sent: when its send ran, who overrode the approval, and the
figures of the history view and of ``status`` (recipients, sent, failed, and what came back:
bounced, complained, unsubscribed, with the complaint rate against Gmail's 0.3 % line).

What came back is counted per ledger row of the issue, each row once per kind, from the ledger
and the feedback events (webhooks, DSNs, ARF reports, mailto unsubscribes; see
:mod:`newsletter.store.feedback`):

- **bounced**: a hard-bounce event about the row, or a row refused at the send whose address is
  now marked bounced (an SMTP 5.1.x refusal);
- **complained**: a spam-complaint event about the row;
- **unsubscribed**: an unsubscribe event about the row, or a recipient who unsubscribed (by the
  link, the desk or the command line) after the send started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select, update

from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.feedback import FeedbackEvent, FeedbackKind, link_pending
from newsletter.store.models import Delivery, DeliveryStatus, Send, Subscriber, SubscriberStatus
from newsletter.store.pauses import SendPause

_SENDS = cast(Table, Send.__table__)
_D = cast(Table, Delivery.__table__)
_S = cast(Table, Subscriber.__table__)
_E = cast(Table, FeedbackEvent.__table__)
_P = cast(Table, SendPause.__table__)

#: Gmail's line: senders whose spam-complaint rate stays above 0.3 % are throttled or blocked
#: (Google's sender guidelines, February 2024; Yahoo's are the same).
GMAIL_COMPLAINT_LINE = 0.003


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
    bounced: int  # rows that hard-bounced (see the module)
    unsubscribed: int  # rows whose recipient unsubscribed after the send started
    override_by: str
    complained: int = 0  # rows a spam complaint was reported about
    paused: bool = False  # the send paused itself and waits for an operator

    @property
    def complaint_rate(self) -> float:
        """Complaints per message sent (what Gmail measures), 0 before anything was sent."""
        return self.complained / self.sent if self.sent else 0.0

    @property
    def complaints_too_high(self) -> bool:
        """Above Gmail's 0.3 % line."""
        return self.complaint_rate > GMAIL_COMPLAINT_LINE


def history(store: Store, *, limit: int | None = None, day: date | None = None) -> list[HistoryRow]:
    """The sends, newest issue first, with their figures (one query); ``day``: that issue only."""
    def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def reported(kind: FeedbackKind) -> ColumnElement[int]:
        return func.max(case((_E.c.kind == kind.value, 1), else_=0))

    link_pending(store)  # events that arrived before their ledger row count too
    # One line per ledger row that has events: which kinds were reported about it.
    events = (select(_E.c.delivery_id.label("delivery_id"), reported(FeedbackKind.HARD_BOUNCE).label("hard"),
                     reported(FeedbackKind.COMPLAINT).label("complaint"),
                     reported(FeedbackKind.UNSUBSCRIBE).label("unsubscribe"))
              .where(_E.c.delivery_id.is_not(None)).group_by(_E.c.delivery_id).subquery())
    paused = select(_P.c.id).where(_P.c.send_id == _SENDS.c.id, _P.c.resumed_at.is_(None)).exists()
    query = (
        select(_SENDS.c.issue_date, _SENDS.c.subject, _SENDS.c.created_at, _SENDS.c.finished_at,
               func.count(_D.c.id),
               count_where(_D.c.status == DeliveryStatus.SENT.value),
               count_where(_D.c.status == DeliveryStatus.FAILED.value),
               count_where(or_(events.c.hard == 1, and_(_D.c.status == DeliveryStatus.FAILED.value,
                                                        _S.c.status == SubscriberStatus.BOUNCED.value))),
               count_where(or_(events.c.unsubscribe == 1,
                               and_(_S.c.status == SubscriberStatus.UNSUBSCRIBED.value,
                                    _S.c.unsubscribed_at >= _SENDS.c.created_at))),
               _SENDS.c.override_by,
               count_where(events.c.complaint == 1),
               paused)
        .select_from(_SENDS.outerjoin(_D, _D.c.send_id == _SENDS.c.id).outerjoin(_S, _S.c.id == _D.c.subscriber_id)
                     .outerjoin(events, events.c.delivery_id == _D.c.id))
        .group_by(_SENDS.c.id)
        .order_by(_SENDS.c.issue_date.desc())
    )
    if day is not None:
        query = query.where(_SENDS.c.issue_date == day)
    if limit:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        return [HistoryRow(day=r[0], subject=r[1], started_at=r[2], finished_at=r[3], recipients=r[4], sent=r[5],
                           failed=r[6], bounced=r[7], unsubscribed=r[8], override_by=r[9], complained=int(r[10]),
                           paused=bool(r[11])) for r in conn.execute(query)]


def issue_figures(store: Store, day: date) -> HistoryRow | None:
    """The history line of ``day``'s send (what ``status`` shows), None when it never started."""
    found = history(store, day=day)
    return found[0] if found else None
