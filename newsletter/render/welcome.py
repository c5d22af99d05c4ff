"""The welcome mail a reader receives once, when their subscription is confirmed.

``templates/welcome.mjml.j2`` (MJML + Jinja2, autoescaped) gives the HTML and, in a ``{% set subject
= … %}`` at its top, the subject; ``templates/welcome.txt.j2`` the text part. A project made before
these templates existed uses the built-in ones. The context says what to expect: the weekdays and
hour of ``[schedule] cron``, the latest issue's web version, the reader's preferences page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
from babel.dates import format_time, get_day_names

from newsletter.config import Settings
from newsletter.core.resources import default_templates_dir
from newsletter.errors import RenderError
from newsletter.render.html import mjml_to_email_html

HTML_TEMPLATE = "welcome.mjml.j2"
TEXT_TEMPLATE = "welcome.txt.j2"


@dataclass(frozen=True)
class Welcome:
    """A rendered welcome: subject, HTML and text."""

    subject: str
    html: str
    text: str


def _template_path(settings: Settings, name: str) -> Path:
    own = settings.templates_dir / name
    return own if own.is_file() else default_templates_dir() / name


def expected_days(settings: Settings, runs: list[datetime]) -> tuple[list[str], str]:
    """The weekday names (in the newsletter's language, Monday first) and the hour of the due times ``runs``."""
    if not runs:
        return [], ""
    names = get_day_names("wide", locale=settings.newsletter.locale)
    days = sorted({run.weekday() for run in runs})
    return [names[day] for day in days], format_time(runs[0], format="short", locale=settings.newsletter.locale)


def render_welcome(settings: Settings, *, first_name: str, runs: list[datetime], latest_url: str,
                   preferences_url: str, unsubscribe_url: str) -> Welcome:
    """Render the welcome of one reader.

    :param runs: the coming due times (a week of them), from which the mail says when issues come.
    :param latest_url: the latest issue's web version ("" when nothing was published yet).
    :raises RenderError: naming the template, when one is broken.
    """
    nl = settings.newsletter
    days, hour = expected_days(settings, runs)
    context = {
        "lang": nl.language, "first_name": first_name,
        "newsletter": {"name": nl.name, "sender_name": nl.sender_name, "postal_address": nl.postal_address,
                       "reply_to_address": nl.reply_to, "base_url": nl.base_url},
        "days": days, "hour": hour, "latest_url": latest_url, "archive_url": f"{nl.base_url}/archive/",
        "preferences_url": preferences_url, "unsubscribe_url": unsubscribe_url,
    }
    parts: dict[str, str] = {}
    subject = ""
    for name, html in ((HTML_TEMPLATE, True), (TEXT_TEMPLATE, False)):
        path = _template_path(settings, name)
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)), autoescape=html,
                                 undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                 trim_blocks=not html, lstrip_blocks=not html)
        try:
            template = env.get_template(path.name)
            parts[name] = template.render(context)
            if html:
                subject = str(getattr(template.make_module(context), "subject", "")).strip()
        except jinja2.TemplateError as err:
            raise RenderError(f"{path}: {err}", hint="fix the template, or delete it to use the built-in one") \
                from err
    if not subject:
        raise RenderError(f"{_template_path(settings, HTML_TEMPLATE)}: no subject",
                          hint='begin the template with {% set subject = "Bienvenue dans …" %}')
    html_out = mjml_to_email_html(parts[HTML_TEMPLATE], template_name=str(_template_path(settings, HTML_TEMPLATE)))
    return Welcome(" ".join(subject.split()), html_out, parts[TEXT_TEMPLATE])
