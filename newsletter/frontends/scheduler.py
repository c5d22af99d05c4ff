"""``newsletter schedule run``: the long-lived process that sends each day's issue at its hour, once, when ready.

A front end like the command line and the web service: it fires APScheduler's jobs and decides
when to try again, and calls the library (:class:`~newsletter.library.Newsletter` and its
:attr:`~newsletter.library.Newsletter.schedule_ops`) for everything else: the readiness gate,
the day claims, the send, the alerts and the bounce mailbox. What the schedule means (due times,
the gate, grace periods, claims) is described in :mod:`newsletter.schedule.due`.

The jobs in the project's database name :func:`scheduled_job` by text, as APScheduler needs for jobs
that outlive a process, and such a function can reach no running object without module-global
state. So the scheduler runs them on itself instead: its executor (:func:`_on_scheduler`) hands each
stored job's arguments to :meth:`Scheduler.run`.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from datetime import date, datetime, timedelta
from typing import Any, Callable, Mapping

from newsletter.config import Settings
from newsletter.core.clock import utc_now
from newsletter.errors import NewsletterError, describe
from newsletter.library import IssueId
from newsletter.library import (ALIVE_SECONDS, DAILY_JOB, HEARTBEAT_JOB, HEARTBEAT_SECONDS, INTERRUPTED, JOB_FUNCTION,
                                STORED_BEFORE, DayClaimState, Newsletter, Readiness, ScheduleOps, event)


def scheduled_job(kind: str, day: str, due: str) -> str:
    """What a stored job names (:data:`JOB_FUNCTION`). A running scheduler never calls it: its executor
    runs the job on :meth:`Scheduler.run`; anything else that would (a scheduler of another program
    on the same job store) does nothing."""
    return "no scheduler"


def _on_scheduler(run: Callable[[str, date | None, datetime | None], str], max_workers: int) -> Any:
    """APScheduler's thread pool, running the stored jobs (:data:`JOB_FUNCTION`) on ``run``."""
    from apscheduler.executors.pool import ThreadPoolExecutor  # APScheduler's imports, for `schedule run` only

    class OnScheduler(ThreadPoolExecutor):
        def _do_submit_job(self, job: Any, run_times: Any) -> None:
            if job.func_ref == JOB_FUNCTION or job.func_ref in STORED_BEFORE:
                stored, job = job, copy.copy(job)  # the stored job is left as it is; this copy calls the scheduler
                job._scheduler, job._jobstore_alias = stored._scheduler, stored._jobstore_alias
                kind, day, due = (str(arg) for arg in job.args)
                job.func = lambda *_: run(kind, IssueId.parse(day) if day else None,
                                          datetime.fromisoformat(due) if due else None)
            super()._do_submit_job(job, run_times)

    return OnScheduler(max_workers)


#: The weekly roundup's job, and how long before its due time the heartbeat builds it.
WEEKLY_JOB = "weekly"
WEEKLY_AHEAD = timedelta(days=1)


class Scheduler:
    """The running scheduler of one newsletter (call :meth:`start`, then :meth:`shutdown`)."""

    def __init__(self, nl: Newsletter) -> None:
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        settings = nl.settings
        self.nl = nl
        self.ops: ScheduleOps = nl.schedule_ops
        self.stop = threading.Event()
        self.run_id = self.ops.new_run_id()
        self.lease = timedelta(seconds=settings.delivery.lease_seconds)
        self.holder: Any = None
        self.warned: set[date] = set()
        self.said_alive: datetime | None = None
        self.lock = threading.Lock()
        self.trigger = self.ops.trigger()
        self.scheduler = BackgroundScheduler(
            jobstores={"default": self.ops.job_store(), "local": MemoryJobStore()},
            executors={"default": _on_scheduler(self.run, 2)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": settings.schedule.grace_minutes * 60 or 1},
            timezone=settings.schedule_tz,
        )

    @property
    def settings(self) -> Settings:
        return self.nl.settings

    @property
    def store(self) -> Any:
        return self.nl.store

    @property
    def secret_key(self) -> str:
        return self.ops.secret_key

    @property
    def environ(self) -> Mapping[str, str]:
        return self.nl.environ

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.nl.clock

    def start(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED

        # The lease that keeps this process's day claims its own while it lives.
        self.holder = self.ops.hold_lease(self.run_id, self.lease)
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._crashed, EVENT_JOB_ERROR)
        self.scheduler.start()
        self.scheduler.add_job(JOB_FUNCTION, self.trigger, args=["daily", "", ""], id=DAILY_JOB,
                               replace_existing=True, name="daily issue")
        weekly = self.ops.weekly_trigger()
        if weekly is not None:  # [weekly] cron: the roundup, built ahead by the heartbeat, sent at its time
            self.scheduler.add_job(JOB_FUNCTION, weekly, args=["weekly", "", ""], id=WEEKLY_JOB,
                                   replace_existing=True, name="weekly roundup")
        self.said_alive = self.clock()  # "scheduler_started" below says it, with the next run
        # APScheduler paces its jobs on the real clock (its own business); what each job decides reads self.clock.
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_SECONDS, jobstore="local",
                               id=HEARTBEAT_JOB, next_run_time=utc_now())
        bounce_job = self.ops.bounce_job()
        if bounce_job is not None:  # [bounces] names a mailbox: read it
            read, minutes = bounce_job
            self.scheduler.add_job(read, "interval", minutes=minutes, jobstore="local", id="bounces",
                                   next_run_time=utc_now())
        upcoming = self.ops.next_runs(self.clock(), 1)
        event("scheduler_started", run=self.run_id, cron=self.settings.schedule.cron,
              timezone=str(self.settings.schedule_tz), next_run=upcoming[0].isoformat() if upcoming else None)

    def shutdown(self) -> None:
        """Stop taking jobs; a send in progress finishes the message in hand and stays resumable."""
        self.stop.set()
        self.scheduler.shutdown(wait=True)
        if self.holder is not None:
            self.holder.stop()
        event("scheduler_stopped", run=self.run_id)

    # Each job, whatever triggered it, ends here.
    def run(self, kind: str, day: date | None, due: datetime | None) -> str:
        now = self.clock()
        if kind == "daily":
            due = self.ops.latest_due(now)
            if due is None:
                return "nothing due"
            day = due.date()
        elif kind == "weekly":
            due = self.ops.latest_weekly_due(now)
            if due is None:
                return "nothing due"
            day = self.ops.roundup_of(due)
        assert day is not None and due is not None
        with self.lock:
            return self._attempt(kind, day, due, now)

    def _attempt(self, kind: str, day: date, due: datetime, now: datetime) -> str:
        ops = self.ops
        gate = ops.readiness(day)
        if gate.state == "sent":
            event("already_sent", issue=day, reason=gate.reason)
            claim = ops.day_claim(day)
            if claim is not None and claim.state is DayClaimState.CLAIMED:  # its scheduler died after the last message
                ops.record_day(day, DayClaimState.DONE, now, reason=gate.reason)
            return "sent"
        if gate.state == "paused":  # never resumed by the scheduler: the list needs a person first
            event("send_paused", logging.WARNING, issue=day, reason=gate.reason)
            return "paused"
        if not gate.ready:
            return self._not_ready(day, due, now, gate)
        if not ops.claim_day(day, self.run_id, now, self.lease):
            event("claimed_elsewhere", issue=day)
            return "claimed elsewhere"
        ops.alert_dead_links(day)  # advice for the operator: the send goes on whatever it finds
        event("send_started", issue=day, trigger=kind, due=due)
        try:
            report = ops.send(day, stop=self.stop)
        except NewsletterError as err:
            ops.record_day(day, DayClaimState.WAITING, self.clock(), reason=str(err))
            event("send_failed", logging.ERROR, issue=day, error=str(err))
            ops.alert_send_failed(day, err)
            self._retry_later(day, due, self.clock())
            return "send failed"
        finished = report.complete
        reason = "" if finished else f"{report.pending} recipients pending ({report.stopped or 'retries'})"
        if not finished and self.stop.is_set():
            reason = f"{INTERRUPTED}: {reason}"  # the next start resumes it (see heartbeat)
        ops.record_day(day, DayClaimState.DONE if finished else DayClaimState.WAITING, self.clock(), reason=reason)
        event("send_finished", issue=day, sent=report.sent_now, failed=report.failed_now, pending=report.pending,
              counts=report.counts, seconds=round(report.elapsed, 1))
        if report.paused:
            # Recorded as waiting with the pause's reason; no retry: an operator resumes it.
            ops.record_day(day, DayClaimState.WAITING, self.clock(), reason=f"paused: {report.paused}")
            event("send_paused", logging.ERROR, issue=day, reason=report.paused, pending=report.pending)
            ops.alert_pause(report)
            return "paused"
        if not finished and not self.stop.is_set():
            self._retry_later(day, due, self.clock())
        return "done" if finished else "pending"

    def _not_ready(self, day: date, due: datetime, now: datetime, gate: Readiness) -> str:
        event("gate_failed", logging.WARNING, issue=day, state=gate.state, reason=gate.reason)
        deadline = due + timedelta(minutes=self.settings.schedule.grace_minutes)
        if not self._retry_later(day, due, now):
            self.ops.record_day(day, DayClaimState.SKIPPED, now, reason=f"{gate.state}: {gate.reason}")
            event("issue_skipped", logging.ERROR, issue=day, reason=gate.reason)
            self.ops.alert_gave_up(day, gate, due, deadline)
            return "skipped"
        self.ops.record_day(day, DayClaimState.WAITING, now, reason=f"{gate.state}: {gate.reason}")
        self.ops.alert_not_ready(day, gate, due, deadline)
        return gate.state

    def _retry_later(self, day: date, due: datetime, now: datetime) -> bool:
        when = now + timedelta(minutes=self.settings.schedule.retry_minutes)
        if when > due + timedelta(minutes=self.settings.schedule.grace_minutes) or self.stop.is_set():
            return False
        self.scheduler.add_job(JOB_FUNCTION, "date", run_date=when, args=["retry", day.isoformat(), due.isoformat()],
                               id=f"retry-{day.isoformat()}", replace_existing=True, name=f"retry {day}")
        event("retry_scheduled", issue=day, at=when)
        return True

    def heartbeat(self) -> None:
        """Wake up regularly: see jobs added by ``send --at``, resume every send cut short (a stop, or a
        scheduler killed while its lease was fresh within the grace period), warn early."""
        ops, now = self.ops, self.clock()
        recent = now - timedelta(minutes=self.settings.schedule.grace_minutes)
        # Every send a scheduler that is gone was carrying (the daily one, a `send --at`, a retry), not
        # only the cron's latest day: the claim names the day, the time it was taken stands for its due time.
        for claim in ops.orphaned_claims(now, recent, self.lease):
            event("resuming", issue=claim.day, previous_run=claim.run_id)
            self.run("retry", claim.day, claim.updated_at)
        for day, since in ops.interrupted(recent):
            event("resuming", issue=day, interrupted_at=since)
            self.run("retry", day, since)
        upcoming = ops.next_runs(now, 1)
        if self.said_alive is None or now - self.said_alive >= timedelta(seconds=ALIVE_SECONDS):
            self.said_alive = now
            event("scheduler_alive", run=self.run_id, next_run=upcoming[0].isoformat() if upcoming else None)
        self._roundup_ahead(now)
        if upcoming and self.settings.schedule.warn_minutes:
            fire = upcoming[0]
            if fire - now <= timedelta(minutes=self.settings.schedule.warn_minutes) and fire.date() not in self.warned:
                self.warned.add(fire.date())  # the gate is run once per process; the alert is once per store
                gate = ops.readiness(fire.date())
                if gate.state not in ("ready", "sent", "paused"):
                    event("early_warning", logging.WARNING, issue=fire.date(), state=gate.state, reason=gate.reason)
                    ops.alert_early(fire.date(), gate, fire)

    def _roundup_ahead(self, now: datetime) -> None:
        """Build the weekly roundup a day before its due time (never over an editor's folder), and alert
        when it waits for approval: the editor rewrites its intro and approves it in time."""
        due = self.ops.weekly_due(now)
        if due is None or due - now > WEEKLY_AHEAD:
            return
        roundup = self.ops.roundup_of(due)
        if roundup in self.warned:
            return
        self.warned.add(roundup)  # once per process; the alert is once per store
        if not self.ops.build_roundup(due):
            event("roundup_empty", logging.WARNING, issue=roundup, reason="no issue was sent this week")
            return
        gate = self.ops.readiness(roundup)
        event("roundup_built", issue=roundup, state=gate.state, due=due)
        if gate.state not in ("ready", "sent", "paused"):
            self.ops.alert_early(roundup, gate, due)

    def _missed(self, job_event: Any) -> None:
        scheduled = job_event.scheduled_run_time
        if job_event.job_id != DAILY_JOB and not str(job_event.job_id).startswith("once-"):
            return
        job_id = str(job_event.job_id)
        # A one-off job names its issue in its id (once-ISSUE-YYYYmmddTHHMMSS); the daily one is due on its own date.
        day = IssueId.parse(re.sub(r"-\d{8}T\d{6}$", "", job_id[5:])) if job_id.startswith("once-") else \
            scheduled.astimezone(self.settings.schedule_tz).date()
        if not job_id.startswith("once-") and self.nl.holiday(day):
            return  # a public holiday ([schedule] skip_holidays): nothing was due, nothing was missed
        claim = self.ops.day_claim(day)
        if claim is not None and claim.state is DayClaimState.DONE:
            return
        reason = (f"the scheduler was not running at {scheduled:%Y-%m-%d %H:%M %Z} and the "
                  f"{self.settings.schedule.grace_minutes}-minute grace period has passed")
        self.ops.record_day(day, DayClaimState.SKIPPED, self.clock(), reason=reason)
        event("issue_skipped", logging.ERROR, issue=day, reason=reason)
        self.ops.alert_missed(day, scheduled)

    @staticmethod
    def _crashed(job_event: Any) -> None:
        # describe(), never repr(): an exception may carry a whole message, unsubscribe URL included.
        event("job_error", logging.ERROR, job=job_event.job_id, error=describe(job_event.exception))


def run_scheduler(nl: Newsletter, stop: threading.Event, *, poll: float = 1.0) -> None:
    """``schedule run``: run ``nl``'s scheduler until ``stop`` is set, e.g. by a signal handler."""
    scheduler = Scheduler(nl)
    scheduler.start()
    nl.hooks.start(stop)  # [[hooks]]: the outbox posted in the background, until the same stop
    try:
        while not stop.wait(poll):
            pass
    finally:
        scheduler.shutdown()
