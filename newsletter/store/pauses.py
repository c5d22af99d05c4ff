"""A send's pauses: when its bounce rate made it stop itself, why, and when an operator resumed it.

A pause is one row per stop; the send is paused while its latest row has no ``resumed_at``.
Rows stay after a resume, so that ``status`` can tell what happened to the issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, Table, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.store import outbox
from newsletter.store.database import Store
from newsletter.core.issue_id import IssueId
from newsletter.store.models import Base, Send, UTCDateTime, is_issue

_SENDS = cast(Table, Send.__table__)


class SendPause(Base):
    """A send that paused itself (migration 0008)."""

    __tablename__ = "send_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), nullable=False)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    bounces: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    messages: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_send_pauses_send", "send_id"),)


_P = cast(Table, SendPause.__table__)


@dataclass(frozen=True)
class Pause:
    """One pause of a send."""

    id: int
    paused_at: datetime
    reason: str
    bounces: int
    messages: int
    resumed_at: datetime | None

    @property
    def current(self) -> bool:
        return self.resumed_at is None


def _issue(session: Session, send_id: int) -> str:
    row = session.execute(select(_SENDS.c.issue_date, _SENDS.c.edition).where(_SENDS.c.id == send_id)).first()
    return IssueId.stored(row.issue_date, row.edition).isoformat() if row else ""


def record_pause(store: Store, send_id: int, *, reason: str, bounces: int, messages: int, now: datetime) -> int:
    """Write down that the send paused itself; return the pause's id (also the key of its alert)."""
    with store.session() as session:
        pause_id = int(session.execute(_P.insert().values(send_id=send_id, paused_at=now, reason=reason,
                                                          bounces=bounces, messages=messages).returning(_P.c.id))
                       .scalar_one())
        if store.hooks.get("send.paused"):
            outbox.add_event(session, store.hooks, "send.paused",
                             {"issue": _issue(session, send_id), "reason": reason, "bounces": bounces,
                              "messages": messages}, now)
        return pause_id


def resume(store: Store, send_id: int, now: datetime) -> Pause | None:
    """Clear the send's pause (a new run starts); return the pause cleared, None when it was not paused."""
    with store.session() as session:
        row = session.execute(select(_P).where(_P.c.send_id == send_id, _P.c.resumed_at.is_(None))
                              .order_by(_P.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        session.execute(update(_P).where(_P.c.send_id == send_id, _P.c.resumed_at.is_(None)).values(resumed_at=now))
        if store.hooks.get("send.started"):
            outbox.add_event(session, store.hooks, "send.started",
                             {"issue": _issue(session, send_id), "resumed": True}, now)
    return Pause(row.id, row.paused_at, row.reason, row.bounces, row.messages, now)


def pauses_of(store: Store, day: date) -> list[Pause]:
    """Every pause of ``day``'s send, oldest first (empty when it never paused or never started)."""
    with store.session() as session:
        rows = session.execute(select(_P.c.id, _P.c.paused_at, _P.c.reason, _P.c.bounces, _P.c.messages,
                                      _P.c.resumed_at)
                               .join(_SENDS, _SENDS.c.id == _P.c.send_id).where(is_issue(_SENDS.c, day))
                               .order_by(_P.c.id)).all()
    return [Pause(*row) for row in rows]


def current_pause(store: Store, day: date) -> Pause | None:
    """The pause ``day``'s send is in now, or None."""
    found = [p for p in pauses_of(store, day) if p.current]
    return found[-1] if found else None
