"""The readiness gate (:func:`readiness`: may the scheduler send this day's issue now?) and where one
day's issue stands for the operator (``newsletter status``): the gate, what the scheduler recorded,
when the issue is due, and whether that calls for attention.

It says "attention" exactly when the scheduler would have warned or alerted: its record is
waiting or skipped, or the due time (less ``warn_minutes``) has come and the issue is not
ready, or the grace period is over and the issue was not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, Mapping

from newsletter.config import Settings
from newsletter.core.i18n import Count, Message, Translatable, Word
from newsletter.errors import N_
from newsletter.content.approval import approval_state
from newsletter.core.issue_id import edition_of
from newsletter.content.load import issue_folder
from newsletter.content.problems import errors
from newsletter.delivery.reasons import said_reason
from newsletter.schedule.due import holiday, next_runs
from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.day_claims import day_claim
from newsletter.store.models import DayClaimState
from newsletter.store.pauses import current_pause

State = Literal["missing", "failing", "waiting approval", "ready", "sent", "paused"]


@dataclass(frozen=True)
class Readiness:
    """The gate's verdict on one day's issue."""

    day: date
    state: State
    reason: str = ""  # in English, for the logs and the records
    said: Translatable | None = None  # the reason, for a reader in another language (None: none or as it is)

    @property
    def ready(self) -> bool:
        return self.state == "ready"


def readiness(settings: Settings, store: Store, day: date, *, counts: Mapping[str, int] | None = None) -> Readiness:
    """Run the readiness gate: folder, check, approval, not sent already.

    :param counts: the send's rows per state when the caller has just counted them (``status``
        counts once what three views show: on a 1,000,000-row send each count is a tenth of a second).
    """
    claim = day_claim(store, day)
    if claim is not None and claim.state is DayClaimState.DONE:
        return _verdict(day, "sent", Message(N_("sent by the scheduler")))
    send_id = ledger.find_send(store, day)
    if send_id is not None:
        if counts is None:
            counts = ledger.counts(store, send_id)
        open_rows = sum(counts.get(s, 0) for s in ("pending", "queued", "sending"))
        if counts and not open_rows:
            return _verdict(day, "sent", Count("%(num)d sent", "%(num)d sent", counts.get("sent", 0)))
        pause = current_pause(store, day)
        if pause is not None:  # only an operator resumes it: `newsletter send DATE`
            return _verdict(day, "paused", Message(N_("the send paused itself: %(reason)s"),
                                                   {"reason": said_reason(pause.reason)}))
    folder = issue_folder(settings.issues_dir, day)
    if not folder.is_dir():
        return _verdict(day, "missing", Message(N_("%(path)s does not exist"),
                                                {"path": folder.relative_to(settings.root)}))
    from newsletter.services.check import check_issue  # the renderer's imports, for an issue not sent yet only

    report = check_issue(settings, day)
    problems = errors(report.problems)
    if problems:
        first = Message(N_("%(where)s: %(what)s"), {"where": problems[0].location(settings.root),
                                                    "what": Message(problems[0].template, problems[0].values)})
        more = Count(" (and %(num)d more)", " (and %(num)d more)", len(problems) - 1) if len(problems) > 1 else ""
        return _verdict(day, "failing", Message(N_("`newsletter check` fails: %(first)s%(more)s"),
                                                {"first": first, "more": more}))
    if settings.schedule.require_approval:
        approval = approval_state(folder)
        if not approval.current:
            return Readiness(day, "waiting approval", approval.describe(), approval)
    return Readiness(day, "ready")


def _verdict(day: date, state: State, reason: Message | Count) -> Readiness:
    return Readiness(day, state, str(reason), reason)


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
    holiday: str = ""  # the public holiday that leaves the day without a due time ([schedule] skip_holidays)
    said: Translatable | None = None  # the gate's reason for a reader in another language (see Readiness)
    alarm_said: Translatable | None = None  # the alarm, likewise


def due_time(settings: Settings, day: date) -> datetime | None:
    """The schedule's due time on ``day`` (in the schedule's time zone), if it has one; a special
    edition has none (only ``send ISSUE`` or ``send ISSUE --at`` sends it)."""
    if edition_of(day):
        return None
    start = datetime.combine(day, time(), tzinfo=settings.schedule_tz)
    runs = next_runs(settings, start - timedelta(microseconds=1), 1)
    return runs[0] if runs and runs[0].date() == day else None


def day_state(settings: Settings, store: Store, day: date, now: datetime, *,
              counts: Mapping[str, int] | None = None) -> DayState:
    """The gate, the scheduler's record and the verdict for ``day`` at ``now`` (``counts``: the send's
    rows per state, when the caller has them; see :func:`readiness`)."""
    gate = readiness(settings, store, day, counts=counts)
    claim = day_claim(store, day)
    due = due_time(settings, day)
    alarm: Message | None = None
    schedule = settings.schedule
    if claim is not None and claim.state in (DayClaimState.WAITING, DayClaimState.SKIPPED):
        alarm = Message(N_("the scheduler recorded it as %(state)s"), {"state": claim.state.value})
    elif gate.state != "sent" and due is not None:
        when = f"{due:%Y-%m-%d %H:%M %Z}"
        if now > due + timedelta(minutes=schedule.grace_minutes):
            alarm = Message(N_("it was due at %(when)s and was not sent"), {"when": when})
        elif gate.state != "ready" and now >= due - timedelta(minutes=schedule.warn_minutes):
            alarm = Message(N_("it is due at %(when)s and is not ready (%(state)s)"),
                            {"when": when, "state": Word("gate verdict", gate.state)})
    return DayState(day, gate.state, gate.reason, due, claim.state.value if claim else None,
                    claim.reason if claim else "", str(alarm) if alarm else "",
                    holiday(settings, day) if due is None and not edition_of(day) else "", gate.said, alarm)
