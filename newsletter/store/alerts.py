"""Operator alerts already sent: one per day and reason for the whole store, whatever the processes."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, delete

from newsletter.store.database import Store
from newsletter.store.models import Alert, is_issue, issue_key

_TABLE = cast(Table, Alert.__table__)
#: The length of the ``reason`` column: longer keys are cut, the same way on every call.
KEY_LENGTH = 200


def claim_alert(store: Store, day: date, key: str, now: datetime) -> bool:
    """Record that the alert ``key`` of ``day`` is being sent; False when some process did already.

    One insert against the table's primary key: of two processes only one wins, on SQLite and
    PostgreSQL alike.
    """
    with store.session() as session:
        won = session.execute(store.insert(_TABLE).values(**issue_key(day), reason=key[:KEY_LENGTH], sent_at=now)
                              .on_conflict_do_nothing(index_elements=["issue_date", "edition", "reason"])
                              .returning(_TABLE.c.reason)).first()
        return won is not None


def forget_alert(store: Store, day: date, key: str) -> None:
    """The alert could not be sent: let the next attempt try again."""
    with store.session() as session:
        session.execute(delete(Alert).where(is_issue(Alert, day), Alert.reason == key[:KEY_LENGTH]))
