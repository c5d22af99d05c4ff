"""What the public archive may show: the issues that went out, and whether the database answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import func, select, text

from newsletter.store.database import Store
from newsletter.store.models import Delivery, DeliveryStatus, Send


@dataclass(frozen=True)
class Published:
    """One sent issue as the archive lists it."""

    day: date
    subject: str
    sent_at: datetime  # when its first message went out (aware)


def published(store: Store, limit: int = 500) -> list[Published]:
    """Sent issues, newest first (an issue counts once at least one message went out)."""
    with store.session() as session:
        rows = session.execute(
            select(Send.issue_date, Send.subject, func.min(Delivery.sent_at))
            .join(Delivery, Delivery.send_id == Send.id)
            .where(Delivery.status == DeliveryStatus.SENT.value)
            .group_by(Send.issue_date, Send.subject)
            .order_by(Send.issue_date.desc())
            .limit(limit)
        ).all()
    return [Published(day, subject, _aware(sent)) for day, subject, sent in rows if sent is not None]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def ping(store: Store) -> None:
    """Ask the database for one row; raises whatever the driver raises when it cannot answer."""
    with store.engine.connect() as conn:
        conn.execute(text("select 1"))
