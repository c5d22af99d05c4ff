"""The scheduler's jobs in the project's database: the daily job and the one-off sends (``send --at``).

Every process sees the same jobs (APScheduler's SQLAlchemy job store, :mod:`newsletter.store.jobs`):
``send --at`` stores a one-off send here for the running ``schedule run`` to carry out, ``schedule show``
lists them. A stored job names its function by text (:data:`JOB_FUNCTION`); the running scheduler
(:mod:`newsletter.frontends.scheduler`) runs it on itself.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from newsletter.config import Settings
from newsletter.core.clock import Clock, utc_now
from newsletter.core.i18n import N_
from newsletter.core.logs import event
from newsletter.errors import ConfigError, ContentError
from newsletter.store import jobs
from newsletter.store.database import Store
from newsletter.store.day_claims import day_claim
from newsletter.store.models import DayClaimState

#: What a stored job calls: the scheduler front end's entry for its jobs (a text, so that jobs survive restarts).
JOB_FUNCTION = "newsletter.frontends.scheduler:scheduled_job"
#: What the jobs stored by earlier versions name; the running scheduler runs them as its own.
STORED_BEFORE = ("newsletter.schedule:_job",)
DAILY_JOB = "daily"
#: How often the scheduler wakes up to see jobs another process added (``send --at``).
HEARTBEAT_SECONDS = 30.0
#: The heartbeat's job id: its runs are not logged one by one (see :class:`newsletter.core.logs.QuietJobs`).
HEARTBEAT_JOB = "heartbeat"
#: How often the heartbeat says in the log that the scheduler is alive, and when it sends next.
ALIVE_SECONDS = 3600.0
#: The reason recorded for a send cut short by a stop request; the next start resumes it.
INTERRUPTED = "interrupted by a stop"


def job_gone(job_id: str) -> None:
    """Log a job another scheduler process ran and removed first (the job store's listener)."""
    event("job_gone", job=job_id, reason="removed by another scheduler process")


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
