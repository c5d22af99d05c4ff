"""A send's shared pace: ``[delivery] rate_per_second`` for the whole send, whatever the number of
workers and hosts (a provider's limit is per account, not per process).

One row per send holds the next free moment (``next_at``). A worker reserves ``n`` messages with one
atomic UPDATE that moves ``next_at`` by ``n / rate`` from the later of itself and the database
server's clock, and learns when its slots begin; it then sleeps until then. The server's clock is
the only one read, so hosts whose clocks differ still share one pace. Rows locked by the UPDATE
serialise the reservations, so two workers never get the same slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import BigInteger, ForeignKey, Table, func, select, type_coerce, update
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.store.database import Store
from newsletter.store.models import Base, UTCDateTime


class SendPacing(Base):
    """The next free slot of a send's pace (migration 0010)."""

    __tablename__ = "send_pacing"

    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)  # messages reserved in all


_P = cast(Table, SendPacing.__table__)


@dataclass(frozen=True)
class Slot:
    """A reservation: its messages may begin ``wait`` seconds from now (the server's now)."""

    wait: float
    start: datetime  #: when the reserved slots begin (the server's clock, UTC)
    reserved: int  #: the send's reservations so far, this one included


def _server_now() -> Any:
    """The database server's clock (UTC, as the store keeps times), read when the statement runs."""
    return type_coerce(func.timezone("UTC", func.clock_timestamp()), UTCDateTime())


def reserve(store: Store, send_id: int, n: int, rate: float) -> Slot:
    """Reserve ``n`` messages of the send's pace at ``rate`` messages per second (PostgreSQL)."""
    span = timedelta(seconds=n / rate)
    now = _server_now()
    with store.session() as session:
        session.execute(store.insert(_P).values(send_id=send_id, next_at=now, reserved=0)
                        .on_conflict_do_nothing(index_elements=["send_id"]))
        row = session.execute(
            update(_P).where(_P.c.send_id == send_id)
            .values(next_at=func.greatest(_P.c.next_at, now) + span, reserved=_P.c.reserved + n)
            .returning(_P.c.next_at, _P.c.reserved, now.label("now"))
        ).one()
    start = row.next_at - span
    server_now = row.now
    return Slot(max(0.0, (start - server_now).total_seconds()), start, int(row.reserved))


def reserved(store: Store, send_id: int) -> tuple[int, datetime | None]:
    """How many messages the send's pace has handed out, and its next free slot (tests, ``status``)."""
    with store.session() as session:
        row = session.execute(select(_P.c.reserved, _P.c.next_at).where(_P.c.send_id == send_id)).first()
    return (0, None) if row is None else (int(row.reserved), row.next_at)


__all__ = ["Slot", "SendPacing", "reserve", "reserved"]
