"""Webhook tokens already used (Mailgun's signature token): a signed request replayed within its window is refused.

A token is remembered once its request was processed, so a request that failed (a database
outage) can be retried by the provider with the same token. Tokens older than the replay
window are forgotten: a request that old is refused by its timestamp anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Index, String, Table, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.store.database import Store
from newsletter.store.models import Base, UTCDateTime


class WebhookToken(Base):
    __tablename__ = "webhook_tokens"

    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    token: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_webhook_tokens_seen_at", "seen_at"),)


_T = cast(Table, WebhookToken.__table__)


def was_used(store: Store, source: str, token: str) -> bool:
    """Whether a processed request already carried this token."""
    with store.session() as session:
        return session.scalar(select(_T.c.token).where(_T.c.source == source, _T.c.token == token)) is not None


def remember(store: Store, source: str, token: str, *, now: datetime, keep: timedelta) -> None:
    """Keep the token of a processed request, and forget those older than ``keep``."""
    with store.session() as session:
        session.execute(store.insert(_T).values(source=source, token=token, seen_at=now)
                        .on_conflict_do_nothing(index_elements=["source", "token"]))
        session.execute(delete(_T).where(_T.c.seen_at < now - keep))
