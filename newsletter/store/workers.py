"""Workers in the store: which sends are open for them, which runs work on a send now, and whether
this store can coordinate workers at all (PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` claims and a
pace shared through the database; SQLite has one writer and keeps the single-process path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from newsletter.store import dialect, ledger
from newsletter.store.database import Store
from newsletter.core.issue_id import IssueId
from newsletter.store.models import Delivery, DeliveryStatus, Lease, Send, is_issue
from newsletter.store.pauses import SendPause
from newsletter.store.snapshots import SendSnapshot

_L = cast(Table, Lease.__table__)
_D = cast(Table, Delivery.__table__)
#: Rows a run has still to serve.
OPEN_ROWS = (DeliveryStatus.PENDING.value, DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value)
_S = cast(Table, Send.__table__)
_P = cast(Table, SendPause.__table__)
_SNAP = cast(Table, SendSnapshot.__table__)


def supported(store: Store) -> bool:
    """Whether several processes may work on one send through this store (PostgreSQL only)."""
    return dialect.is_postgresql(store.engine)


def supported_url(url: str) -> bool:
    """:func:`supported` for the store ``[store] url`` names, without opening (or creating) it."""
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except ArgumentError:
        return False


@dataclass(frozen=True)
class OpenSend:
    """A send workers may help: started (its render stored), not finished, not paused."""

    send_id: int
    day: date


def open_sends(store: Store, day: date | None = None) -> list[OpenSend]:
    """The sends a worker may help now, oldest issue first (only ``day``'s when given): not finished, or
    finished once and started again for subscribers who joined since (their rows wait)."""
    paused = select(_P.c.id).where(_P.c.send_id == _S.c.id, _P.c.resumed_at.is_(None)).exists()
    waiting = select(_D.c.id).where(_D.c.send_id == _S.c.id, _D.c.status.in_(OPEN_ROWS)).exists()
    query = (select(_S.c.id, _S.c.issue_date, _S.c.edition).join(_SNAP, _SNAP.c.send_id == _S.c.id)
             .where(or_(_S.c.finished_at.is_(None), waiting), ~paused).order_by(_S.c.issue_date, _S.c.edition))
    if day is not None:
        query = query.where(is_issue(_S.c, day))
    with store.session() as session:
        return [OpenSend(r.id, IssueId.stored(r.issue_date, r.edition)) for r in session.execute(query).all()]


def is_paused(store: Store, send_id: int) -> bool:
    """Whether the send is paused now (a run paused it on too many hard bounces): workers stop helping."""
    with store.session() as session:
        return session.scalar(select(_P.c.id).where(_P.c.send_id == send_id, _P.c.resumed_at.is_(None))
                              .limit(1)) is not None


@dataclass(frozen=True)
class LiveWorker:
    """A run working on a send now, as its heartbeat last wrote it."""

    run_id: str
    host: str
    pid: int | None
    messages: int  #: messages it settled
    rate: float  #: messages per second over its recent renewals
    renewed_at: datetime
    expires_at: datetime


def live_workers(store: Store, send_id: int, now: datetime) -> list[LiveWorker]:
    """The runs whose lease on ``send_id`` is valid now, by host and pid."""
    with store.session() as session:
        rows = session.execute(
            select(_L.c.run_id, _L.c.holder, _L.c.messages, _L.c.rate, _L.c.renewed_at, _L.c.expires_at)
            .where(_L.c.send_id == send_id, _L.c.taken_by == "", _L.c.expires_at > now)
            .order_by(_L.c.holder, _L.c.run_id)).all()
    workers = []
    for r in rows:
        host, _, pid = r.holder.rpartition(":")
        workers.append(LiveWorker(r.run_id, host or r.holder, int(pid) if pid.isdigit() else None, r.messages,
                                  r.rate, r.renewed_at, r.expires_at))
    return workers


def schedulers(store: Store, now: datetime) -> tuple[list[LiveWorker], datetime | None]:
    """The scheduler processes alive now (a valid lease that works on no send, renewed by the scheduler's
    heartbeat), and when a scheduler last renewed its lease (None when none did in the two days kept)."""
    with store.session() as session:
        rows = session.execute(
            select(_L.c.run_id, _L.c.holder, _L.c.messages, _L.c.rate, _L.c.renewed_at, _L.c.expires_at,
                   _L.c.taken_by).where(_L.c.send_id.is_(None)).order_by(_L.c.renewed_at.desc())).all()
    alive = []
    for r in rows:
        if r.taken_by == "" and r.expires_at > now:
            host, _, pid = r.holder.rpartition(":")
            alive.append(LiveWorker(r.run_id, host or r.holder, int(pid) if pid.isdigit() else None, r.messages,
                                    r.rate, r.renewed_at, r.expires_at))
    return alive, (rows[0].renewed_at if rows else None)


def settled_by_runs(store: Store, send_id: int, since: datetime) -> int:
    """Messages settled by the runs that worked on ``send_id`` since ``since``, as their leases say
    (each run writes its count there, see :class:`~newsletter.store.leases.Heartbeat`).

    What a progress display reads, often: a few lease rows, where counting the ledger's states would
    read every row of the send each time (on a 1,000,000-row send, a third of a second of the
    database's CPU per look, taken from the workers it watches).
    """
    with store.session() as session:
        return int(session.scalar(select(func.coalesce(func.sum(_L.c.messages), 0))
                                  .where(_L.c.send_id == send_id, _L.c.renewed_at >= since)) or 0)


def live_workers_of(store: Store, day: date, now: datetime) -> list[LiveWorker]:
    """:func:`live_workers` of ``day``'s send (none when it never started)."""
    send_id = ledger.find_send(store, day)
    return [] if send_id is None else live_workers(store, send_id, now)
