"""The render each send was started with (:mod:`newsletter.render.snapshot`), one row per send.

The starting run writes it (a later ``newsletter send`` of the same issue writes its own over it);
workers read it, so that every host builds the messages of that render and no other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ForeignKey, String, Table, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.store.database import Store
from newsletter.store.models import Base, UTCDateTime


class SendSnapshot(Base):
    """A send's render as started (migration 0010)."""

    __tablename__ = "send_snapshots"

    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    layout: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


_T = cast(Table, SendSnapshot.__table__)


@dataclass(frozen=True)
class Snapshot:
    digest: str
    layout: str
    created_at: datetime


def save(store: Store, send_id: int, digest: str, layout: str, now: datetime) -> None:
    """Store the render the send starts (or restarts) with."""
    stmt = store.insert(_T).values(send_id=send_id, digest=digest, layout=layout, created_at=now)
    with store.session() as session:
        session.execute(stmt.on_conflict_do_update(index_elements=["send_id"],
                                                   set_={"digest": digest, "layout": layout, "created_at": now}))


def load(store: Store, send_id: int) -> Snapshot | None:
    """The render the send was started with (None for a send started before workers existed)."""
    with store.session() as session:
        row = session.execute(select(_T.c.digest, _T.c.layout, _T.c.created_at).where(_T.c.send_id == send_id)).first()
    return None if row is None else Snapshot(row.digest, row.layout, row.created_at)
