"""Counted links: the links each send counts (``click_links``) and the clicks on them (``clicks``).

A click row keeps the issue, the link (position, index or feedback kind), the message's nonce, the
time, the method and the name of the scanner its agent announced (``""`` for any other): no address,
no subscriber, no IP address, no user agent. Whether a click came from a person is judged when the
figures are read (:mod:`newsletter.library.clicks`), from all the clicks of its nonce. Rows older
than ``[analytics] keep_days`` are purged (:func:`purge`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, cast

from sqlalchemy import CursorResult, Index, Integer, String, Table, Text, delete, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.core.issue_id import IssueId, day_of
from newsletter.store.database import Store
from newsletter.store.models import Base, Delivery, DeliveryStatus, Send, Subscriber, UTCDateTime


class ClickLink(Base):
    """A link a send counts, and where it leads (migration 0017)."""

    __tablename__ = "click_links"

    issue: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    link: Mapped[str] = mapped_column(String(3), primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, default="", nullable=False)
    tag: Mapped[str] = mapped_column(String(200), default="", nullable=False)


class Click(Base):
    """One request of a counted link (migration 0017)."""

    __tablename__ = "clicks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue: Mapped[str] = mapped_column(String(60), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    link: Mapped[str] = mapped_column(String(3), nullable=False)
    nonce: Mapped[str] = mapped_column(String(12), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    method: Mapped[str] = mapped_column(String(8), default="GET", nullable=False)
    agent: Mapped[str] = mapped_column(String(40), default="", nullable=False)

    __table_args__ = (Index("ix_clicks_issue_nonce", "issue", "nonce"), Index("ix_clicks_at", "at"))


_L = cast(Table, ClickLink.__table__)
_C = cast(Table, Click.__table__)
_D = cast(Table, Delivery.__table__)
_SENDS = cast(Table, Send.__table__)
_S = cast(Table, Subscriber.__table__)


@dataclass(frozen=True)
class LinkRow:
    """A counted link as stored."""

    issue: str
    position: int
    link: str
    url: str
    title: str = ""
    tag: str = ""


@dataclass(frozen=True)
class ClickRow:
    """A click as stored."""

    issue: str
    position: int
    link: str
    nonce: str
    at: datetime
    method: str = "GET"
    agent: str = ""


def save_links(store: Store, links: Iterable[LinkRow]) -> None:
    """Record the links a send counts (again: a later run of the same send writes the same ones)."""
    rows = [vars(link) for link in links]
    if not rows:
        return
    with store.session() as session:
        for row in rows:
            session.execute(store.insert(_L).values(**row).on_conflict_do_update(
                index_elements=["issue", "position", "link"],
                set_={"url": row["url"], "title": row["title"], "tag": row["tag"]}))


def links_of(store: Store, issue: str) -> list[LinkRow]:
    """The links ``issue``'s send counts, by position and link."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(_L.c.issue, _L.c.position, _L.c.link, _L.c.url, _L.c.title, _L.c.tag)
                            .where(_L.c.issue == issue).order_by(_L.c.position, _L.c.link)).all()
    return [LinkRow(*row) for row in rows]


def links_since(store: Store, first_issue: str) -> list[LinkRow]:
    """The counted links of every issue from ``first_issue`` on (issue keys sort as dates)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(_L.c.issue, _L.c.position, _L.c.link, _L.c.url, _L.c.title, _L.c.tag)
                            .where(_L.c.issue >= first_issue).order_by(_L.c.issue, _L.c.position)).all()
    return [LinkRow(*row) for row in rows]


def record(store: Store, clicks: list[ClickRow]) -> None:
    """Write a batch of clicks in one transaction."""
    if clicks:
        with store.transaction() as conn:
            conn.execute(_C.insert(), [vars(click) for click in clicks])


def clicks_of(store: Store, issues: Iterable[str]) -> list[ClickRow]:
    """Every click of these issues, oldest first."""
    wanted = list(issues)
    if not wanted:
        return []
    with store.engine.connect() as conn:
        rows = conn.execute(select(_C.c.issue, _C.c.position, _C.c.link, _C.c.nonce, _C.c.at, _C.c.method,
                                   _C.c.agent).where(_C.c.issue.in_(wanted)).order_by(_C.c.at, _C.c.id)).all()
    return [ClickRow(*row) for row in rows]


def first_delivery(store: Store, days: Iterable[date]) -> dict[str, datetime]:
    """{issue: when its first message was handed over}: no click on it can come from a reader sooner."""
    wanted = list(days)
    if not wanted:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(select(_SENDS.c.issue_date, _SENDS.c.edition, func.min(_D.c.sent_at))
                            .join(_D, _D.c.send_id == _SENDS.c.id)
                            .where(_SENDS.c.issue_date.in_({day_of(d) for d in wanted}),
                                   _D.c.status == DeliveryStatus.SENT.value)
                            .group_by(_SENDS.c.issue_date, _SENDS.c.edition)).all()
    asked = {d.isoformat() for d in wanted}
    found = {IssueId.stored(day, edition).isoformat(): at for day, edition, at in rows if at is not None}
    return {key: at for key, at in found.items() if key in asked}


def purge(store: Store, before: datetime) -> int:
    """Forget the clicks older than ``before``; how many were deleted."""
    with store.transaction() as conn:
        return _changed(conn.execute(delete(_C).where(_C.c.at < before)))


def set_consent(store: Store, email: str, at: datetime | None) -> bool:
    """Record (``at``) or withdraw (None) a subscriber's consent to per-reader click counts."""
    with store.transaction() as conn:
        return bool(_changed(conn.execute(update(_S).where(_S.c.email == email).values(click_consent_at=at))))


def consenting(store: Store, email: str | None = None) -> list[tuple[int, str]]:
    """(id, address) of the subscribers who consented to per-reader click counts (``email``: that one)."""
    query = select(_S.c.id, _S.c.email).where(_S.c.click_consent_at.is_not(None))
    if email is not None:
        query = query.where(_S.c.email == email)
    with store.engine.connect() as conn:
        return [(int(i), e) for i, e in conn.execute(query)]


def forget_nonces(store: Store, pairs: Iterable[tuple[str, str]]) -> int:
    """Delete the clicks of these (issue, nonce) pairs (an erased reader's own clicks)."""
    count = 0
    with store.transaction() as conn:
        for issue, nonce in pairs:
            count += _changed(conn.execute(delete(_C).where(_C.c.issue == issue, _C.c.nonce == nonce)))
    return count


def _changed(result: Any) -> int:
    return max(int(cast(CursorResult[Any], result).rowcount), 0)
