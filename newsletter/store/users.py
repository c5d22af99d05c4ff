"""The desk's accounts and its record of who last edited an issue.

An account has a name, a role (editor, approver, operator), an argon2 password hash, the
times it was created and disabled, and a session generation: the desk's session cookies name
the generation they were made under, and raising it (sign-out, a new password, a removal) ends
every one of them on the server, whatever copy of a cookie is left. Removing an account
disables it (the name stays in the edit record); adding the same name again enables it with a
new role and password. Its second factor (a TOTP secret, pending until a first code confirms it,
the time step of the last code accepted and the SHA-256 of its unused recovery codes) is changed
only by the functions named for it: a new password, a removal or a re-enabling keeps it.
``desk_edits`` keeps every save of an issue's file (who, which file, when), so that an approval
can be required from someone who changed nothing since the issue's last approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Date, Index, Integer, String, Table, Text, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.store.database import Store
from newsletter.store.models import Base, UTCDateTime


class DeskUser(Base):
    __tablename__ = "desk_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recovery_hashes: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")


class DeskEdit(Base):
    __tablename__ = "desk_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    path: Mapped[str] = mapped_column(String(200), nullable=False)
    user_name: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_desk_edits_day", "day"),)


_U = cast(Table, DeskUser.__table__)
_E = cast(Table, DeskEdit.__table__)


@dataclass(frozen=True)
class UserRecord:
    """One account as stored."""

    name: str
    role: str
    password_hash: str
    email: str
    created_at: datetime
    disabled_at: datetime | None
    session_generation: int = 0
    totp_secret: str | None = None
    totp_confirmed_at: datetime | None = None
    totp_last_step: int | None = None
    recovery_hashes: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def two_factor(self) -> bool:
        """Whether sign-in needs a code (a confirmed secret; a pending one does not count)."""
        return self.totp_secret is not None and self.totp_confirmed_at is not None


def _record(row: Any) -> UserRecord:
    return UserRecord(row.name, row.role, row.password_hash, row.email, row.created_at, row.disabled_at,
                      row.session_generation, row.totp_secret, row.totp_confirmed_at, row.totp_last_step,
                      tuple(row.recovery_hashes.split()))


def find_user(store: Store, name: str) -> UserRecord | None:
    """The account called ``name`` (enabled or not), or None."""
    with store.session() as session:
        row = session.execute(select(_U).where(_U.c.name == name)).first()
    return _record(row) if row is not None else None


def list_users(store: Store) -> list[UserRecord]:
    """Every account, by name."""
    with store.session() as session:
        return [_record(row) for row in session.execute(select(_U).order_by(_U.c.name))]


def save_user(store: Store, name: str, role: str, password_hash: str, *, email: str = "", now: datetime) -> bool:
    """Create the account, or enable a disabled one with this role and hash; False when an enabled one exists."""
    with store.session() as session:
        row = session.execute(select(_U.c.disabled_at).where(_U.c.name == name)).first()
        if row is None:
            session.execute(_U.insert().values(name=name, role=role, password_hash=password_hash, email=email, created_at=now,
                                               disabled_at=None))
            return True
        if row.disabled_at is None:
            return False
        session.execute(update(_U).where(_U.c.name == name)
                        .values(role=role, password_hash=password_hash, email=email, created_at=now, disabled_at=None,
                                session_generation=_U.c.session_generation + 1))
        return True


def disable_user(store: Store, name: str, *, now: datetime) -> bool:
    """Disable an enabled account; False when there is none by that name."""
    with store.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(_U).where(_U.c.name == name, _U.c.disabled_at.is_(None))
            .values(disabled_at=now, session_generation=_U.c.session_generation + 1))
        return bool(result.rowcount)


def set_password_hash(store: Store, name: str, password_hash: str, *, end_sessions: bool = True) -> bool:
    """Replace an enabled account's hash (ending its sessions unless told not to: a rehash of the same
    password); False when there is none by that name."""
    values: dict[str, Any] = {"password_hash": password_hash}
    if end_sessions:
        values["session_generation"] = _U.c.session_generation + 1
    with store.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(_U).where(_U.c.name == name, _U.c.disabled_at.is_(None)).values(**values))
        return bool(result.rowcount)


def end_sessions(store: Store, name: str) -> None:
    """Raise the account's session generation: every session cookie made before opens nothing."""
    with store.session() as session:
        session.execute(update(_U).where(_U.c.name == name).values(session_generation=_U.c.session_generation + 1))


def set_totp(store: Store, name: str, secret: str | None, *, confirmed_at: datetime | None = None,
             recovery_hashes: tuple[str, ...] = (), end_sessions: bool = False) -> bool:
    """Give an enabled account a TOTP secret (pending while ``confirmed_at`` is None) and recovery codes'
    hashes, or none (``secret`` None: a reset); False when there is no such account."""
    values: dict[str, Any] = {"totp_secret": secret, "totp_confirmed_at": confirmed_at, "totp_last_step": None,
                              "recovery_hashes": " ".join(recovery_hashes)}
    if end_sessions:
        values["session_generation"] = _U.c.session_generation + 1
    with store.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(_U).where(_U.c.name == name, _U.c.disabled_at.is_(None)).values(**values))
        return bool(result.rowcount)


def confirm_totp(store: Store, name: str, secret: str, step: int, recovery_hashes: tuple[str, ...], *,
                 now: datetime) -> bool:
    """Confirm the account's pending ``secret`` with the code of time step ``step``; False when it is no longer
    the pending one (another enrolment or a reset came between)."""
    with store.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(_U).where(_U.c.name == name, _U.c.disabled_at.is_(None), _U.c.totp_secret == secret,
                             _U.c.totp_confirmed_at.is_(None))
            .values(totp_confirmed_at=now, totp_last_step=step, recovery_hashes=" ".join(recovery_hashes),
                    session_generation=_U.c.session_generation + 1))
        return bool(result.rowcount)


def use_totp_step(store: Store, name: str, step: int) -> bool:
    """Record that the code of time step ``step`` was used; False when it or a later one already was (a replay).

    One conditional update: of two requests with the same code, only one succeeds.
    """
    with store.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(_U).where(_U.c.name == name, _U.c.totp_confirmed_at.is_not(None),
                             or_(_U.c.totp_last_step.is_(None), _U.c.totp_last_step < step))
            .values(totp_last_step=step))
        return bool(result.rowcount)


def use_recovery_hash(store: Store, name: str, digest: str) -> bool:
    """Strike the recovery code whose hash is ``digest`` off the account's list; False when it is not on it."""
    with store.session() as session:
        row = session.execute(select(_U.c.recovery_hashes).where(_U.c.name == name)).first()
        if row is None or digest not in row.recovery_hashes.split():
            return False
        left = " ".join(h for h in row.recovery_hashes.split() if h != digest)
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(_U).where(_U.c.name == name, _U.c.recovery_hashes == row.recovery_hashes)
            .values(recovery_hashes=left))
        return bool(result.rowcount)


def record_edit(store: Store, day: date, path: str, user_name: str, *, now: datetime) -> None:
    """Remember that ``user_name`` saved ``path`` of the issue of ``day``."""
    with store.session() as session:
        session.execute(_E.insert().values(day=day, path=path, user_name=user_name, at=now))


def editors(store: Store, day: date, *, since: datetime | None = None) -> list[str]:
    """Every account that saved a file of the issue of ``day`` through the desk (at ``since`` or later), by name."""
    query = select(_E.c.user_name).where(_E.c.day == day).distinct()
    if since is not None:
        query = query.where(_E.c.at >= since)
    with store.session() as session:
        return sorted(session.scalars(query))
