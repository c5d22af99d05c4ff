"""How often the issue goes out, in words a reader understands, derived from ``[schedule] cron``.

The words are found by walking a year of the trigger's own due times (APScheduler's reading of the
cron, whatever its syntax): a schedule that fires on the same weekdays every week, once a day, is
said as "every weekday morning", "every Monday and Thursday evening", "every day"; any other (a
monthly one, several times a day, some months only) gets no rhythm, and the page says nothing false.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from babel import Locale

from newsletter.config import Settings
from newsletter.core.i18n import Gettext, Message, N_
from newsletter.schedule.due import next_runs

#: Any Monday: the walk starts there and covers 52 whole weeks.
_START = datetime(2025, 1, 6)
_WEEKS = 52
_WEEKDAYS = frozenset(range(5))
#: The part of the day of an hour (none in the small hours: "every night" would surprise).
_MOMENTS = ((5, 12, N_("morning")), (12, 14, N_("lunchtime")), (14, 18, N_("afternoon")), (18, 24, N_("evening")))


def rhythm(settings: Settings) -> Message | None:
    """The issue's rhythm ("every weekday morning"), or ``None`` when the cron has no weekly one."""
    tz = settings.schedule_tz
    start = _START.replace(tzinfo=tz)
    end = start + timedelta(weeks=_WEEKS)
    runs = [run for run in next_runs(settings, start - timedelta(microseconds=1), _WEEKS * 7 + 1) if run < end]
    weeks: list[set[int]] = [set() for _ in range(_WEEKS)]
    for run in runs:
        weeks[(run.date() - start.date()).days // 7].add(run.weekday())
    days = weeks[0]
    if not days or any(week != days for week in weeks) or len(runs) != len(days) * _WEEKS:
        return None  # not the same weekdays every week, or more than once a day
    moments = {next((m for low, high, m in _MOMENTS if low <= run.hour < high), "") for run in runs}
    moment = Message(moments.pop()) if len(moments) == 1 and "" not in moments else None
    if len(days) == 7:
        return Message(N_("every %(moment)s"), {"moment": moment}) if moment else Message(N_("every day"))
    if days == _WEEKDAYS:
        return (Message(N_("every weekday %(moment)s"), {"moment": moment}) if moment
                else Message(N_("every weekday")))
    names = _DayNames(settings.newsletter.locale, sorted(days))
    return (Message(N_("every %(days)s %(moment)s"), {"days": names, "moment": moment}) if moment
            else Message(N_("every %(days)s"), {"days": names}))


class _DayNames:
    """Weekday names joined as the language does ("lundi et jeudi"), said in the words' language."""

    def __init__(self, locale: str, days: list[int]) -> None:
        self.locale = locale
        self.days = days

    def text(self, gettext: Gettext | None) -> str:
        from babel.lists import format_list

        names = Locale.parse(self.locale.replace("-", "_")).days["format"]["wide"]
        return format_list([names[d] for d in self.days], locale=self.locale.replace("-", "_"))

    def __str__(self) -> str:
        return self.text(None)
