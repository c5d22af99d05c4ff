"""The send ledger: who must receive an issue, who has, who failed and why.

Each recipient's row moves ``pending → queued → sending → sent | failed | pending (retry)``.
A run *claims* rows by flipping them from ``pending`` to ``queued`` in one statement, so two
processes never hold the same row. ``sending`` is written just before the transport takes a
message irreversibly (SMTP: before the final dot; a mail API: before the call), and only for
the messages being handed over, in the transaction that also writes the outcomes the same
connection learnt since its last write (:func:`record`'s ``then_sending``): one commit per
message, which does not wait for the disk (:func:`~newsletter.store.dialect.commit_without_flush`;
it survives the sender's crash). A row marked ``sending`` is therefore one whose message is on
the wire, or whose answer came and is not written yet, so a crash leaves at most one row per
SMTP connection in doubt; a row the run claimed but had not begun is still ``queued``. A run
owns its rows until its lease expires (:mod:`newsletter.store.leases`); then a row found in
``queued`` was never handed over and is sent again, while one found in ``sending`` is in doubt
and is looked up at the transport it was claimed for (``transport``: the outbox can tell, the
mail APIs can from their records; SMTP cannot, so the row becomes
``uncertain``, never resent).

``attempts`` counts the tries that ended with an outcome, each exactly once, and only here:
:func:`record` adds one for every :class:`Outcome` it writes (sent, failed, in doubt, or back to
pending for a retry), whether the try failed before the point of no return (a greylisted RCPT,
a refused header, an outbox write that failed) or after it; :func:`settle_in_doubt` adds one
for a row a dead run left marked ``sending`` (its try passed the point of no return). A row
given back without an outcome (:func:`release`: a stop before its message began, a
configuration error, a refused request) is not counted. :attr:`Claimed.attempt` is the number
the try in hand will have, which the engine's retry policy reads: ``max_attempts`` tries
always end a row.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence, cast

from sqlalchemy import CursorResult, Integer, String, Table, and_, bindparam, func, literal, or_, select, update

from newsletter.store import dialect, leases, outbox
from newsletter.store.database import Store
from newsletter.core.issue_id import IssueId
from newsletter.store.models import (Delivery, DeliveryStatus, Send, Subscriber, SubscriberStatus, UTCDateTime, is_issue,
                                     issue_key)
from newsletter.store.readers import receives

_D = cast(Table, Delivery.__table__)
_S = cast(Table, Subscriber.__table__)
_SENDS = cast(Table, Send.__table__)
ACTIVE = SubscriberStatus.ACTIVE.value
#: The one place a try is counted: the value ``attempts`` takes when an outcome is written.
_COUNTED = _D.c.attempts + 1
#: The states of a row a run holds (claimed, then marked sending).
_HELD = (DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value)


def new_run_id() -> str:
    """``host:pid:random``: who holds a claimed row (for people; ownership is the run's lease, see leases)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


@dataclass(frozen=True)
class Claimed:
    """A claimed recipient: the ledger row and the subscriber's fields for the merge."""

    delivery_id: int
    subscriber_id: int
    email: str
    first_name: str
    last_name: str
    attempts: int  #: tries already recorded
    click_consent: bool = False  #: agreed that their own clicks be recognised ([analytics] per_subscriber)

    @property
    def attempt(self) -> int:
        """The number of the try in hand once it is recorded (1 for the first)."""
        return self.attempts + 1


def get_or_create_send(store: Store, day: date, subject: str, now: datetime) -> int:
    """The id of the issue's send, created on first use (safe against a concurrent creator)."""
    values = {**issue_key(day), "subject": subject, "created_at": now}
    table = cast(Table, Send.__table__)
    stmt = store.insert(table).values(**values)
    with store.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            stmt.on_conflict_do_nothing(index_elements=["issue_date", "edition"]))
        if result.rowcount:
            outbox.add_event(session, store.hooks, "send.started", {"issue": day.isoformat(), "subject": subject,
                                                                     "resumed": False}, now)
        return int(session.scalar(select(Send.id).where(is_issue(Send, day))) or 0)


def find_send(store: Store, day: date) -> int | None:
    with store.session() as session:
        return session.scalar(select(Send.id).where(is_issue(Send, day)))


@dataclass(frozen=True)
class Coverage:
    """How far an issue has gone among the active subscribers."""

    active: int  #: active subscribers now
    served: int  #: of them, those whose row for the issue has an outcome (sent, failed or uncertain)


def coverage(store: Store, day: date, now: datetime) -> Coverage:
    """Active subscribers the issue goes to at ``now`` (daily readers not paused), and how many of them the
    issue of ``day`` has served (what a dry run shows)."""
    done = [DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value, DeliveryStatus.UNCERTAIN.value]
    with store.session() as session:
        active = session.scalar(select(func.count()).select_from(_S).where(receives(day, now))) or 0
        served = session.scalar(
            select(func.count()).select_from(_D)
            .join(_SENDS, _SENDS.c.id == _D.c.send_id).join(_S, _S.c.id == _D.c.subscriber_id)
            .where(is_issue(_SENDS.c, day), receives(day, now), _D.c.status.in_(done))) or 0
    return Coverage(int(active), int(served))


def enqueue(store: Store, send_id: int, now: datetime, *, issue: date | None = None) -> int:
    """Add a pending row for every subscriber the issue goes to at ``now`` (active, daily, not paused:
    :func:`~newsletter.store.readers.receives`; weekly readers for the weekly roundup ``issue``)
    who has none yet; return how many were added."""
    source = select(
        literal(send_id, Integer()), _S.c.id, _S.c.email, literal(DeliveryStatus.PENDING.value, String()),
        literal(now, UTCDateTime()), literal(now, UTCDateTime()),
    ).where(receives(issue, now))
    stmt = store.insert(_D).from_select(
        ["send_id", "subscriber_id", "email", "status", "created_at", "updated_at"], source
    ).on_conflict_do_nothing(index_elements=["send_id", "subscriber_id"])
    # SQLAlchemy keeps an INSERT's row count only when asked (PostgreSQL's driver reports it; else -1).
    stmt = stmt.execution_options(preserve_rowcount=True)
    with store.session() as session:
        result = cast(CursorResult[Any], session.execute(stmt))
        return int(result.rowcount or 0)


def has_work(store: Store, send_id: int, now: datetime, *, issue: date | None = None) -> bool:
    """Whether the send has rows not settled yet (pending, queued, sending) or subscribers without a
    row whom :func:`enqueue` would add at ``now``."""
    open_states = [DeliveryStatus.PENDING.value, DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value]
    open_rows = select(_D.c.id).where(_D.c.send_id == send_id, _D.c.status.in_(open_states))
    served = select(_D.c.id).where(_D.c.send_id == send_id, _D.c.subscriber_id == _S.c.id)
    newcomers = select(_S.c.id).where(receives(issue, now), ~served.exists())
    with store.session() as session:
        return bool(session.scalar(select(open_rows.exists() | newcomers.exists())))


def orphans(store: Store, send_id: int, now: datetime, lease: timedelta = leases.DEFAULT_LEASE, *,
            taker: str = "another run") -> tuple[list[int], list[tuple[int, str]]]:
    """Rows held by runs whose lease expired, now taken over by the caller (``taker``, its run id):
    (queued ids to release, (id, email) of rows in doubt); see :func:`take_over_rows`. Rows of a run
    whose lease is valid are left alone."""
    with store.session() as session:
        holders = session.execute(
            select(_D.c.run_id, func.max(_D.c.updated_at))
            .where(_D.c.send_id == send_id, _D.c.status.in_(_HELD))
            .group_by(_D.c.run_id)
        ).all()
    dead = leases.take_over(store, {run: _aware(touched) for run, touched in holders}, now, lease, taker=taker)
    if not dead:
        return [], []
    return take_over_rows(store, send_id, dead, taker, now)


def take_over_rows(store: Store, send_id: int, dead: Iterable[str], owner: str,
                   now: datetime) -> tuple[list[int], list[tuple[int, str]]]:
    """Make ``owner`` the holder of the rows the ``dead`` runs left open, in one statement, and say which
    may be on the wire: (ids of rows never marked ``sending``: certainly not sent, to release; (id, email)
    of rows marked ``sending``: possibly taken by the transport, to settle as in doubt).

    The dead runs' writes are conditional on holding the row (:func:`record`), so a run that was only
    frozen writes nothing over these rows when it wakes: its marks and outcomes no longer match them.
    """
    with store.session() as session:
        rows = session.execute(
            update(_D).where(_D.c.send_id == send_id, _D.c.run_id.in_(list(dead)), _D.c.status.in_(_HELD))
            .values(run_id=owner, updated_at=now).returning(_D.c.id, _D.c.email, _D.c.status)
        ).all()
    rows = sorted(rows, key=lambda r: r.id)
    queued = [r.id for r in rows if r.status == DeliveryStatus.QUEUED.value]
    in_doubt = [(r.id, r.email) for r in rows if r.status == DeliveryStatus.SENDING.value]
    return queued, in_doubt


def held_elsewhere(store: Store, send_id: int, run_id: str) -> dict[str, int]:
    """Rows of the send that other runs hold (queued or sending): {run id: count}."""
    with store.session() as session:
        rows = session.execute(
            select(_D.c.run_id, func.count())
            .where(_D.c.send_id == send_id, _D.c.run_id != run_id,
                   _D.c.status.in_([DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value]))
            .group_by(_D.c.run_id)
        ).all()
    return {run: n for run, n in rows}


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def release(store: Store, ids: Iterable[int], now: datetime, *, reason: str = "", sending_too: bool = False,
            run_id: str | None = None) -> None:
    """Give queued rows back to the pool.

    :param run_id: only rows this run still holds (not those another run took over since).

    :param sending_too: also rows marked sending, when the transport says for sure that it
        refused them. Nothing is counted: a released row has no outcome.
    """
    ids = list(ids)
    if ids:
        statuses = [DeliveryStatus.QUEUED.value] + ([DeliveryStatus.SENDING.value] if sending_too else [])
        values: dict[str, object] = {"status": DeliveryStatus.PENDING.value, "run_id": "", "updated_at": now}
        if reason:
            values["last_error"] = reason
        mine = [] if run_id is None else [_D.c.run_id == run_id]
        with store.session() as session:
            session.execute(update(_D).where(_D.c.id.in_(ids), _D.c.status.in_(statuses), *mine).values(**values))


def release_run(store: Store, send_id: int, run_id: str, now: datetime, *, reason: str = "") -> int:
    """Give back every row ``run_id`` holds unmarked (claimed, never marked sending): what a run that has
    ended leaves so (a stop, ``--limit``, a claim whose commit was cut). Return how many."""
    values: dict[str, object] = {"status": DeliveryStatus.PENDING.value, "run_id": "", "updated_at": now}
    if reason:
        values["last_error"] = reason
    with store.session() as session:
        result = cast(CursorResult[Any], session.execute(
            update(_D).where(_D.c.send_id == send_id, _D.c.run_id == run_id,
                             _D.c.status == DeliveryStatus.QUEUED.value).values(**values)))
        return int(result.rowcount)


#: The reason of a row a stopped run left marked sending, when the adapter cannot tell whether it arrived. Only
#: what the ledger knows: the mark is written as the message is handed over, just before its final dot, so such
#: a row may never have left, or the server may have taken it.
IN_DOUBT_AFTER_A_STOP = ("its run stopped after marking it sending and before recording a reply: it may have "
                         "reached the server, or not; not resent, to avoid a double send")


def settle_in_doubt(store: Store, outcomes: dict[int, bool | None], now: datetime, *,
                    provider_ids: Mapping[int, str] | None = None, run_id: str | None = None) -> None:
    """Record what the adapter knows of rows a dead run left sending: True sent (with its id from
    ``provider_ids``, when the transport gave one), False not sent, None unknown.

    :param run_id: only rows this run holds (the run that took them over)."""
    ids = provider_ids or {}
    with store.session() as session:
        for delivery_id, delivered in outcomes.items():
            if delivered is True:
                values = {"status": DeliveryStatus.SENT.value, "sent_at": now, "provider_id": ids.get(delivery_id, ""),
                          "last_error": "confirmed delivered after an interrupted run"}
            elif delivered is False:
                values = {"status": DeliveryStatus.PENDING.value, "run_id": "",
                          "last_error": "not sent: the run stopped before the transport took it; the next run sends it"}
            else:
                values = {"status": DeliveryStatus.UNCERTAIN.value, "last_error": IN_DOUBT_AFTER_A_STOP}
            mine = [] if run_id is None else [_D.c.run_id == run_id]
            session.execute(update(_D).where(_D.c.id == delivery_id, _D.c.status == DeliveryStatus.SENDING.value,
                                             *mine).values(updated_at=now, attempts=_COUNTED, **values))


@dataclass(frozen=True)
class InDoubtRow:
    """A row in doubt, with what a lookup at its transport needs."""

    delivery_id: int
    email: str
    transport: str  #: the adapter of the run that claimed it ("" before migration 0014)
    changed_at: datetime  #: when it was marked sending, or recorded uncertain
    send_created_at: datetime  #: the send's start: nothing of it reached a transport before


def in_doubt(store: Store, send_id: int, *, transport: str, ids: Iterable[int] | None = None,
             limit: int | None = None, status: DeliveryStatus = DeliveryStatus.UNCERTAIN) -> list[InDoubtRow]:
    """The send's rows in ``status`` (uncertain, or sending) claimed for ``transport``, oldest first; only
    ``ids`` when given."""
    query = (select(_D.c.id, _D.c.email, _D.c.transport, _D.c.updated_at, _SENDS.c.created_at)
             .join(_SENDS, _SENDS.c.id == _D.c.send_id)
             .where(_D.c.send_id == send_id, _D.c.status == status.value, _D.c.transport == transport)
             .order_by(_D.c.id))
    if ids is not None:
        query = query.where(_D.c.id.in_(list(ids)))
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        rows = session.execute(query).all()
    return [InDoubtRow(r.id, r.email, r.transport, _aware(r.updated_at) or r.updated_at,
                       _aware(r.created_at) or r.created_at) for r in rows]


def settle_uncertain(store: Store, sent: Mapping[int, str], unsent: Mapping[int, str], now: datetime) -> None:
    """Record what a lookup proved about ``uncertain`` rows: ``sent`` (id → the transport's id) found at the
    transport, ``unsent`` (id → why) proved never to have arrived, back to pending. Their try was counted
    when they became uncertain; nothing is counted again."""
    row = _D.c.id == bindparam("b_id")
    uncertain = _D.c.status == DeliveryStatus.UNCERTAIN.value
    with store.session() as session:
        if sent:
            session.execute(update(_D).where(row, uncertain).values(
                status=DeliveryStatus.SENT.value, updated_at=now, sent_at=now, provider_id=bindparam("b_provider_id"),
                last_error="found at the provider after the answer was lost"),
                [{"b_id": k, "b_provider_id": v} for k, v in sent.items()])
        if unsent:
            session.execute(update(_D).where(row, uncertain).values(
                status=DeliveryStatus.PENDING.value, updated_at=now, run_id="", next_attempt_at=None,
                last_error=bindparam("b_error")), [{"b_id": k, "b_error": v} for k, v in unsent.items()])


def claim(store: Store, send_id: int, run_id: str, limit: int, now: datetime, *, transport: str = "",
          consent: bool = False) -> list[Claimed]:
    """Take up to ``limit`` due pending rows for this run, to hand to ``transport`` (the adapter's name, kept
    on the row: a row in doubt is looked up there). Rows of subscribers who left are skipped. ``consent``:
    also read each subscriber's consent to per-reader click counts (``[analytics] per_subscriber``).

    One statement on both databases; on PostgreSQL its rows are picked ``FOR UPDATE SKIP LOCKED``, so
    workers claiming at the same moment get different rows without waiting for each other.
    """
    due = dialect.rows_to_claim(store.engine, (
        select(_D.c.id)
        .where(_D.c.send_id == send_id, _D.c.status == DeliveryStatus.PENDING.value,
               or_(_D.c.next_attempt_at.is_(None), _D.c.next_attempt_at <= now))
        .order_by(_D.c.id)
        .limit(limit)
    ))
    with store.transaction() as conn:
        claimed_ids = conn.scalars(
            update(_D).where(_D.c.id.in_(due), _D.c.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.QUEUED.value, run_id=run_id, updated_at=now, transport=transport)
            .returning(_D.c.id)
        ).all()
        if not claimed_ids:
            return []
        rows = conn.execute(
            select(_D.c.id, _D.c.subscriber_id, _D.c.attempts, _S.c.email, _S.c.first_name, _S.c.last_name,
                   _S.c.status, (_S.c.click_consent_at.is_not(None) if consent else literal(False)).label("consent"))
            .join(_S, _S.c.id == _D.c.subscriber_id).where(_D.c.id.in_(claimed_ids)).order_by(_D.c.id)
        ).all()
        gone = [r.id for r in rows if r.status != ACTIVE]
        if gone:
            conn.execute(update(_D).where(_D.c.id.in_(gone)).values(
                status=DeliveryStatus.SKIPPED.value, last_error="unsubscribed before the send", updated_at=now))
    return [Claimed(r.id, r.subscriber_id, r.email, r.first_name, r.last_name, r.attempts, bool(r.consent))
            for r in rows if r.status == ACTIVE]


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row in this run."""

    delivery_id: int
    status: DeliveryStatus
    error: str = ""
    provider_id: str = ""
    retry_at: datetime | None = None


# The statements of every message's write, compiled once and run on the driver's cursor: building and
# running them through SQLAlchemy cost 600 µs of CPU a message (SQLite), five round trips on PostgreSQL.
_ROW = _D.c.id == bindparam("b_id")
_NOW = bindparam("b_now", type_=UTCDateTime())
#: The fence of a run's writes: the row is still this run's (``b_run``), queued or sending. Plain comparisons:
#: an IN list cannot take part in an executemany.
_FENCE = and_(_D.c.run_id == bindparam("b_run"), or_(*(_D.c.status == state for state in _HELD)))


def _both(values: dict[str, Any]) -> tuple[dialect.Prepared, dialect.Prepared]:
    """The update of one row to ``values``: (unfenced, fenced by :data:`_FENCE`)."""
    return (dialect.Prepared(update(_D).where(_ROW).values(**values)),
            dialect.Prepared(update(_D).where(_ROW, _FENCE).values(**values)))


_WRITE_SENT = _both(dict(status=DeliveryStatus.SENT.value, updated_at=_NOW, sent_at=_NOW, last_error="",
                         provider_id=bindparam("b_provider_id"), attempts=_COUNTED))
_WRITE_RETRY = _both(dict(status=DeliveryStatus.PENDING.value, updated_at=_NOW, last_error=bindparam("b_error"),
                          run_id="", next_attempt_at=bindparam("b_retry_at", type_=UTCDateTime()), attempts=_COUNTED))
_WRITE_OTHER = _both(dict(status=bindparam("b_status"), updated_at=_NOW, last_error=bindparam("b_error"),
                          attempts=_COUNTED))
_MARK_SENDING = _both(dict(status=DeliveryStatus.SENDING.value, updated_at=_NOW))
def record(store: Store, outcomes: Iterable[Outcome], now: datetime, *, bounced: Iterable[int] = (),
           then_sending: Sequence[int] = (), run_id: str | None = None) -> int:
    """Write a batch of outcomes in one transaction, each counted as one try; in the same transaction,
    mark the ``bounced`` subscribers (hard bounces among them) and the rows ``then_sending`` sending:
    the messages about to pass the point of no return (the sender writes the outcomes it has with them).

    A transaction that marks rows commits without waiting for the disk
    (:func:`~newsletter.store.dialect.commit_without_flush`): it comes before every message, and
    must survive the sender's crash, which it does. The outcomes alone (a batch's last ones) wait.
    One executemany per kind of write, on PostgreSQL all in one round trip, and one commit.

    :param run_id: the fence: write only over rows this run still holds (queued or sending). A run
        frozen past its lease finds its rows taken over (:func:`take_over_rows`) and writes nothing.
    :return: how many of ``then_sending`` were marked.
    """
    sent: list[dict[str, object]] = []
    retry: list[dict[str, object]] = []
    other: list[dict[str, object]] = []
    for o in outcomes:
        if o.status is DeliveryStatus.SENT:
            sent.append({"b_id": o.delivery_id, "b_provider_id": o.provider_id, "b_now": now})
        elif o.status is DeliveryStatus.PENDING:
            retry.append({"b_id": o.delivery_id, "b_error": o.error, "b_retry_at": o.retry_at, "b_now": now})
        else:
            other.append({"b_id": o.delivery_id, "b_status": o.status.value, "b_error": o.error, "b_now": now})
    fenced = run_id is not None
    run = {"b_run": run_id} if fenced else {}
    with store.transaction() as conn, dialect.driver_cursor(conn) as cursor:
        if then_sending:
            dialect.commit_without_flush(cursor, conn)
        _WRITE_SENT[fenced].run(conn, cursor, [{**row, **run} for row in sent])
        _WRITE_RETRY[fenced].run(conn, cursor, [{**row, **run} for row in retry])
        _WRITE_OTHER[fenced].run(conn, cursor, [{**row, **run} for row in other])
        if bounced:
            from newsletter.store.feedback import mark_bounced  # only a hard bounce needs the feedback tables

            mark_bounced(store, conn, list(bounced), now, cursor)
        if not then_sending:
            return 0
        _MARK_SENDING[fenced].run(conn, cursor, [{"b_id": key, "b_now": now, **run} for key in then_sending])
        return dialect.rows_changed(conn, cursor)


def next_due(store: Store, send_id: int) -> datetime | None:
    """When the earliest pending row becomes due (None when nothing is pending)."""
    with store.session() as session:
        return _aware(session.scalar(
            select(func.min(func.coalesce(_D.c.next_attempt_at, _D.c.created_at)))
            .where(_D.c.send_id == send_id, _D.c.status == DeliveryStatus.PENDING.value)))


def counts(store: Store, send_id: int) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(select(_D.c.status, func.count()).where(_D.c.send_id == send_id)
                               .group_by(_D.c.status)).all()
    return {status: n for status, n in rows}


def failures(store: Store, send_id: int, statuses: Iterable[str]) -> list[tuple[str, str, int]]:
    """(status, reason, count) for rows not delivered, most frequent reason first."""
    with store.session() as session:
        rows = session.execute(
            select(_D.c.status, _D.c.last_error, func.count().label("n"))
            .where(_D.c.send_id == send_id, _D.c.status.in_(list(statuses)))
            .group_by(_D.c.status, _D.c.last_error).order_by(func.count().desc())
        ).all()
    return [(r.status, r.last_error, r.n) for r in rows]


def finish(store: Store, send_id: int, now: datetime) -> None:
    with store.session() as session:
        open_rows = session.scalar(select(func.count()).where(
            _D.c.send_id == send_id,
            _D.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value])))
        if not open_rows:
            result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(_SENDS).where(_SENDS.c.id == send_id, _SENDS.c.finished_at.is_(None)).values(finished_at=now))
            if result.rowcount and store.hooks.get("send.finished"):
                sent = session.execute(select(_SENDS.c.issue_date, _SENDS.c.edition).where(_SENDS.c.id == send_id)).first()
                day = IssueId.stored(sent.issue_date, sent.edition) if sent else None
                rows = session.execute(select(_D.c.status, func.count()).where(_D.c.send_id == send_id)
                                       .group_by(_D.c.status)).all()
                totals = {status: n for status, n in rows}
                outbox.add_event(session, store.hooks, "send.finished",
                                 {"issue": day.isoformat() if day else "", "counts": totals}, now)

