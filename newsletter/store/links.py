"""What ``check --links`` found for each address, kept a day so that checking again costs no requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.store.database import Store
from newsletter.store.models import Base, UTCDateTime


class LinkCheck(Base):
    __tablename__ = "link_checks"

    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    status: Mapped[int] = mapped_column(Integer, nullable=False)  # 0: no answer (``error`` says why)
    final_url: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


@dataclass(frozen=True)
class LinkState:
    """One address's state: its final status and address, or why there was no answer."""

    url: str
    status: int
    final_url: str
    error: str
    checked_at: datetime


def recent_checks(store: Store, urls: Iterable[str], since: datetime) -> dict[str, LinkState]:
    """The states of ``urls`` checked at or after ``since``."""
    wanted = list(dict.fromkeys(urls))
    if not wanted:
        return {}
    with store.session() as session:
        rows = session.execute(select(LinkCheck).where(LinkCheck.url.in_(wanted), LinkCheck.checked_at >= since))
        return {row.url: LinkState(row.url, row.status, row.final_url, row.error, row.checked_at)
                for row in rows.scalars()}


def save_checks(store: Store, states: Iterable[LinkState]) -> None:
    """Keep ``states`` (each replaces the address's former one)."""
    states = list(states)
    if not states:
        return
    with store.session() as session:
        session.execute(delete(LinkCheck).where(LinkCheck.url.in_([s.url for s in states])))
        session.add_all(LinkCheck(url=s.url, status=s.status, final_url=s.final_url, error=s.error,
                                  checked_at=s.checked_at) for s in states)
