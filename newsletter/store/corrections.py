"""Corrections of sent issues: each corrected version of the public page, and the correction mail's ledger.

The send's own page (:mod:`newsletter.store.archive`) stays what was sent; each correction adds a
numbered version (1, 2…) with its note, what changed (JSON, worded by
:mod:`newsletter.services.corrections`), its page and the bytes of its images. The archive shows the
newest version and lists them all.

The correction mail has its own ledger (``correction_mails``), one row per reader who received the
issue, moving as the send ledger's rows do (:mod:`newsletter.store.ledger`): a run claims rows
(``pending → queued``) in one statement, marks them ``sending`` right before the transport's point of
no return, then writes the outcome, each write fenced by the run's id. A run owns its rows while its
lease is valid (:mod:`newsletter.store.leases`); a later run takes the rows of a dead one over: those
still ``queued`` were never handed over and go back to ``pending``, those ``sending`` are in doubt and
become ``uncertain`` (never sent again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Sequence, cast

from sqlalchemy import (Boolean, CursorResult, ForeignKey, Index, Integer, LargeBinary, String, Table, Text,
                        UniqueConstraint, and_, func, literal, select, update)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.content.publication import Image
from newsletter.render.rendered import PublicPage
from newsletter.store import leases
from newsletter.store.archive import ArchivePage
from newsletter.store.database import Store
from newsletter.store.models import (Base, Delivery, DeliveryStatus, Send, Subscriber, SubscriberStatus,
                                     UTCDateTime, is_issue)
from newsletter.store.feedback import mark_bounced


class CorrectionRow(Base):
    """A corrected version of a sent issue (migration 0023)."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)  # 1 for the first correction
    note: Mapped[str] = mapped_column(Text, nullable=False)
    changes: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: services.corrections.Change
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    layout: Mapped[str] = mapped_column(Text, nullable=False)
    author: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    mail: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)  # its readers were told
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (UniqueConstraint("send_id", "number", name="uq_correction_number"),)


class CorrectionImage(Base):
    """An image file a corrected version shows, its bytes as published."""

    __tablename__ = "correction_images"

    correction_id: Mapped[int] = mapped_column(ForeignKey("corrections.id", ondelete="CASCADE"), primary_key=True)
    relative: Mapped[str] = mapped_column(String(500), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)

    __table_args__ = (Index("ix_correction_images_name", "name"),)


class CorrectionMail(Base):
    """The correction mail's ledger: one row per reader of the issue to tell."""

    __tablename__ = "correction_mails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    correction_id: Mapped[int] = mapped_column(ForeignKey("corrections.id", ondelete="CASCADE"), nullable=False)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # DeliveryStatus values
    run_id: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (UniqueConstraint("correction_id", "subscriber_id", name="uq_correction_mail_once"),
                      Index("ix_correction_mails_status", "correction_id", "status", "id"))


_C = cast(Table, CorrectionRow.__table__)
_CI = cast(Table, CorrectionImage.__table__)
_M = cast(Table, CorrectionMail.__table__)
_D = cast(Table, Delivery.__table__)
_S = cast(Table, Subscriber.__table__)
_SENDS = cast(Table, Send.__table__)
_HELD = (DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value)
_OPEN = (DeliveryStatus.PENDING.value, *_HELD)


@dataclass(frozen=True)
class Correction:
    """One corrected version of a sent issue."""

    id: int
    number: int
    note: str
    changes: list[dict[str, Any]]
    subject: str
    digest: str
    author: str
    mail: bool
    created_at: datetime


def _correction(row: Any) -> Correction:
    return Correction(row.id, row.number, row.note, json.loads(row.changes), row.subject, row.digest, row.author,
                      bool(row.mail), row.created_at)


_FIELDS = (_C.c.id, _C.c.number, _C.c.note, _C.c.changes, _C.c.subject, _C.c.digest, _C.c.author, _C.c.mail,
           _C.c.created_at)


def corrections(store: Store, send_id: int) -> list[Correction]:
    """The send's corrections, oldest first."""
    with store.session() as session:
        rows = session.execute(select(*_FIELDS).where(_C.c.send_id == send_id).order_by(_C.c.number)).all()
    return [_correction(row) for row in rows]


def latest_by_send(store: Store, send_ids: Iterable[int]) -> dict[int, Correction]:
    """The newest correction of each of ``send_ids`` that has one (the archive's index and feed)."""
    wanted = list(send_ids)
    if not wanted:
        return {}
    newest = select(_C.c.send_id, func.max(_C.c.number).label("number")).where(_C.c.send_id.in_(wanted)) \
        .group_by(_C.c.send_id).subquery()
    with store.session() as session:
        rows = session.execute(select(_C.c.send_id, *_FIELDS).join(
            newest, and_(newest.c.send_id == _C.c.send_id, newest.c.number == _C.c.number))).all()
    return {row.send_id: _correction(row) for row in rows}


def layout(store: Store, send_id: int, number: int) -> str | None:
    """The page of correction ``number`` of the send (as :func:`newsletter.render.web_version.thaw` reads it)."""
    with store.session() as session:
        return session.scalar(select(_C.c.layout).where(_C.c.send_id == send_id, _C.c.number == number))


def add(store: Store, send_id: int, page: PublicPage, *, note: str, changes: Sequence[dict[str, Any]],
        author: str, mail: bool, now: datetime) -> Correction:
    """Record a corrected version of the send's page with its images, numbered after the last one.

    Two concurrent corrections cannot take the same number (the unique constraint refuses the second).
    """
    with store.session() as session:
        number = int(session.scalar(select(func.coalesce(func.max(_C.c.number), 0)).where(_C.c.send_id == send_id))
                     or 0) + 1
        text = json.dumps(list(changes), ensure_ascii=False, sort_keys=True)
        new_id = session.execute(store.insert(_C).values(
            send_id=send_id, number=number, note=note, changes=text, subject=page.subject, digest=page.digest,
            layout=page.layout, author=author[:200], mail=mail, created_at=now).returning(_C.c.id)).scalar_one()
        for image in page.images:
            session.execute(store.insert(_CI).values(correction_id=new_id, relative=image.relative, name=image.name,
                                                     kind=image.kind, data=image.data))
    return Correction(new_id, number, note, list(changes), page.subject, page.digest, author[:200], mail, now)


def want_mail(store: Store, correction_id: int) -> None:
    """Record that the readers of the correction are to be told (a mail asked for after its publication)."""
    with store.session() as session:
        session.execute(update(_C).where(_C.c.id == correction_id).values(mail=True))


def image(store: Store, day: date, name: str) -> Image | None:
    """An image a correction of the issue of ``day`` published, by its content-hashed ``name``."""
    query = (select(_CI.c.relative, _CI.c.data, _CI.c.kind).join(_C, _C.c.id == _CI.c.correction_id)
             .join(_SENDS, _SENDS.c.id == _C.c.send_id).where(is_issue(_SENDS.c, day), _CI.c.name == name))
    with store.session() as session:
        row = session.execute(query.limit(1)).first()
    return None if row is None else Image(row.relative, row.data, row.kind)


def sent_subject(store: Store, send_id: int) -> str:
    """The subject of the page the send published (else, sent before pages were kept, the send's)."""
    pages = cast(Table, ArchivePage.__table__)
    with store.session() as session:
        row = session.execute(select(func.coalesce(pages.c.subject, _SENDS.c.subject))
                              .select_from(_SENDS).outerjoin(pages, pages.c.send_id == _SENDS.c.id)
                              .where(_SENDS.c.id == send_id)).scalar()
    return str(row or "")


# -- the correction mail's ledger -----------------------------------------------------------------

@dataclass(frozen=True)
class MailClaim:
    """A reader whose correction mail this run holds."""

    row_id: int
    subscriber_id: int
    email: str
    first_name: str
    last_name: str
    attempts: int


def _reached(send_id: int) -> Any:
    """The readers the send reached (``sent``) who are still subscribed."""
    return and_(_D.c.send_id == send_id, _D.c.status == DeliveryStatus.SENT.value,
                _S.c.status == SubscriberStatus.ACTIVE.value)


def readers(store: Store, send_id: int) -> int:
    """How many readers a correction mail of the send would reach now."""
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(_D).join(_S, _S.c.id == _D.c.subscriber_id)
                                  .where(_reached(send_id))) or 0)


def enqueue(store: Store, correction_id: int, send_id: int, now: datetime) -> int:
    """A pending row for every reader the issue's send reached (``sent``) who is still subscribed
    (active); nobody who left since, nobody twice. Return how many rows were added."""
    source = (select(literal(correction_id, Integer()), _D.c.subscriber_id, _S.c.email,
                     literal(DeliveryStatus.PENDING.value, String()), literal(now, UTCDateTime()))
              .join(_S, _S.c.id == _D.c.subscriber_id).where(_reached(send_id)))
    stmt = store.insert(_M).from_select(["correction_id", "subscriber_id", "email", "status", "updated_at"], source) \
        .on_conflict_do_nothing(index_elements=["correction_id", "subscriber_id"]) \
        .execution_options(preserve_rowcount=True)
    with store.session() as session:
        return int(cast(CursorResult[Any], session.execute(stmt)).rowcount or 0)


def skip_leavers(store: Store, correction_id: int, now: datetime) -> int:
    """Mark ``skipped`` the pending rows of readers who left since they were added (or were erased)."""
    still = select(_S.c.id).where(_S.c.id == _M.c.subscriber_id, _S.c.status == SubscriberStatus.ACTIVE.value)
    with store.session() as session:
        result = session.execute(update(_M).where(_M.c.correction_id == correction_id,
                                                  _M.c.status == DeliveryStatus.PENDING.value, ~still.exists())
                                 .values(status=DeliveryStatus.SKIPPED.value, updated_at=now))
        return int(cast(CursorResult[Any], result).rowcount or 0)


def claim(store: Store, correction_id: int, run_id: str, limit: int, now: datetime) -> list[MailClaim]:
    """Flip up to ``limit`` pending rows of still-subscribed readers to ``queued`` for ``run_id``, in one
    statement (two runs never hold the same row), and return them."""
    skip_leavers(store, correction_id, now)
    pick = (select(_M.c.id).where(_M.c.correction_id == correction_id, _M.c.status == DeliveryStatus.PENDING.value)
            .order_by(_M.c.id).limit(limit).scalar_subquery())
    with store.session() as session:
        taken = session.execute(update(_M).where(_M.c.id.in_(pick), _M.c.status == DeliveryStatus.PENDING.value)
                                .values(status=DeliveryStatus.QUEUED.value, run_id=run_id, updated_at=now)
                                .returning(_M.c.id)).scalars().all()
        if not taken:
            return []
        rows = session.execute(select(_M.c.id, _M.c.subscriber_id, _S.c.email, _S.c.first_name, _S.c.last_name,
                                      _M.c.attempts).join(_S, _S.c.id == _M.c.subscriber_id)
                               .where(_M.c.id.in_(list(taken))).order_by(_M.c.id)).all()
    return [MailClaim(r.id, r.subscriber_id, r.email, r.first_name, r.last_name, r.attempts) for r in rows]


def mark_sending(store: Store, row_ids: Sequence[int], run_id: str, now: datetime) -> int:
    """Mark the run's queued rows ``sending`` right before the transport takes them; return how many are
    still the run's (fewer: another run took them over, nothing may be handed over)."""
    with store.session() as session:
        result = session.execute(update(_M).where(_M.c.id.in_(list(row_ids)), _M.c.run_id == run_id,
                                                  _M.c.status == DeliveryStatus.QUEUED.value)
                                 .values(status=DeliveryStatus.SENDING.value, updated_at=now))
        return int(cast(CursorResult[Any], result).rowcount or 0)


def settle(store: Store, row_id: int, run_id: str, status: DeliveryStatus, now: datetime, *, error: str = "",
           counted: bool = True, bounced: int | None = None) -> None:
    """Write the outcome of a row the run holds (``pending`` gives it back, for a retry or a stop).

    :param bounced: the subscriber whose address the receiving server refused for good (a hard bounce, SMTP
        5.1.x): marked ``bounced`` in the same transaction, as the issue's send marks them
        (:func:`newsletter.store.feedback.mark_bounced`).
    """
    values: dict[str, Any] = {"status": status.value, "error": error[:500], "updated_at": now}
    if counted:
        values["attempts"] = _M.c.attempts + 1
    with store.session() as session:
        written = session.execute(update(_M).where(_M.c.id == row_id, _M.c.run_id == run_id, _M.c.status.in_(_HELD))
                                  .values(**values).returning(_M.c.id)).scalar()
        if bounced is not None and written is not None:
            mark_bounced(store, session.connection(), [bounced], now)


def take_over_dead(store: Store, correction_id: int, run_id: str, now: datetime,
                   lease: Any = leases.DEFAULT_LEASE) -> tuple[int, int, int]:
    """Take over the rows of runs whose lease expired: (released to pending, left uncertain, still held by
    live runs). A row found ``sending`` may have reached the transport: it is never sent again."""
    with store.session() as session:
        holders = session.execute(select(_M.c.run_id, func.max(_M.c.updated_at))
                                  .where(_M.c.correction_id == correction_id, _M.c.status.in_(_HELD),
                                         _M.c.run_id != run_id).group_by(_M.c.run_id)).all()
    dead = leases.take_over(store, {run: touched for run, touched in holders}, now, lease, taker=run_id)
    released = uncertain = 0
    if dead:
        with store.session() as session:
            released = int(cast(CursorResult[Any], session.execute(
                update(_M).where(_M.c.correction_id == correction_id, _M.c.run_id.in_(list(dead)),
                                 _M.c.status == DeliveryStatus.QUEUED.value)
                .values(status=DeliveryStatus.PENDING.value, run_id="", updated_at=now))).rowcount or 0)
            uncertain = int(cast(CursorResult[Any], session.execute(
                update(_M).where(_M.c.correction_id == correction_id, _M.c.run_id.in_(list(dead)),
                                 _M.c.status == DeliveryStatus.SENDING.value)
                .values(status=DeliveryStatus.UNCERTAIN.value, attempts=_M.c.attempts + 1,
                        error="the run sending it died; it may have gone out, so it is not sent again",
                        updated_at=now))).rowcount or 0)
    return released, uncertain, len(holders) - len(dead)


def mail_counts(store: Store, correction_id: int) -> dict[str, int]:
    """The correction mail's rows by status."""
    with store.session() as session:
        rows = session.execute(select(_M.c.status, func.count()).where(_M.c.correction_id == correction_id)
                               .group_by(_M.c.status)).all()
    return {status: int(n) for status, n in rows}


def unfinished(store: Store, correction_id: int) -> bool:
    """Whether the correction mail has rows not settled yet (pending, queued or sending)."""
    with store.session() as session:
        return bool(session.scalar(select(select(_M.c.id).where(_M.c.correction_id == correction_id,
                                                                 _M.c.status.in_(_OPEN)).exists())))


def erase(conn: Any, subscriber_id: int, now: datetime) -> None:
    """Inside an erasure's transaction: the reader's correction-mail rows keep their counts without them."""
    conn.execute(update(_M).where(_M.c.subscriber_id == subscriber_id, _M.c.status == DeliveryStatus.PENDING.value)
                 .values(status=DeliveryStatus.SKIPPED.value, updated_at=now))
    conn.execute(update(_M).where(_M.c.subscriber_id == subscriber_id).values(subscriber_id=None, email="", error=""))
