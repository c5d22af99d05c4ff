"""One-time tokens already used: Mailgun's signature tokens, and the confirmation links of the web form.

A token is claimed with one atomic insert (``INSERT … ON CONFLICT DO NOTHING RETURNING``): of
requests racing with the same token exactly one wins, on SQLite as on PostgreSQL, where a
check followed by an insert let several through. A webhook's token is released again when its
request could not be recorded (a database outage), so that the provider's retry is accepted.
Tokens older than their source's window are forgotten: a request or a link that old is refused
by its own timestamp anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Index, String, Table, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.store.database import Store
from newsletter.store.models import Base, UTCDateTime


class WebhookToken(Base):
    __tablename__ = "webhook_tokens"

    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    token: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_webhook_tokens_seen_at", "seen_at"),)


_T = cast(Table, WebhookToken.__table__)


def claim(store: Store, source: str, token: str, *, now: datetime, keep: timedelta) -> bool:
    """Remember ``token`` for ``source``; False when it was already there (a replay).

    Forgets the source's tokens older than ``keep`` in the same transaction.
    """
    with store.session() as session:
        return claim_in(session, store, source, token, now=now, keep=keep)


def claim_in(session: Session, store: Store, source: str, token: str, *, now: datetime, keep: timedelta) -> bool:
    """:func:`claim` inside the caller's transaction (the claim lands with what the token allows, or not at all)."""
    session.execute(delete(_T).where(_T.c.source == source, _T.c.seen_at < now - keep))
    inserted = session.execute(store.insert(_T).values(source=source, token=token, seen_at=now)
                               .on_conflict_do_nothing(index_elements=["source", "token"])
                               .returning(_T.c.token)).scalar()
    return inserted is not None


def release(store: Store, source: str, token: str) -> None:
    """Forget a claimed token whose request could not be recorded, so that a retry with it is accepted."""
    with store.session() as session:
        session.execute(delete(_T).where(_T.c.source == source, _T.c.token == token))
