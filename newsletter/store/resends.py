"""A send's resends: an operator's choice to send again the rows left ``uncertain``, who made it,
when, and how many rows it reopened; and who holds a send now, so that a resend waits its turn.

A resend reopens the rows in one transaction with its record (:func:`reopen_uncertain`): they go
back to ``pending`` and the normal engine sends them once, through the ledger, with the
Message-ID of their first attempt. Rows stay recorded after the resend, so that ``status`` and
``history`` can tell what happened to the issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, ForeignKey, Index, Integer, String, Table, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.store import leases
from newsletter.store.database import Store
from newsletter.store.day_claims import day_claim
from newsletter.store.models import Base, DayClaimState, Delivery, DeliveryStatus, Send, UTCDateTime, is_issue
from newsletter.store.workers import live_workers

_SENDS = cast(Table, Send.__table__)
_D = cast(Table, Delivery.__table__)


class SendResend(Base):
    """One resend of a send's uncertain rows (migration 0015)."""

    __tablename__ = "send_resends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), nullable=False)
    resent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    resent_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    rows: Mapped[int] = mapped_column(Integer, default=0, nullable=False)

    __table_args__ = (Index("ix_send_resends_send", "send_id"),)


_R = cast(Table, SendResend.__table__)


@dataclass(frozen=True)
class Resend:
    """One resend of a send: who asked for it, when, and how many uncertain rows it reopened."""

    at: datetime
    by: str
    rows: int


def reopen_uncertain(store: Store, send_id: int, *, by: str, now: datetime) -> int:
    """Give the send's ``uncertain`` rows back to the pool and record who did, in one transaction;
    return how many rows were reopened (nothing is recorded when there were none).

    The rows are not counted as tries (their next try is); their reason says who resent them until
    that try writes its own outcome.
    """
    with store.session() as session:
        reopened = cast(CursorResult[Any], session.execute(
            update(_D).where(_D.c.send_id == send_id, _D.c.status == DeliveryStatus.UNCERTAIN.value)
            .values(status=DeliveryStatus.PENDING.value, run_id="", next_attempt_at=None, updated_at=now,
                    last_error=f"resent on the request of {by}; not sent again yet")))
        rows = int(reopened.rowcount or 0)
        if rows:
            session.execute(_R.insert().values(send_id=send_id, resent_at=now, resent_by=by, rows=rows))
    return rows


def resends_of(store: Store, day: date) -> list[Resend]:
    """Every resend of ``day``'s send, oldest first (empty when there was none or the send never started)."""
    with store.session() as session:
        rows = session.execute(select(_R.c.resent_at, _R.c.resent_by, _R.c.rows)
                               .join(_SENDS, _SENDS.c.id == _R.c.send_id).where(is_issue(_SENDS.c, day))
                               .order_by(_R.c.id)).all()
    return [Resend(*row) for row in rows]


def resent_rows() -> Any:
    """A scalar subquery of the rows resent in all for the send of the enclosing query (``sends``)."""
    return (select(func.coalesce(func.sum(_R.c.rows), 0)).where(_R.c.send_id == _SENDS.c.id)
            .correlate(_SENDS).scalar_subquery())


def holder_of(store: Store, send_id: int, day: date, now: datetime,
              lease: timedelta = leases.DEFAULT_LEASE) -> str:
    """Who holds the send now, in words ("" when nobody does): a run or worker whose lease on it is
    valid, or the scheduler while its claim on the day lives (it may be about to start the send)."""
    runs = live_workers(store, send_id, now)
    if runs:
        who = ", ".join(f"{w.host}" + (f" pid {w.pid}" if w.pid is not None else "") for w in runs)
        return f"{len(runs)} run(s) work on it now ({who}), their lease valid until " \
               f"{max(w.expires_at for w in runs):%H:%M:%S %Z}"
    claim = day_claim(store, day)
    if claim is not None and claim.state is DayClaimState.CLAIMED \
            and leases.alive(store, claim.run_id, now, claim.updated_at, lease):
        return "the scheduler has claimed the day and may be sending it"
    return ""
