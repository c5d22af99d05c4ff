"""Where one day's issue stands for the operator (``newsletter status``): the readiness gate,
what the scheduler recorded, when the issue is due, and whether that calls for attention.

It says "attention" exactly when the scheduler would have warned or alerted: its record is
waiting or skipped, or the due time (less ``warn_minutes``) has come and the issue is not
ready, or the grace period is over and the issue was not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Mapping

from newsletter.config import Settings
from newsletter.schedule.due import next_runs, readiness
from newsletter.store.database import Store
from newsletter.store.day_claims import day_claim
from newsletter.store.models import DayClaimState


@dataclass(frozen=True)
class DayState:
    """The schedule's view of one day."""

    day: date
    gate: str  # missing, failing, waiting approval, ready, sent
    reason: str
    due: datetime | None  # None when the schedule has no due time that day
    dispatch: str | None  # the scheduler's record: claimed, done, waiting, skipped (None: untouched)
    dispatch_reason: str
    alarm: str  # why the operator should act now ("" when nothing is wrong)


def due_time(settings: Settings, day: date) -> datetime | None:
    """The schedule's due time on ``day`` (in the schedule's time zone), if it has one."""
    start = datetime.combine(day, time(), tzinfo=settings.schedule_tz)
    runs = next_runs(settings, start - timedelta(microseconds=1), 1)
    return runs[0] if runs and runs[0].date() == day else None


def day_state(settings: Settings, store: Store, day: date, now: datetime, *,
              counts: Mapping[str, int] | None = None) -> DayState:
    """The gate, the scheduler's record and the verdict for ``day`` at ``now`` (``counts``: the send's
    rows per state, when the caller has them; see :func:`~newsletter.schedule.due.readiness`)."""
    gate = readiness(settings, store, day, counts=counts)
    claim = day_claim(store, day)
    due = due_time(settings, day)
    alarm = ""
    schedule = settings.schedule
    if claim is not None and claim.state in (DayClaimState.WAITING, DayClaimState.SKIPPED):
        alarm = f"the scheduler recorded it as {claim.state.value}"
    elif gate.state != "sent" and due is not None:
        if now > due + timedelta(minutes=schedule.grace_minutes):
            alarm = f"it was due at {due:%Y-%m-%d %H:%M %Z} and was not sent"
        elif gate.state != "ready" and now >= due - timedelta(minutes=schedule.warn_minutes):
            alarm = f"it is due at {due:%Y-%m-%d %H:%M %Z} and is not ready ({gate.state})"
    return DayState(day, gate.state, gate.reason, due, claim.state.value if claim else None,
                    claim.reason if claim else "", alarm)
