"""Due times: when ``[schedule] cron`` (in ``[schedule] timezone``) says each day's issue goes out.

Scheduled sending, in short: ``newsletter schedule run`` (:mod:`newsletter.frontends.scheduler`) keeps an
APScheduler (3.x) scheduler whose jobs live in the project's own database (:mod:`newsletter.schedule.jobs`),
so a restart loses nothing. At each due time it runs the **readiness gate** for that day's issue
(:mod:`newsletter.schedule.gate`): the folder exists, ``check`` passes, the approval is current when
required, the issue was not sent already. A ready issue is *claimed* in the store (table ``day_claims``)
and sent by the send engine; a failing gate is logged, alerted by email to ``alert_to``
(:mod:`newsletter.services.alert_mail`) and tried again every ``retry_minutes`` until ``grace_minutes``
after the due time, after which the day is recorded as skipped.

After a downtime, a due time missed by less than ``grace_minutes`` is run at start-up;
older ones are recorded as skipped, never sent by surprise. Two processes on one database
(an accident, or two hosts on PostgreSQL) never send an issue twice: the claim is one row per
day that only one of them can take (and keeps while its lease lives), and the ledger under it
refuses a second delivery anyway. Alerts go out once per reason and day for the whole store.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from newsletter.config import Settings
from newsletter.errors import ConfigError


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


@lru_cache(maxsize=32)
def _calendar(code: str, language: str) -> Any:
    import holidays

    country, _dash, subdivision = code.partition("-")
    return holidays.country_holidays(country.upper(), subdiv=subdivision or None, language=language)


def holiday(settings: Settings, day: date) -> str:
    """The name of the public holiday ``day`` is under ``[schedule] skip_holidays`` ("" when it is none,
    or when no country is set), in the newsletter's language when the holidays package has it."""
    code = settings.schedule.skip_holidays
    if not code:
        return ""
    names = _calendar(code, settings.newsletter.language)
    return str(names.get(day) or "")


def next_runs(settings: Settings, after: datetime, count: int, *, holidays: bool = False) -> list[datetime]:
    """The next ``count`` due times after ``after``, in the schedule's time zone.

    :param holidays: also give the times ``[schedule] skip_holidays`` cancels (``schedule show`` names them).
    """
    trigger = cron_trigger(settings)
    runs: list[datetime] = []
    previous = None
    now = after.astimezone(settings.schedule_tz)
    while len(runs) < count:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        if holidays or not holiday(settings, fire.date()):
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
        if not holiday(settings, fire.date()):  # no due time on a public holiday
            latest = fire
        previous, after = fire, fire + timedelta(microseconds=1)
    return latest
