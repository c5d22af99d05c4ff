"""The desk's home: the coming days of the schedule with each issue's state, and the past sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import Blueprint, render_template

from newsletter.frontends.desk.access import newsletter, requires
from newsletter.library import Newsletter

bp = Blueprint("home", __name__)

#: How many due times the home page lists.
UPCOMING = 7
#: How many days back the home page looks for an issue whose due time has passed (sent or skipped).
RECENT_DAYS = 2


@dataclass(frozen=True)
class Day:
    """One coming due time and its issue's state, as the home page shows it."""

    day: date
    at: datetime | None  # None for a special edition: the schedule never sends it
    state: str  # missing, failing, waiting approval, stale, approved, ready, paused, sent, skipped
    exists: bool


def desk_state(gate: str, approval: str, dispatch: str | None = None) -> str:
    """The readiness gate's verdict, told apart a little further for editors: stale and approved; and
    skipped when the scheduler gave the day up (its day claim says so), unless it was sent after all."""
    if dispatch == "skipped" and gate != "sent":
        return "skipped"
    if gate == "waiting approval" and approval == "stale":
        return "stale"
    if gate == "ready" and approval == "current":
        return "approved"
    return gate


def _editions(nl: Newsletter, day: date) -> list[Day]:
    """The special editions of ``day``, listed beside its issue (no due time: sent by hand only)."""
    shown = []
    for edition in nl.issues.editions(day):
        gate = nl.status(edition).schedule.gate
        shown.append(Day(edition, None, desk_state(gate, nl.approval(edition).state), True))
    return shown


@bp.route("/")
@requires("read")
def index() -> str:
    nl = newsletter()
    view = nl.schedule_view(UPCOMING)
    coming = {run.readiness.day for run in view.upcoming}
    days = []
    for back in range(RECENT_DAYS, -1, -1):  # the days whose due time has passed: sent, skipped, late
        past = nl.today() - timedelta(days=back)
        if past in coming:
            continue
        schedule = nl.status(past).schedule
        exists = nl.issues.exists(past)
        if schedule.due is None or not (exists or schedule.dispatch or schedule.gate == "sent"):
            continue  # a past day nobody wrote and the scheduler never touched: nothing to say
        approval = nl.approval(past).state if exists else "missing"
        days.append(Day(past, schedule.due, desk_state(schedule.gate, approval, schedule.dispatch), exists))
    for run in view.upcoming:
        if run.holiday:
            continue  # nothing goes out that day; the schedule page names the holiday
        day = run.readiness.day
        exists = nl.issues.exists(day)
        approval = nl.approval(day).state if exists else "missing"
        days.append(Day(day, run.at, desk_state(run.readiness.state, approval), exists))
    days = [shown for d in days for shown in (d, *_editions(nl, d.day))]
    return render_template("desk/home.html", days=days, history=nl.history(limit=14), today=nl.today(),
                           require_approval=view.require_approval)
