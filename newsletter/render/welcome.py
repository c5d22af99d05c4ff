"""The welcome mail a reader receives once, when their subscription is confirmed.

``templates/welcome.mjml.j2`` (MJML + Jinja2, autoescaped) gives the HTML and, in a ``{% set subject
= … %}`` at its top, the subject; ``templates/welcome.txt.j2`` the text part. A project made before
these templates existed uses the built-in ones. The context says what to expect: the weekdays and
hour of ``[schedule] cron``, the latest issue's web version, the reader's preferences page.
"""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_time, get_day_names

from newsletter.config import Settings
from newsletter.render.mail_templates import MailParts, identity, render_mail


def expected_days(settings: Settings, runs: list[datetime]) -> tuple[list[str], str]:
    """The weekday names (in the newsletter's language, Monday first) and the hour of the due times ``runs``."""
    if not runs:
        return [], ""
    names = get_day_names("wide", locale=settings.newsletter.locale)
    days = sorted({run.weekday() for run in runs})
    return [names[day] for day in days], format_time(runs[0], format="short", locale=settings.newsletter.locale)


def render_welcome(settings: Settings, *, first_name: str, runs: list[datetime], latest_url: str,
                   preferences_url: str, unsubscribe_url: str) -> MailParts:
    """Render the welcome of one reader.

    :param runs: the coming due times (a week of them), from which the mail says when issues come.
    :param latest_url: the latest issue's web version ("" when nothing was published yet).
    :raises RenderError: naming the template, when one is broken.
    """
    nl = settings.newsletter
    days, hour = expected_days(settings, runs)
    context = {
        "lang": nl.language, "first_name": first_name, "newsletter": identity(settings),
        "days": days, "hour": hour, "latest_url": latest_url, "archive_url": f"{nl.base_url}/archive/",
        "preferences_url": preferences_url, "unsubscribe_url": unsubscribe_url,
    }
    return render_mail(settings, "welcome", lambda html: context,
                       subject_hint='begin the template with {% set subject = "Bienvenue dans …" %}')
