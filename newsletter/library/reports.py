"""Where things stand, as methods of :class:`~newsletter.library.Newsletter`: one issue's
status, the history of sends, the schedule ahead. Reading never creates a database.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from newsletter.library.project import Project
from newsletter.library.results import UNCERTAIN_SHOWN, IssueStatus, Override, ScheduleView, UpcomingRun

if TYPE_CHECKING:
    from newsletter.core.i18n import Message
    from newsletter.store.history import HistoryRow
    from newsletter.store.workers import LiveWorker


class Reports(Project):
    """Reading the newsletter's state (``nl.status()``, ``nl.history()``, ``nl.schedule_view()``)."""

    def status(self, day: date | None = None, *, uncertain: int | None = UNCERTAIN_SHOWN) -> IssueStatus:
        """Where the issue stands: figures, problems by reason, the uncertain rows, approval, override,
        resends and schedule.

        :param uncertain: list at most this many uncertain rows (None: all of them).
        """
        from newsletter.schedule.gate import day_state
        from newsletter.store.history import issue_figures
        from newsletter.store.pauses import pauses_of
        from newsletter.store.resends import resends_of
        from newsletter.store.status import send_summary, uncertain_rows
        from newsletter.store.workers import live_workers_of

        day, store = self._day(day), self.reading_store()
        summary = send_summary(store, day)
        record = summary.record
        override = Override(record.override_by, record.override_reason, record.override_at) \
            if record is not None and record.override_by else None
        return IssueStatus(day, self.settings.tz, record.started_at if record else None,
                           record.finished_at if record else None, summary.counts, summary.problems,
                           self.approval(day), override,
                           day_state(self.settings, store, day, self.clock(), counts=summary.counts),
                           issue_figures(store, day, counts=summary.counts) if record else None, pauses_of(store, day),
                           live_workers_of(store, day, self.clock()) if record else [],
                           uncertain_rows(store, day, uncertain) if summary.counts.get("uncertain") else [],
                           resends_of(store, day) if record else [])

    def schedulers(self) -> tuple[list["LiveWorker"], datetime | None]:
        """The scheduler processes running now (by their lease), and when one was last seen alive."""
        from newsletter.store.workers import schedulers

        return schedulers(self.reading_store(), self.clock())

    def history(self, limit: int | None = 30) -> list["HistoryRow"]:
        """The issues sent, newest first, with their figures."""
        from newsletter.store.history import history

        return history(self.reading_store(), limit=limit)

    def rhythm(self) -> "Message | None":
        """How often the issue goes out, in words ("every weekday morning"), from ``[schedule] cron``;
        ``None`` when the cron has no simple weekly rhythm."""
        from newsletter.schedule.rhythm import rhythm

        return rhythm(self.settings)

    def holiday(self, day: date) -> str:
        """The public holiday ``day`` is under ``[schedule] skip_holidays`` ("" when it is none): the
        schedule has no due time then; a one-off send may still be asked for it."""
        from newsletter.schedule.due import holiday

        return holiday(self.settings, day)

    def schedule_view(self, count: int = 5) -> ScheduleView:
        """The next ``count`` due times with the gate's verdict on each day, and the one-off sends waiting."""
        from newsletter.schedule.due import holiday, next_runs
        from newsletter.schedule.gate import readiness
        from newsletter.schedule.jobs import stored_jobs

        settings, store = self.settings, self.reading_store()
        upcoming = [UpcomingRun(fire, readiness(settings, store, fire.date()), holiday(settings, fire.date()))
                    for fire in next_runs(settings, self.clock(), count, holidays=True)]
        return ScheduleView(settings.schedule.cron, settings.schedule_tz, settings.schedule.require_approval,
                            settings.schedule.grace_minutes, upcoming,
                            # no database, no job stored (and APScheduler would dispose of the memory one)
                            stored_jobs(settings, store) if store is not self._empty else [])
