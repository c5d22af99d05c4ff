"""What the tests read back of the feedback events linked to the ledger (the product reads them through
``status`` and the bounce brake, never as a list)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from newsletter.store.database import Store
from newsletter.store.feedback import _D, _E, _SENDS, link_pending


@dataclass(frozen=True)
class LedgerEvent:
    """An event as seen from the ledger."""

    delivery_id: int
    kind: str
    source: str
    occurred_at: datetime
    detail: str


def events_for_send(store: Store, send_id: int) -> list[LedgerEvent]:
    """The events linked to the rows of one send (linking the late ones first), oldest first."""
    link_pending(store)
    with store.session() as session:
        rows = session.execute(
            select(_E.c.delivery_id, _E.c.kind, _E.c.source, _E.c.occurred_at, _E.c.detail)
            .join(_D, _D.c.id == _E.c.delivery_id).where(_D.c.send_id == send_id)
            .order_by(_E.c.occurred_at, _E.c.id)
        ).all()
    return [LedgerEvent(r.delivery_id, r.kind, r.source, r.occurred_at, r.detail) for r in rows]


def counts_for_issue(store: Store, day: date) -> dict[str, int]:
    """{kind: number of ledger rows of the issue with such an event} (a row counts once per kind)."""
    link_pending(store)
    with store.session() as session:
        rows = session.execute(
            select(_E.c.kind, func.count(func.distinct(_E.c.delivery_id)))
            .join(_D, _D.c.id == _E.c.delivery_id).join(_SENDS, _SENDS.c.id == _D.c.send_id)
            .where(_SENDS.c.issue_date == day).group_by(_E.c.kind)
        ).all()
    return {kind: int(n) for kind, n in rows}
