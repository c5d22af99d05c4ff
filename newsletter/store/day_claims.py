"""The scheduler's claim on each day's issue: one row per day that only one process can take.

The row says where the day stands (claimed, done, waiting, skipped) and which run holds it;
a claim stays its holder's while the holder's lease lives (:mod:`newsletter.store.leases`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update

from newsletter.store import leases
from newsletter.store.database import Store
from newsletter.core.issue_id import IssueId, day_of, edition_of
from newsletter.store.models import DayClaim, DayClaimState, Lease, is_issue, issue_key

_TABLE = cast(Table, DayClaim.__table__)


@dataclass(frozen=True)
class DayClaimRecord:
    """What the store holds about one day's claim."""

    day: date
    state: DayClaimState
    run_id: str
    reason: str
    updated_at: datetime


def day_claim(store: Store, day: date) -> DayClaimRecord | None:
    """The day's claim, or None when the scheduler never touched that day."""
    with store.session() as session:
        row = session.get(DayClaim, (day_of(day), edition_of(day)))
        if row is None:
            return None
        return DayClaimRecord(IssueId.stored(row.issue_date, row.edition), DayClaimState(row.state), row.run_id, row.reason, row.updated_at)


def claim_day(store: Store, day: date, run_id: str, now: datetime, lease: timedelta = leases.DEFAULT_LEASE) -> bool:
    """Take the day for ``run_id``. False when it is done, or held by a run whose lease is valid."""
    with store.session() as session:
        session.execute(store.insert(_TABLE).values(**issue_key(day), state=DayClaimState.WAITING.value, run_id="",
                                                    reason="", updated_at=now)
                        .on_conflict_do_nothing(index_elements=["issue_date", "edition"]))
        row = session.execute(select(DayClaim.state, DayClaim.run_id, DayClaim.updated_at)
                              .where(is_issue(DayClaim, day))).one()
        if row.state == DayClaimState.DONE.value:
            return False
        if row.state == DayClaimState.CLAIMED.value and row.run_id != run_id \
                and leases.alive(store, row.run_id, now, row.updated_at, lease):
            return False
        # Only the run that still sees the row as it read it wins: two takers never both succeed.
        taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(DayClaim).where(is_issue(DayClaim, day), DayClaim.state == row.state,
                                   DayClaim.run_id == row.run_id)
            .values(state=DayClaimState.CLAIMED.value, run_id=run_id, updated_at=now))
        return bool(taken.rowcount)


def set_day_claim(store: Store, day: date, state: DayClaimState, now: datetime, *, reason: str = "") -> None:
    """Record where the day stands (creating its row if needed)."""
    values: dict[str, Any] = {"state": state.value, "reason": reason, "updated_at": now}
    with store.session() as session:
        session.execute(store.insert(_TABLE).values(**{**issue_key(day), "run_id": "", **values})
                        .on_conflict_do_update(index_elements=["issue_date", "edition"], set_=values))


def waiting_since(store: Store, reason_prefix: str, since: datetime) -> list[tuple[date, datetime]]:
    """Days left waiting with a reason starting with ``reason_prefix`` at or after ``since``: (day, when)."""
    with store.session() as session:
        rows = session.execute(select(DayClaim.issue_date, DayClaim.edition, DayClaim.updated_at).where(
            DayClaim.state == DayClaimState.WAITING.value, DayClaim.reason.startswith(reason_prefix),
            DayClaim.updated_at >= since)).all()
    return [(IssueId.stored(day, edition), when) for day, edition, when in rows]


def orphaned(store: Store, now: datetime, since: datetime,
             lease: timedelta = leases.DEFAULT_LEASE) -> list[DayClaimRecord]:
    """Days still claimed by a run that is gone (its send cut short by a kill, whatever started it: the
    daily job, ``send --at``, a retry), whose holder was last alive at or after ``since``: its lease
    was last renewed then (or, without a lease, it claimed the day then). Oldest claim first."""
    with store.session() as session:
        rows = session.execute(
            select(DayClaim.issue_date, DayClaim.edition, DayClaim.state, DayClaim.run_id, DayClaim.reason,
                   DayClaim.updated_at, Lease.renewed_at)
            .outerjoin(Lease, Lease.run_id == DayClaim.run_id)
            .where(DayClaim.state == DayClaimState.CLAIMED.value).order_by(DayClaim.updated_at)).all()
    gone = []
    for row in rows:
        last_seen = row.renewed_at if row.renewed_at is not None else row.updated_at
        if last_seen >= since and not leases.alive(store, row.run_id, now, row.updated_at, lease):
            gone.append(DayClaimRecord(IssueId.stored(row.issue_date, row.edition), DayClaimState(row.state), row.run_id, row.reason,
                                       row.updated_at))
    return gone
