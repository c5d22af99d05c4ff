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

Bounces are also counted by their reason (the word of :mod:`newsletter.feedback.mail.reasons` the event
kept: "user unknown", "mailbox full"…), hard and soft apart, each row once per kind and reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Mapping, cast

from sqlalchemy import Connection, ScalarSelect, Table, func, select, union, update

from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.feedback import FeedbackEvent, FeedbackKind, link_pending
from newsletter.core.issue_id import IssueId
from newsletter.store.models import Delivery, DeliveryStatus, Send, Subscriber, SubscriberStatus, is_issue
from newsletter.store.pauses import SendPause
from newsletter.store.resends import resent_rows

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
                           .where(is_issue(_SENDS.c, day))).first()
    return SendRecord(day, *row[1:]) if row is not None else None


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
class BounceReason:
    """How many rows of a send bounced (hard or soft) for one reason ("" when the event named none)."""

    kind: str  # "hard" | "soft"
    reason: str
    rows: int


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
    uncertain: int = 0  # rows in doubt (a stopped run, no answer): not resent unless an operator asks
    resent: int = 0  # uncertain rows an operator had resent, over all the send's resends
    bounce_reasons: tuple[BounceReason, ...] = ()  # most rows first, hard before soft

    @property
    def complaint_rate(self) -> float:
        """Complaints per message sent (what Gmail measures), 0 before anything was sent."""
        return self.complained / self.sent if self.sent else 0.0

    @property
    def complaints_too_high(self) -> bool:
        """Above Gmail's 0.3 % line."""
        return self.complaint_rate > GMAIL_COMPLAINT_LINE


def history(store: Store, *, limit: int | None = None, day: date | None = None,
            counts: Mapping[str, int] | None = None) -> list[HistoryRow]:
    """The sends, newest issue first, with their figures; ``day``: that issue only, and ``counts`` its
    rows per state when the caller has just counted them (not counted again).

    Two queries whose cost follows the sends asked for, not the whole ledger: the count of rows
    per state (an index-only scan of each send's rows), then per send what came back, each kind
    found from its few rows (failed rows, events, subscribers who left) through their indexes.
    """
    link_pending(store)  # events that arrived before their ledger row count too
    chosen = select(_SENDS.c.id).order_by(_SENDS.c.issue_date.desc(), _SENDS.c.edition)
    if day is not None:
        chosen = chosen.where(is_issue(_SENDS.c, day))
    if limit:
        chosen = chosen.limit(limit)
    paused = select(_P.c.id).where(_P.c.send_id == _SENDS.c.id, _P.c.resumed_at.is_(None)).exists()
    query = (select(_SENDS.c.id, _SENDS.c.issue_date, _SENDS.c.subject, _SENDS.c.created_at, _SENDS.c.finished_at,
                    _SENDS.c.override_by, _rows_with(FeedbackKind.HARD_BOUNCE), _rows_with(FeedbackKind.COMPLAINT),
                    _rows_with(FeedbackKind.UNSUBSCRIBE), paused, resent_rows(), _SENDS.c.edition)
             .where(_SENDS.c.id.in_(chosen))
             .order_by(_SENDS.c.issue_date.desc(), _SENDS.c.edition))
    with store.engine.connect() as conn:
        sends = conn.execute(query).all()
        states: dict[int, dict[str, int]] = {r.id: {} for r in sends}
        if day is not None and counts is not None:
            states = {r.id: dict(counts) for r in sends}
        elif states:
            for send_id, status, n in conn.execute(
                    select(_D.c.send_id, _D.c.status, func.count()).where(_D.c.send_id.in_(list(states)))
                    .group_by(_D.c.send_id, _D.c.status)):
                states[send_id][status] = int(n)
        reasons = _bounce_reasons(conn, list(states))
    return [HistoryRow(day=IssueId.stored(r.issue_date, r.edition), subject=r.subject, started_at=r.created_at, finished_at=r.finished_at,
                       recipients=sum(states[r.id].values()), sent=states[r.id].get(DeliveryStatus.SENT.value, 0),
                       failed=states[r.id].get(DeliveryStatus.FAILED.value, 0), bounced=int(r[6]),
                       unsubscribed=int(r[8]), override_by=r.override_by, complained=int(r[7]), paused=bool(r[9]),
                       uncertain=states[r.id].get(DeliveryStatus.UNCERTAIN.value, 0), resent=int(r[10]),
                       bounce_reasons=tuple(reasons.get(r.id, ())))
            for r in sends]


_BOUNCE_KINDS = {FeedbackKind.HARD_BOUNCE.value: "hard", FeedbackKind.SOFT_BOUNCE.value: "soft"}


def _bounce_reasons(conn: Connection, send_ids: list[int]) -> dict[int, list[BounceReason]]:
    """{send id: its bounced rows by kind and reason}, from the bounce events linked to its rows."""
    if not send_ids:
        return {}
    found: dict[int, list[BounceReason]] = {}
    rows = conn.execute(
        select(_D.c.send_id, _E.c.kind, _E.c.reason, func.count(func.distinct(_E.c.delivery_id)))
        .join(_D, _D.c.id == _E.c.delivery_id)
        .where(_D.c.send_id.in_(send_ids), _E.c.kind.in_(list(_BOUNCE_KINDS)))
        .group_by(_D.c.send_id, _E.c.kind, _E.c.reason)
    ).all()
    for send_id, kind, reason, n in rows:
        found.setdefault(send_id, []).append(BounceReason(_BOUNCE_KINDS[kind], reason, int(n)))
    for reasons in found.values():
        reasons.sort(key=lambda b: (b.kind != "hard", -b.rows, b.reason))
    return found


def _rows_with(kind: FeedbackKind) -> ScalarSelect[int]:
    """How many rows of the send (``sends`` of the enclosing query) came back as ``kind``, each row once.

    The rows are the union of those an event of that kind is about and, for bounces, the rows
    refused at the send whose address is now bounced, for unsubscribes, the rows of subscribers
    who unsubscribed after the send started. Each part starts from its few rows, never from all
    of the send's.
    """
    rows = [select(_E.c.delivery_id.label("row")).join(_D, _D.c.id == _E.c.delivery_id)
            .where(_E.c.kind == kind.value, _D.c.send_id == _SENDS.c.id).correlate(_SENDS)]
    if kind is FeedbackKind.HARD_BOUNCE:
        rows.append(select(_D.c.id.label("row")).join(_S, _S.c.id == _D.c.subscriber_id)
                    .where(_D.c.send_id == _SENDS.c.id, _D.c.status == DeliveryStatus.FAILED.value,
                           _S.c.status == SubscriberStatus.BOUNCED.value).correlate(_SENDS))
    elif kind is FeedbackKind.UNSUBSCRIBE:
        rows.append(select(_D.c.id.label("row")).join(_S, _S.c.id == _D.c.subscriber_id)
                    .where(_S.c.status == SubscriberStatus.UNSUBSCRIBED.value,
                           _S.c.unsubscribed_at >= _SENDS.c.created_at, _D.c.send_id == _SENDS.c.id)
                    .correlate(_SENDS))
    found = union(*rows).subquery() if len(rows) > 1 else rows[0].distinct().subquery()
    return select(func.count()).select_from(found).correlate(_SENDS).scalar_subquery()


def issue_figures(store: Store, day: date, *, counts: Mapping[str, int] | None = None) -> HistoryRow | None:
    """The history line of ``day``'s send (what ``status`` shows), None when it never started;
    ``counts``: its rows per state, when the caller has them."""
    found = history(store, day=day, counts=counts)
    return found[0] if found else None
