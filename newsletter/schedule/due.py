"""Scheduled sending: each day's issue goes out at its hour, once, when it is ready.

This module computes what the schedule means (due times, the readiness gate, the one-off
sends in the job store); the running process is a front end of its own
(:mod:`newsletter.frontends.scheduler`), which reaches all of this through the library.

``newsletter schedule run`` keeps an APScheduler (3.x) scheduler whose jobs live in the
project's own database (its SQLAlchemy job store), so a restart loses nothing. At each due
time (``[schedule] cron`` in ``[schedule] timezone``) it runs the **readiness gate** for that
day's issue: the folder exists, ``check`` passes, the approval is current when required, the
issue was not sent already. A ready issue is *claimed* in the store (table ``day_claims``)
and sent by the send engine; a failing gate is logged, alerted by email to ``alert_to`` and
tried again every ``retry_minutes`` until ``grace_minutes`` after the due time, after which
the day is recorded as skipped.

After a downtime, a due time missed by less than ``grace_minutes`` is run at start-up;
older ones are recorded as skipped, never sent by surprise. Two processes on one database
(an accident, or two hosts on PostgreSQL) never send an issue twice: the claim is one row per
day that only one of them can take (and keeps while its lease lives), and the ledger under it
refuses a second delivery anyway. Alerts go out once per reason and day for the whole store.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Mapping, Protocol

from newsletter.content.approval import approval_state
from newsletter.config import Settings
from newsletter.content.load import issue_folder
from newsletter.content.problems import errors
from newsletter.errors import ConfigError, ContentError, describe
from newsletter.core.clock import Clock, utc_now
from newsletter.core.i18n import N_
from newsletter.store import jobs, ledger
from newsletter.store.database import Store
from newsletter.store.day_claims import day_claim
from newsletter.store.models import DayClaimState
from newsletter.store.pauses import current_pause

log = logging.getLogger("newsletter.schedule.due")

State = Literal["missing", "failing", "waiting approval", "ready", "sent", "paused"]
JOB_FUNCTION = "newsletter.schedule.due:_job"
DAILY_JOB = "daily"
#: How often the scheduler wakes up to see jobs another process added (``send --at``).
HEARTBEAT_SECONDS = 30.0
#: The reason recorded for a send cut short by a stop request; the next start resumes it.
INTERRUPTED = "interrupted by a stop"


def event(name: str, level: int = logging.INFO, *, exc_info: Any = None, **fields: Any) -> None:
    """One structured log line (JSON) per event, for journald or a container's log.

    :param exc_info: an exception (or ``sys.exc_info()`` triple) whose traceback goes with the line.
    """
    log.log(level, json.dumps({"event": name, **fields}, ensure_ascii=False, default=str), exc_info=exc_info)


def log_thread_crashes() -> None:
    """Log an exception that ends a thread (APScheduler's, a send's) as an error line, not a bare traceback."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        thread = args.thread.name if args.thread is not None else "?"
        event("thread_crashed", logging.CRITICAL, exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
              thread=thread, error=describe(args.exc_value) if args.exc_value is not None else args.exc_type.__name__)

    threading.excepthook = hook


def _job_gone(job_id: str) -> None:
    event("job_gone", job=job_id, reason="removed by another scheduler process")


class JsonLines(logging.Formatter):
    """Every record as one JSON object: the scheduler's events as they are, anything else (APScheduler,
    SQLAlchemy, warnings) as ``{"event": "log", "message": …}``; level and logger added to both."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        payload: Any = None
        if message.startswith("{"):
            try:
                payload = json.loads(message)
            except ValueError:
                payload = None
        if not isinstance(payload, dict) or "event" not in payload:
            payload = {"event": "log", "message": message}
        line = {"level": record.levelname, "logger": record.name, **payload}
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


# -- when ---------------------------------------------------------------------------------


def cron_trigger(settings: Settings) -> Any:
    """The APScheduler trigger of ``[schedule] cron``.

    :raises ConfigError: naming the key, when APScheduler refuses the expression.
    """
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(settings.schedule.cron, timezone=settings.schedule_tz)
    except ValueError as err:
        raise ConfigError(f"newsletter.toml: [schedule] cron {settings.schedule.cron!r} is not valid: {err}",
                          hint='write minute hour day month weekday, e.g. "0 7 * * mon-fri"') from None


def next_runs(settings: Settings, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` due times after ``after``, in the schedule's time zone."""
    trigger = cron_trigger(settings)
    runs: list[datetime] = []
    previous = None
    now = after.astimezone(settings.schedule_tz)
    while len(runs) < count:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        runs.append(fire)
        previous, now = fire, fire + timedelta(microseconds=1)
    return runs


def latest_due(settings: Settings, now: datetime) -> datetime | None:
    """The most recent due time within the grace period before ``now`` (None if there is none)."""
    grace = timedelta(minutes=settings.schedule.grace_minutes)
    trigger = cron_trigger(settings)
    latest, previous = None, None
    after = (now - grace - timedelta(seconds=1)).astimezone(settings.schedule_tz)
    # Walk every due time of the grace period: a schedule may fire more often than any fixed count.
    while (fire := trigger.get_next_fire_time(previous, after)) is not None and fire <= now:
        latest, previous, after = fire, fire, fire + timedelta(microseconds=1)
    return latest


# -- whether ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    """The gate's verdict on one day's issue."""

    day: date
    state: State
    reason: str = ""

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
        return Readiness(day, "sent", "sent by the scheduler")
    send_id = ledger.find_send(store, day)
    if send_id is not None:
        if counts is None:
            counts = ledger.counts(store, send_id)
        open_rows = sum(counts.get(s, 0) for s in ("pending", "queued", "sending"))
        if counts and not open_rows:
            return Readiness(day, "sent", f"{counts.get('sent', 0)} sent")
        pause = current_pause(store, day)
        if pause is not None:  # only an operator resumes it: `newsletter send DATE`
            return Readiness(day, "paused", f"the send paused itself: {pause.reason}")
    folder = issue_folder(settings.issues_dir, day)
    if not folder.is_dir():
        return Readiness(day, "missing", f"{folder.relative_to(settings.root)} does not exist")
    from newsletter.services.check import check_issue  # the renderer's imports, for an issue not sent yet only

    report = check_issue(settings, day)
    problems = errors(report.problems)
    if problems:
        first = problems[0].format(settings.root)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Readiness(day, "failing", f"`newsletter check` fails: {first}{more}")
    if settings.schedule.require_approval:
        approval = approval_state(folder)
        if not approval.current:
            return Readiness(day, "waiting approval", approval.describe())
    return Readiness(day, "ready")


# -- alerts -------------------------------------------------------------------------------


def send_alert(settings: Settings, subject: str, text: str, *, environ: Mapping[str, str] | None = None,
               now: datetime | None = None) -> bool:
    """Email the operator (``[schedule] alert_to``) through the configured adapter. False if it failed."""
    to = settings.schedule.alert_to
    if not to:
        return False
    subject = f"[{settings.newsletter.name}] {subject}"
    from newsletter.services.notify import send_notice  # the transports' imports, when an alert is due only

    error = send_notice(settings, to, subject, text, environ=environ, now=now)
    event("alert_failed" if error else "alert_sent", logging.ERROR if error else logging.INFO, subject=subject,
          to=to, error=error)
    return not error


# -- the running scheduler ------------------------------------------------------------------


class Runner(Protocol):
    """The running scheduler (:class:`newsletter.frontends.scheduler.Scheduler`), as the stored jobs reach it."""

    def run(self, kind: str, day: date | None, due: datetime | None) -> str: ...


_ACTIVE: Runner | None = None


def activate(runner: Runner | None) -> None:
    """Make ``runner`` the one the stored jobs call (None: no scheduler runs in this process)."""
    global _ACTIVE
    _ACTIVE = runner


def _job(kind: str, day: str, due: str) -> str:
    """What the job store calls (a module-level function, so that jobs survive restarts)."""
    if _ACTIVE is None:
        return "no scheduler"
    return _ACTIVE.run(kind, date.fromisoformat(day) if day else None, datetime.fromisoformat(due) if due else None)


def schedule_once(settings: Settings, store: Store, day: date, at: datetime, *,
                  clock: Clock = utc_now) -> str:
    """Store a one-off send of ``day`` at ``at`` for the running ``schedule run`` to carry out.

    :raises ContentError: when the issue was already sent.
    :raises ConfigError: when ``at`` is in the past.
    """
    from newsletter.store.history import is_sent

    claim = day_claim(store, day)
    if is_sent(store, day) or (claim is not None and claim.state is DayClaimState.DONE):
        raise ContentError(N_("issue %(day)s was already sent; it is not scheduled again"),
                           hint=f"see `newsletter status {day.isoformat()}`", values={"day": day.isoformat()})
    if at <= clock():
        raise ConfigError(N_("--at %(at)s is in the past"), hint="give a time to come, in "
                          f"{settings.schedule_tz.key} time", values={"at": f"{at:%Y-%m-%d %H:%M}"})
    job_id = f"once-{day.isoformat()}-{at.strftime('%Y%m%dT%H%M%S')}"
    scheduler = _store_only(settings, store)
    try:
        scheduler.add_job(JOB_FUNCTION, "date", run_date=at, args=["once", day.isoformat(), at.isoformat()],
                          id=job_id, replace_existing=True, name=f"send {day} once",
                          misfire_grace_time=settings.schedule.grace_minutes * 60 or 1, coalesce=True)
    finally:
        scheduler.shutdown(wait=False)
    return job_id


def stored_jobs(settings: Settings, store: Store) -> list[tuple[str, datetime | None]]:
    """The one-off sends waiting in the job store: (name, when)."""
    scheduler = _store_only(settings, store)
    try:
        return [(job.name, job.next_run_time) for job in scheduler.get_jobs() if job.id != DAILY_JOB]
    finally:
        scheduler.shutdown(wait=False)


def _store_only(settings: Settings, store: Store) -> Any:
    """A started scheduler that reads and writes the job store and never runs a job.

    A paused BackgroundScheduler's thread wakes at ``shutdown()`` and processes the due jobs
    against executors already shut down: it logs tracebacks and tries to update or remove jobs
    whose time has passed, from a command that only meant to list or add them.
    """
    from apscheduler.schedulers.base import BaseScheduler

    class StoreOnly(BaseScheduler):
        def wakeup(self) -> None:  # no thread, no loop: nothing ever processes the jobs
            pass

        def shutdown(self, wait: bool = True) -> None:  # abstract in BaseScheduler: its own is enough
            super().shutdown(wait)

    scheduler = StoreOnly(jobstores={"default": jobs.job_store(store)},
                          timezone=settings.schedule_tz)
    scheduler.start(paused=True)
    return scheduler
