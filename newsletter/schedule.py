"""Scheduled sending: each day's issue goes out at its hour, once, when it is ready.

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
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Literal, Mapping

from newsletter.approval import approval_state
from newsletter.config import Settings
from newsletter.check import check_issue
from newsletter.content.load import issue_folder
from newsletter.content.problems import errors
from newsletter.errors import ConfigError, ContentError, NewsletterError, describe
from newsletter.notify import send_notice
from newsletter import alert_text
from newsletter.store import jobs, leases, ledger
from newsletter.store.alerts import claim_alert, forget_alert
from newsletter.store.database import Store
from newsletter.store.day_claims import claim_day, day_claim, set_day_claim, waiting_since
from newsletter.store.models import DayClaimState
from newsletter.store.pauses import current_pause

log = logging.getLogger("newsletter.schedule")

State = Literal["missing", "failing", "waiting approval", "ready", "sent", "paused"]
JOB_FUNCTION = "newsletter.schedule:_job"
DAILY_JOB = "daily"
#: How often the scheduler wakes up to see jobs another process added (``send --at``).
HEARTBEAT_SECONDS = 30.0
#: The reason recorded for a send cut short by a stop request; the next start resumes it.
INTERRUPTED = "interrupted by a stop"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


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


def readiness(settings: Settings, store: Store, day: date) -> Readiness:
    """Run the readiness gate: folder, check, approval, not sent already."""
    claim = day_claim(store, day)
    if claim is not None and claim.state is DayClaimState.DONE:
        return Readiness(day, "sent", "sent by the scheduler")
    send_id = ledger.find_send(store, day)
    if send_id is not None:
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
    error = send_notice(settings, to, subject, text, environ=environ, now=now)
    event("alert_failed" if error else "alert_sent", logging.ERROR if error else logging.INFO, subject=subject,
          to=to, error=error)
    return not error


# -- the scheduler ------------------------------------------------------------------------


class Scheduler:
    """The long-lived process behind ``newsletter schedule run``."""

    def __init__(self, settings: Settings, store: Store, secret_key: str, *,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        self.settings, self.store, self.secret_key = settings, store, secret_key
        self.environ, self.clock = environ, clock
        self.stop = threading.Event()
        self.run_id = ledger.new_run_id()
        self.lease = timedelta(seconds=settings.delivery.lease_seconds)
        self.holder: leases.Heartbeat | None = None
        self.warned: set[date] = set()
        self.lock = threading.Lock()
        self.trigger = cron_trigger(settings)
        self.scheduler = BackgroundScheduler(
            jobstores={"default": jobs.shared_job_store(store, _job_gone), "local": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": settings.schedule.grace_minutes * 60 or 1},
            timezone=settings.schedule_tz,
        )

    def start(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED

        global _ACTIVE
        _ACTIVE = self
        # The lease that keeps this process's day claims its own while it lives (see leases).
        self.holder = leases.Heartbeat(self.store, self.run_id, duration=self.lease, clock=self.clock).start()
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._crashed, EVENT_JOB_ERROR)
        self.scheduler.start()
        self.scheduler.add_job(JOB_FUNCTION, self.trigger, args=["daily", "", ""], id=DAILY_JOB,
                               replace_existing=True, name="daily issue")
        # APScheduler paces its jobs on the real clock (its own business); what each job decides reads self.clock.
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_SECONDS, jobstore="local",
                               id="heartbeat", next_run_time=datetime.now(timezone.utc))
        bounces = self.settings.bounces
        if bounces is not None and (bounces.maildir is not None or bounces.imap_host):  # [bounces]: read the mailbox
            from newsletter.bounces.process import scheduled_read
            self.scheduler.add_job(scheduled_read, "interval", minutes=bounces.check_minutes, jobstore="local",
                                   id="bounces", args=[self.settings, self.store, self.secret_key, self.clock],
                                   next_run_time=datetime.now(timezone.utc))
        upcoming = next_runs(self.settings, self.clock(), 1)
        event("scheduler_started", run=self.run_id, cron=self.settings.schedule.cron,
              timezone=str(self.settings.schedule_tz), next_run=upcoming[0].isoformat() if upcoming else None)

    def shutdown(self) -> None:
        """Stop taking jobs; a send in progress finishes the message in hand and stays resumable."""
        global _ACTIVE
        self.stop.set()
        self.scheduler.shutdown(wait=True)
        if self.holder is not None:
            self.holder.stop()
        _ACTIVE = None
        event("scheduler_stopped", run=self.run_id)

    # Each job, whatever triggered it, ends here.
    def run(self, kind: str, day: date | None, due: datetime | None) -> str:
        now = self.clock()
        if kind == "daily":
            due = latest_due(self.settings, now)
            if due is None:
                return "nothing due"
            day = due.date()
        assert day is not None and due is not None
        with self.lock:
            return self._attempt(kind, day, due, now)

    def _attempt(self, kind: str, day: date, due: datetime, now: datetime) -> str:
        from newsletter.delivery.engine import send_issue

        gate = readiness(self.settings, self.store, day)
        if gate.state == "sent":
            event("already_sent", issue=day, reason=gate.reason)
            return "sent"
        if gate.state == "paused":  # never resumed by the scheduler: the list needs a person first
            event("send_paused", logging.WARNING, issue=day, reason=gate.reason)
            return "paused"
        if not gate.ready:
            return self._not_ready(day, due, now, gate)
        if not claim_day(self.store, day, self.run_id, now, self.lease):
            event("claimed_elsewhere", issue=day)
            return "claimed elsewhere"
        event("send_started", issue=day, trigger=kind, due=due)
        try:
            report = send_issue(self.settings, self.store, day, secret_key=self.secret_key, stop=self.stop,
                                clock=self.clock)
        except NewsletterError as err:
            set_day_claim(self.store, day, DayClaimState.WAITING, self.clock(), reason=str(err))
            event("send_failed", logging.ERROR, issue=day, error=str(err))
            self._alert(day, alert_text.send_failed(self.settings, day, str(err), err.hint))
            self._retry_later(day, due, self.clock())
            return "send failed"
        finished = report.complete
        reason = "" if finished else f"{report.pending} recipients pending ({report.stopped or 'retries'})"
        if not finished and self.stop.is_set():
            reason = f"{INTERRUPTED}: {reason}"  # the next start resumes it (see heartbeat)
        set_day_claim(self.store, day, DayClaimState.DONE if finished else DayClaimState.WAITING, self.clock(),
                     reason=reason)
        event("send_finished", issue=day, sent=report.sent_now, failed=report.failed_now, pending=report.pending,
              counts=report.counts, seconds=round(report.elapsed, 1))
        if report.paused:
            # Recorded as waiting with the pause's reason; no retry: an operator resumes it.
            set_day_claim(self.store, day, DayClaimState.WAITING, self.clock(), reason=f"paused: {report.paused}")
            event("send_paused", logging.ERROR, issue=day, reason=report.paused, pending=report.pending)
            from newsletter.reputation import alert_pause
            alert_pause(self.settings, self.store, report, now=self.clock(), environ=self.environ)
            return "paused"
        if not finished and not self.stop.is_set():
            self._retry_later(day, due, self.clock())
        return "done" if finished else "pending"

    def _not_ready(self, day: date, due: datetime, now: datetime, gate: Readiness) -> str:
        event("gate_failed", logging.WARNING, issue=day, state=gate.state, reason=gate.reason)
        deadline = due + timedelta(minutes=self.settings.schedule.grace_minutes)
        if not self._retry_later(day, due, now):
            set_day_claim(self.store, day, DayClaimState.SKIPPED, now, reason=f"{gate.state}: {gate.reason}")
            event("issue_skipped", logging.ERROR, issue=day, reason=gate.reason)
            why = alert_text.gate_gave_up(self.settings, day, gate.state, gate.reason, due, deadline)
            self._alert(day, alert_text.not_sent(self.settings, day, why))
            return "skipped"
        set_day_claim(self.store, day, DayClaimState.WAITING, now, reason=f"{gate.state}: {gate.reason}")
        self._alert(day, alert_text.not_ready(self.settings, day, gate.state, gate.reason, due, deadline))
        return gate.state

    def _retry_later(self, day: date, due: datetime, now: datetime) -> bool:
        when = now + timedelta(minutes=self.settings.schedule.retry_minutes)
        if when > due + timedelta(minutes=self.settings.schedule.grace_minutes) or self.stop.is_set():
            return False
        self.scheduler.add_job(JOB_FUNCTION, "date", run_date=when, args=["retry", day.isoformat(), due.isoformat()],
                               id=f"retry-{day.isoformat()}", replace_existing=True, name=f"retry {day}")
        event("retry_scheduled", issue=day, at=when)
        return True

    def _alert(self, day: date, alert: alert_text.AlertText) -> None:
        """Alert once per reason and day for the whole store, whichever process gets there first."""
        if not self.settings.schedule.alert_to:
            return
        now = self.clock()
        if not claim_alert(self.store, day, alert.key, now):
            event("alert_already_sent", issue=day, reason=alert.key)
            return
        if not send_alert(self.settings, alert.subject, alert.body, environ=self.environ, now=now):
            forget_alert(self.store, day, alert.key)

    def heartbeat(self) -> None:
        """Wake up regularly: see jobs added by ``send --at``, resume a send cut short, warn early."""
        now = self.clock()
        due = latest_due(self.settings, now)
        if due is not None:
            claim = day_claim(self.store, due.date())
            if claim is not None and claim.state is DayClaimState.CLAIMED \
                    and not leases.alive(self.store, claim.run_id, now, claim.updated_at, self.lease):
                event("resuming", issue=due.date(), previous_run=claim.run_id)
                self.run("retry", due.date(), due)
        for day, since in waiting_since(self.store, INTERRUPTED, now - timedelta(minutes=self.settings.schedule.grace_minutes)):
            event("resuming", issue=day, interrupted_at=since)
            self.run("retry", day, since)
        upcoming = next_runs(self.settings, now, 1)
        if upcoming and self.settings.schedule.warn_minutes:
            fire = upcoming[0]
            if fire - now <= timedelta(minutes=self.settings.schedule.warn_minutes) and fire.date() not in self.warned:
                self.warned.add(fire.date())  # the gate is run once per process; the alert is once per store
                gate = readiness(self.settings, self.store, fire.date())
                if gate.state not in ("ready", "sent", "paused"):
                    event("early_warning", logging.WARNING, issue=fire.date(), state=gate.state, reason=gate.reason)
                    self._alert(fire.date(), alert_text.early_warning(self.settings, fire.date(), gate.state,
                                                                      gate.reason, fire))

    def _missed(self, job_event: Any) -> None:
        scheduled = job_event.scheduled_run_time
        if job_event.job_id != DAILY_JOB and not str(job_event.job_id).startswith("once-"):
            return
        job_id = str(job_event.job_id)
        # A one-off job names its issue in its id (once-YYYY-MM-DD-…); the daily one is due on its own date.
        day = date.fromisoformat(job_id[5:15]) if job_id.startswith("once-") else \
            scheduled.astimezone(self.settings.schedule_tz).date()
        claim = day_claim(self.store, day)
        if claim is not None and claim.state is DayClaimState.DONE:
            return
        reason = (f"the scheduler was not running at {scheduled:%Y-%m-%d %H:%M %Z} and the "
                  f"{self.settings.schedule.grace_minutes}-minute grace period has passed")
        set_day_claim(self.store, day, DayClaimState.SKIPPED, self.clock(), reason=reason)
        event("issue_skipped", logging.ERROR, issue=day, reason=reason)
        self._alert(day, alert_text.not_sent(self.settings, day, alert_text.missed(self.settings, scheduled)))

    @staticmethod
    def _crashed(job_event: Any) -> None:
        # describe(), never repr(): an exception may carry a whole message, unsubscribe URL included.
        event("job_error", logging.ERROR, job=job_event.job_id, error=describe(job_event.exception))


_ACTIVE: Scheduler | None = None


def _job(kind: str, day: str, due: str) -> str:
    """What the job store calls (a module-level function, so that jobs survive restarts)."""
    if _ACTIVE is None:
        return "no scheduler"
    return _ACTIVE.run(kind, date.fromisoformat(day) if day else None, datetime.fromisoformat(due) if due else None)


def schedule_once(settings: Settings, store: Store, day: date, at: datetime, *,
                  clock: Callable[[], datetime] = utc_now) -> str:
    """Store a one-off send of ``day`` at ``at`` for the running ``schedule run`` to carry out.

    :raises ContentError: when the issue was already sent.
    :raises ConfigError: when ``at`` is in the past.
    """
    from newsletter.store.history import is_sent

    claim = day_claim(store, day)
    if is_sent(store, day) or (claim is not None and claim.state is DayClaimState.DONE):
        raise ContentError(f"issue {day.isoformat()} was already sent; it is not scheduled again",
                           hint=f"see `newsletter status {day.isoformat()}`")
    if at <= clock():
        raise ConfigError(f"--at {at:%Y-%m-%d %H:%M} is in the past", hint="give a time to come, in "
                          f"{settings.schedule_tz.key} time")
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
