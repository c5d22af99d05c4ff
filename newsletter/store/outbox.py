"""The outgoing webhooks' outbox (migration 0021): one row per event and receiver.

An event is written by :func:`add_event` inside the transaction of the change that causes it
(a send's row, a subscriber's status), so an event is never lost when the change is kept, nor
told when the change is rolled back. The worker of ``serve`` and the scheduler takes the rows
due (:func:`due`), posts them and writes the outcome; the ``event_id`` stays the same across
retries, so a receiver that got an event twice can tell.

Which receivers want which event is the store's :attr:`~newsletter.store.database.Store.hooks`
(set from ``[[hooks]]`` when the project opens the store): without hooks nothing is written.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, cast

from sqlalchemy import Connection, Index, Integer, String, Table, Text, UniqueConstraint, and_, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.store.database import Store
from newsletter.store.models import Base, UTCDateTime

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class HookEventRow(Base):
    __tablename__ = "hook_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), nullable=False)  # msg_…, the webhook-id header
    hook: Mapped[str] = mapped_column(String(2000), nullable=False)  # the receiver's url
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # the JSON body, exactly as posted
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("event_id", "hook", name="uq_hook_event_once"),
                      Index("ix_hook_outbox_state_next", "state", "next_attempt_at"))


_O = cast(Table, HookEventRow.__table__)


@dataclass(frozen=True)
class HookEvent:
    """One event for one receiver, as ``hooks list`` shows it and the worker posts it."""

    row_id: int
    event_id: str
    hook: str
    type: str
    payload: str
    state: str
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


def _event(row: Any) -> HookEvent:
    return HookEvent(row.id, row.event_id, row.hook, row.type, row.payload, row.state, row.attempts, row.last_error,
                     row.created_at, row.next_attempt_at, row.delivered_at)


def new_event_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def add_event(db: Session | Connection, routes: Mapping[str, tuple[str, ...]], type_: str, data: Mapping[str, Any],
              now: datetime) -> str | None:
    """Write the event ``type_`` for every receiver that wants it, in the caller's transaction; its id (None:
    no receiver wants it, nothing written)."""
    hooks = routes.get(type_, ())
    if not hooks:
        return None
    event_id = new_event_id()
    body = json.dumps({"type": type_, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": dict(data)},
                      ensure_ascii=False, separators=(",", ":"), default=str)
    db.execute(_O.insert(), [dict(event_id=event_id, hook=hook, type=type_, payload=body, state=PENDING, attempts=0,
                                  last_error="", created_at=now, next_attempt_at=now) for hook in hooks])
    return event_id


def record_event(store: Store, type_: str, data: Mapping[str, Any], now: datetime) -> str | None:
    """:func:`add_event` in a transaction of its own, for a change that is not in the database (an approval's file)."""
    if not store.hooks.get(type_):
        return None
    with store.transaction() as connection:
        return add_event(connection, store.hooks, type_, data, now)


def due(store: Store, now: datetime, limit: int = 20) -> list[HookEvent]:
    """The pending rows whose time has come, oldest first."""
    with store.session() as session:
        rows = session.execute(select(_O).where(_O.c.state == PENDING, or_(_O.c.next_attempt_at.is_(None),
                                                                          _O.c.next_attempt_at <= now))
                               .order_by(_O.c.id).limit(limit))
        return [_event(row) for row in rows]


def claim(store: Store, row_id: int, now: datetime, until: datetime) -> bool:
    """Hold a due row until ``until`` (another process's worker leaves it); False when one already did."""
    with store.session() as session:
        result = session.execute(update(_O).where(
            _O.c.id == row_id, _O.c.state == PENDING,
            or_(_O.c.next_attempt_at.is_(None), _O.c.next_attempt_at <= now)).values(next_attempt_at=until))
        return bool(getattr(result, "rowcount", 0))


def delivered(store: Store, row_id: int, now: datetime) -> None:
    with store.session() as session:
        session.execute(update(_O).where(_O.c.id == row_id).values(
            state=DELIVERED, attempts=_O.c.attempts + 1, delivered_at=now, next_attempt_at=None, last_error=""))


def attempt_failed(store: Store, row_id: int, error: str, retry_at: datetime | None) -> None:
    """Write a failed attempt: tried again at ``retry_at``, or given up (``failed``) when None."""
    with store.session() as session:
        session.execute(update(_O).where(_O.c.id == row_id).values(
            state=PENDING if retry_at is not None else FAILED, attempts=_O.c.attempts + 1, last_error=error[:2000],
            next_attempt_at=retry_at))


def list_events(store: Store, *, state: str | None = None, limit: int = 50) -> list[HookEvent]:
    """The latest rows, newest first (of one state when given)."""
    with store.session() as session:
        query = select(_O).order_by(_O.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(_O.c.state == state)
        return [_event(row) for row in session.execute(query)]


def retry(store: Store, now: datetime, *, event_id: str | None = None) -> int:
    """Make failed rows (of one event, or all) pending again from ``now``, with a new day of retries; how many."""
    with store.session() as session:
        condition = and_(_O.c.state == FAILED, _O.c.event_id == event_id) if event_id else _O.c.state == FAILED
        result = session.execute(update(_O).where(condition).values(
            state=PENDING, attempts=0, next_attempt_at=now, created_at=now))
        return int(getattr(result, "rowcount", 0) or 0)
