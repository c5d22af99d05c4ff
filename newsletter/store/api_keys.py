"""The HTTP API's keys, stored as the SHA-256 of the key (a key is 32 random bytes: a fast hash
is enough, and lets a request find its key by an indexed lookup).

A revoked key keeps its row (its name and times stay in ``api-keys list``); adding the same
name again replaces a revoked row with a new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Integer, String, Table, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.store.database import Store
from newsletter.store.models import Base, UTCDateTime


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    scopes: Mapped[str] = mapped_column(String(200), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


_K = cast(Table, ApiKeyRow.__table__)


@dataclass(frozen=True)
class KeyRecord:
    """One key as stored (its hash, never the key)."""

    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _record(row: Any) -> KeyRecord:
    return KeyRecord(row.name, tuple(row.scopes.split()), row.created_at, row.last_used_at, row.revoked_at)


def save_key(store: Store, name: str, scopes: tuple[str, ...], key_hash: str, *, now: datetime) -> bool:
    """Store a new key (replacing a revoked one of that name); False when an active key has the name."""
    with store.session() as session:
        row = session.execute(select(_K.c.revoked_at).where(_K.c.name == name)).first()
        if row is not None and row.revoked_at is None:
            return False
        if row is not None:
            session.execute(delete(_K).where(_K.c.name == name))
        session.execute(_K.insert().values(name=name, scopes=" ".join(scopes), key_hash=key_hash, created_at=now))
        return True


def list_keys(store: Store) -> list[KeyRecord]:
    """Every key, revoked ones included, by name."""
    with store.session() as session:
        return [_record(row) for row in session.execute(select(_K).order_by(_K.c.name))]


def revoke_key(store: Store, name: str, *, now: datetime) -> bool:
    """Revoke the active key called ``name``; False when there is none."""
    with store.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(_K).where(_K.c.name == name, _K.c.revoked_at.is_(None)).values(revoked_at=now))
        return bool(result.rowcount)


def use_key(store: Store, key_hash: str, *, now: datetime) -> KeyRecord | None:
    """The active key with this hash, its last use set to ``now``; None for an unknown or revoked key."""
    with store.session() as session:
        row = session.execute(select(_K).where(_K.c.key_hash == key_hash, _K.c.revoked_at.is_(None))).first()
        if row is None:
            return None
        session.execute(update(_K).where(_K.c.id == row.id).values(last_used_at=now))
        return KeyRecord(row.name, tuple(row.scopes.split()), row.created_at, now, None)
