"""The library's operations for the scheduler front end (``schedule run``, :mod:`newsletter.frontends.scheduler`).

The runner fires jobs and decides when to try again; everything it reads or records goes
through :class:`ScheduleOps` (``nl.schedule_ops``): the readiness gate, the day claims and the
process lease that keep two schedulers from sending one issue twice, the send itself, the
operator's alerts (once per reason and day for the whole store) and the bounce mailbox. The
gate, the due times, the stored jobs and the claims are computed below the library
(:mod:`newsletter.schedule`, ``newsletter.store``); the running scheduler runs the stored jobs itself.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, cast

from newsletter.errors import NewsletterError
from newsletter.core.logs import event
from newsletter.library.project import Project
from newsletter.schedule.jobs import INTERRUPTED

if TYPE_CHECKING:
    from newsletter.content.problems import Problem
    from newsletter.library import Newsletter
    from newsletter.services.alerts import AlertText
    from newsletter.delivery.engine import SendReport
    from newsletter.schedule.gate import Readiness
    from newsletter.store.day_claims import DayClaimRecord
    from newsletter.store.models import DayClaimState


class ScheduleOps:
    """What one running scheduler does to its newsletter's store and mail (``nl.schedule_ops``)."""

    #: The link check run before a send (None: :func:`newsletter.services.links.link_problems`, which fetches
    #: through ``[sourcing]``); a caller may give its own, with the same parameters.
    link_check: "Callable[..., list[Problem]] | None" = None

    def __init__(self, newsletter: Project) -> None:
        self._nl = newsletter
        self.secret_key = newsletter.secret_key().value  # checked now: a weak key stops the start

    # -- the process ------------------------------------------------------------------------------

    @staticmethod
    def new_run_id() -> str:
        from newsletter.store import ledger

        return ledger.new_run_id()

    def hold_lease(self, run_id: str, duration: timedelta) -> Any:
        """Start the heartbeat that keeps this process's day claims its own while it lives (``.stop()`` it)."""
        from newsletter.store import leases

        return leases.Heartbeat(self._nl.store, run_id, duration=duration, clock=self._nl.clock).start()

    def job_store(self) -> Any:
        """APScheduler's job store in the project's database, shared by every scheduler process."""
        from newsletter.schedule.jobs import job_gone
        from newsletter.store import jobs

        return jobs.shared_job_store(self._nl.store, job_gone)

    # -- when ---------------------------------------------------------------------------------------

    def trigger(self) -> Any:
        """The APScheduler trigger of ``[schedule] cron``."""
        from newsletter.schedule.due import cron_trigger

        return cron_trigger(self._nl.settings)

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        from newsletter.schedule.due import next_runs

        return next_runs(self._nl.settings, after, count)

    # -- the weekly roundup ([weekly] cron) ----------------------------------------------------------

    def weekly_trigger(self) -> Any:
        """The APScheduler trigger of ``[weekly] cron`` (None when the roundup is not scheduled)."""
        from apscheduler.triggers.cron import CronTrigger

        cron = self._nl.settings.weekly.cron
        return CronTrigger.from_crontab(cron, timezone=self._nl.settings.schedule_tz) if cron else None

    def weekly_due(self, after: datetime) -> datetime | None:
        """The roundup's next due time after ``after`` (None when it is not scheduled)."""
        trigger = self.weekly_trigger()
        return None if trigger is None else trigger.get_next_fire_time(None, after.astimezone(
            self._nl.settings.schedule_tz))

    def latest_weekly_due(self, now: datetime) -> datetime | None:
        """The roundup's most recent due time within the grace period before ``now``."""
        grace = timedelta(minutes=self._nl.settings.schedule.grace_minutes)
        due = self.weekly_due(now - grace - timedelta(seconds=1))
        return due if due is not None and due <= now else None

    def roundup_of(self, due: datetime) -> date:
        """The weekly roundup's issue for a due time: ``SUNDAY-hebdo`` of its ISO week."""
        from newsletter.services.weekly import roundup_id, week_bounds

        return roundup_id(week_bounds(None, due.date())[1])

    def build_roundup(self, due: datetime) -> bool:
        """Build the roundup due at ``due`` unless its folder exists; False when the week has no sent issue."""
        from newsletter.errors import ContentError, ScaffoldError

        year, week, _ = due.date().isocalendar()
        newsletter = cast("Newsletter", self._nl)  # the part of a Newsletter (see Newsletter.schedule_ops)
        try:
            newsletter.weekly_build(f"{year}-W{week:02d}")
        except ScaffoldError:
            return True  # built already (by the editor or an earlier run): never written over
        except ContentError:
            return False
        return True

    def latest_due(self, now: datetime) -> datetime | None:
        """The most recent due time within the grace period before ``now``."""
        from newsletter.schedule.due import latest_due

        return latest_due(self._nl.settings, now)

    # -- the day ------------------------------------------------------------------------------------

    def readiness(self, day: date) -> Readiness:
        """The gate on ``day``'s issue: missing, failing, waiting approval, ready or sent."""
        from newsletter.schedule.gate import readiness

        return readiness(self._nl.settings, self._nl.store, day)

    def claim_day(self, day: date, run_id: str, now: datetime, lease: timedelta) -> bool:
        """Take ``day`` for this process; False when another one holds it."""
        from newsletter.store.day_claims import claim_day

        return claim_day(self._nl.store, day, run_id, now, lease)

    def record_day(self, day: date, state: DayClaimState, now: datetime, *, reason: str = "") -> None:
        from newsletter.store.day_claims import set_day_claim

        set_day_claim(self._nl.store, day, state, now, reason=reason)

    def day_claim(self, day: date) -> "DayClaimRecord | None":
        from newsletter.store.day_claims import day_claim

        return day_claim(self._nl.store, day)

    def orphaned_claims(self, now: datetime, since: datetime, lease: timedelta) -> "list[DayClaimRecord]":
        """The days whose send a scheduler that is gone owned (killed mid-send) and last renewed since ``since``."""
        from newsletter.store.day_claims import orphaned

        return orphaned(self._nl.store, now, since, lease)

    def interrupted(self, since: datetime) -> list[tuple[date, datetime]]:
        """The days whose send a stop cut short since ``since`` (to resume)."""
        from newsletter.store.day_claims import waiting_since

        return list(waiting_since(self._nl.store, INTERRUPTED, since))

    def send(self, day: date, *, stop: threading.Event) -> "SendReport":
        """Send ``day``'s issue once its gate passed (the ledger makes it exactly once, resumable)."""
        from newsletter.delivery.engine import send_issue

        nl = self._nl
        return send_issue(nl.settings, nl.store, day, secret_key=self.secret_key, stop=stop, clock=nl.clock)

    def bounce_job(self) -> tuple[Any, int] | None:
        """The bounce mailbox job (a function and its interval in minutes), or None without a mailbox."""
        from newsletter.feedback.mail.process import scheduled_read

        nl, bounces = self._nl, self._nl.settings.bounces
        if bounces is None or (bounces.maildir is None and not bounces.imap_host):
            return None
        return (lambda: scheduled_read(nl.settings, nl.store, self.secret_key, nl.clock)), bounces.check_minutes

    # -- alerts -------------------------------------------------------------------------------------

    def _alert(self, day: date, alert: "AlertText") -> None:
        """Alert once per reason and day for the whole store, whichever process gets there first."""
        from newsletter.services.alert_mail import send_alert
        from newsletter.store.alerts import claim_alert, forget_alert

        nl = self._nl
        if not nl.settings.schedule.alert_to:
            return
        now = nl.clock()
        if not claim_alert(nl.store, day, alert.key, now):
            event("alert_already_sent", issue=day, reason=alert.key)
            return
        if not send_alert(nl.settings, alert.subject, alert.body, environ=nl.environ, now=now):
            forget_alert(nl.store, day, alert.key)

    def alert_dead_links(self, day: date) -> None:
        """Check the links of ``day``'s issue before its send, as ``check --links`` does (the results are kept a
        day in the store: a retry a minute later fetches nothing again), and alert the operator about the dead
        ones, once per issue. It never holds the send: whatever goes wrong here is logged and the send goes on."""
        from newsletter.content.load import load_issue
        from newsletter.core.i18n import words
        from newsletter.services import alerts as alert_text
        from newsletter.services.links import link_problems

        nl = self._nl
        settings = nl.settings
        if not settings.schedule.check_links:
            return
        try:
            issue = load_issue(settings.issues_dir, day, settings.newsletter.items_per_issue).issue
            check = self.link_check or link_problems
            dead = [p for p in check(issue, settings, nl.store, nl.clock()) if p.severity == "error"]
        except Exception as err:  # noqa: BLE001 (the check is advice: nothing in it may stop the day's send)
            event("link_check_failed", logging.WARNING, issue=day, error=str(err))
            return
        if not dead:
            return
        event("dead_links", logging.WARNING, issue=day, count=len(dead))
        gettext = words(settings.newsletter.locale).translations.gettext
        self._alert(day, alert_text.dead_links(settings, day, [f"{p.location(settings.root)}: {p.text(gettext)}"
                                                               for p in dead]))

    def alert_send_failed(self, day: date, err: NewsletterError) -> None:
        from newsletter.services import alerts as alert_text

        self._alert(day, alert_text.send_failed(self._nl.settings, day, str(err), err.hint))

    def alert_pause(self, report: "SendReport") -> None:
        """The operator's alert for a send that paused itself on hard bounces (once per pause)."""
        from newsletter.services.reputation import alert_pause

        nl = self._nl
        alert_pause(nl.settings, nl.store, report, now=nl.clock(), environ=nl.environ)

    def alert_gave_up(self, day: date, gate: Readiness, due: datetime, deadline: datetime) -> None:
        from newsletter.services import alerts as alert_text

        settings = self._nl.settings
        why = alert_text.gate_gave_up(settings, day, gate.state, gate.reason, due, deadline)
        self._alert(day, alert_text.not_sent(settings, day, why))

    def alert_not_ready(self, day: date, gate: Readiness, due: datetime, deadline: datetime) -> None:
        from newsletter.services import alerts as alert_text

        self._alert(day, alert_text.not_ready(self._nl.settings, day, gate.state, gate.reason, due, deadline))

    def alert_early(self, day: date, gate: Readiness, fire: datetime) -> None:
        from newsletter.services import alerts as alert_text

        self._alert(day, alert_text.early_warning(self._nl.settings, day, gate.state, gate.reason, fire))

    def alert_missed(self, day: date, scheduled: datetime) -> None:
        from newsletter.services import alerts as alert_text

        settings = self._nl.settings
        self._alert(day, alert_text.not_sent(settings, day, alert_text.missed(settings, scheduled)))
