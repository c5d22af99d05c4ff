"""What the public archive may show: the issues that went out, the page each send published (with
the bytes of its images), and whether the database answers.

A send keeps the web version it started with (:mod:`newsletter.render.web_version`), so that an edit
of the issue's files after the send changes neither the archive's page, nor its title in the index
and the feed, nor its images. Once a message went out the page is the one readers got: a later run
of the send keeps it, and only a deliberate correction (``replace=True``) writes over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import cast

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Table, Text, delete, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.content.publication import Image
from newsletter.render.rendered import PublicPage
from newsletter.store.database import Store
from newsletter.core.issue_id import IssueId
from newsletter.store.models import Base, Delivery, DeliveryStatus, Send, UTCDateTime, is_issue


class ArchivePage(Base):
    """The web version a send published (migration 0013)."""

    __tablename__ = "archive_pages"

    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    layout: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ArchiveImage(Base):
    """An image file that page shows, its bytes as sent (``relative``: ``brand/NAME`` for the logo)."""

    __tablename__ = "archive_images"

    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True)
    relative: Mapped[str] = mapped_column(String(500), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)  # content-hashed: <digest>.<ext>
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)

    __table_args__ = (Index("ix_archive_images_name", "name"),)


_PAGES = cast(Table, ArchivePage.__table__)
_IMAGES = cast(Table, ArchiveImage.__table__)
_SENDS = cast(Table, Send.__table__)
_D = cast(Table, Delivery.__table__)
#: Rows whose message may have reached its reader: from then on the page is the one readers got.
_OUT = (DeliveryStatus.SENT.value, DeliveryStatus.SENDING.value, DeliveryStatus.UNCERTAIN.value)


@dataclass(frozen=True)
class Published:
    """One sent issue as the archive lists it."""

    day: date
    subject: str  # the published page's, else (sent before 0013) the send's
    sent_at: datetime  # when its first message went out (aware)
    send_id: int
    page: str  # the digest of the page the send published ("" when it was sent before 0013)


@dataclass(frozen=True)
class Publication:
    """The send of a published issue and the page it published (digest "" when none was kept)."""

    send_id: int
    page: str


def published(store: Store, limit: int = 500, *, until: date | None = None) -> list[Published]:
    """Sent issues, newest first (an issue counts once at least one message went out), dated ``until`` or
    before when it is given."""
    with store.session() as session:
        rows = session.execute(
            select(Send.issue_date, Send.edition, func.coalesce(_PAGES.c.subject, Send.subject),
                   func.min(Delivery.sent_at), Send.id, _PAGES.c.digest)
            .join(Delivery, Delivery.send_id == Send.id)
            .outerjoin(_PAGES, _PAGES.c.send_id == Send.id)
            .where(Delivery.status == DeliveryStatus.SENT.value)
            .where(Send.issue_date <= (until or date.max))
            .group_by(Send.id, Send.issue_date, Send.edition, Send.subject, _PAGES.c.subject, _PAGES.c.digest)
            .order_by(Send.issue_date.desc(), Send.edition)
            .limit(limit)
        ).all()
    return [Published(IssueId.stored(day, edition), subject, _aware(sent), send_id, digest or "")
            for day, edition, subject, sent, send_id, digest in rows if sent is not None]


def publication(store: Store, day: date) -> Publication | None:
    """The issue's send and its page once a message of it went out (None before: not public)."""
    delivered = select(_D.c.id).where(_D.c.send_id == _SENDS.c.id, _D.c.status == DeliveryStatus.SENT.value).exists()
    with store.session() as session:
        row = session.execute(select(_SENDS.c.id, _PAGES.c.digest).outerjoin(_PAGES, _PAGES.c.send_id == _SENDS.c.id)
                              .where(is_issue(_SENDS.c, day), delivered)).first()
    return None if row is None else Publication(row.id, row.digest or "")


def first_sent_at(store: Store, day: date) -> datetime | None:
    """When the first message of the issue went out (None while none has)."""
    with store.session() as session:
        sent = session.scalar(select(func.min(_D.c.sent_at)).join(_SENDS, _SENDS.c.id == _D.c.send_id)
                              .where(is_issue(_SENDS.c, day), _D.c.status == DeliveryStatus.SENT.value))
    return None if sent is None else _aware(sent)


def save_page(store: Store, send_id: int, page: PublicPage, now: datetime, *, replace: bool = False) -> bool:
    """Keep ``page`` (and its images) as what the send published.

    :param replace: write over a page whose messages went out already (a correction); without it,
        such a page stays (a later run of the send publishes nothing new), and only a page nobody
        may have received yet (a start whose messages all failed) gives way to the new one.
    :return: whether ``page`` is now the send's page.
    """
    out = select(_D.c.id).where(_D.c.send_id == send_id, _D.c.status.in_(_OUT)).exists()
    values = {"subject": page.subject, "digest": page.digest, "layout": page.layout, "created_at": now}
    with store.session() as session:
        kept = session.scalar(select(_PAGES.c.digest).where(_PAGES.c.send_id == send_id))
        if kept is not None and not replace and session.scalar(select(out)):
            return kept == page.digest
        # The page's row first: a concurrent start waits on it, so the images are never mixed.
        session.execute(store.insert(_PAGES).values(send_id=send_id, **values)
                        .on_conflict_do_update(index_elements=["send_id"], set_=values))
        for image in page.images:
            row = {"name": image.name, "kind": image.kind, "data": image.data}
            session.execute(store.insert(_IMAGES).values(send_id=send_id, relative=image.relative, **row)
                            .on_conflict_do_update(index_elements=["send_id", "relative"], set_=row))
        session.execute(delete(_IMAGES).where(_IMAGES.c.send_id == send_id,
                                              _IMAGES.c.relative.not_in([i.relative for i in page.images])))
    return True


def page_layout(store: Store, send_id: int) -> str | None:
    """The page the send published, as :func:`newsletter.render.web_version.thaw` reads it."""
    with store.session() as session:
        return session.scalar(select(_PAGES.c.layout).where(_PAGES.c.send_id == send_id))


def image(store: Store, day: date, *, name: str = "", relative: str = "") -> Image | None:
    """An image the issue's send published, by its content-hashed ``name`` or by its path."""
    if "\x00" in name + relative:
        return None  # never stored (PostgreSQL's text holds no NUL), and not a question for it
    query = select(_IMAGES.c.relative, _IMAGES.c.data, _IMAGES.c.kind).join(_SENDS, _SENDS.c.id == _IMAGES.c.send_id)
    query = query.where(is_issue(_SENDS.c, day), _IMAGES.c.name == name if name else _IMAGES.c.relative == relative)
    with store.session() as session:
        row = session.execute(query.limit(1)).first()
    return None if row is None else Image(row.relative, row.data, row.kind)


def logo(store: Store, relative: str) -> Image | None:
    """A brand logo some send published, by its path ``brand/NAME``."""
    with store.session() as session:
        row = session.execute(select(_IMAGES.c.relative, _IMAGES.c.data, _IMAGES.c.kind)
                              .where(_IMAGES.c.relative == relative, _IMAGES.c.name == relative.rpartition("/")[2])
                              .limit(1)).first()
    return None if row is None else Image(row.relative, row.data, row.kind)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def ping(store: Store) -> None:
    """Ask the database for one row; raises whatever the driver raises when it cannot answer."""
    with store.engine.connect() as conn:
        conn.execute(text("select 1"))
