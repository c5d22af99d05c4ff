"""The desk's words in Python code, in the newsletter's language (templates use ``_()`` directly)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping

from babel.dates import format_date, format_datetime
from flask import current_app

from newsletter.errors import FieldRefused, NewsletterError
from newsletter.core.i18n import Words

EXTENSION = "newsletter.frontends.desk.words"


def spoken() -> Words:
    """The catalog of the running desk's language."""
    found: Words = current_app.extensions[EXTENSION]
    return found


def gettext(message: str, **values: Any) -> str:
    """``message`` in the desk's language (extracted by ``make messages`` like any ``gettext`` call)."""
    return spoken().gettext(message, **values)


def ngettext(singular: str, plural: str, num: int, **values: Any) -> str:
    """The singular or plural form for ``num`` in the desk's language (``%(num)d`` is ``num``)."""
    return spoken().ngettext(singular, plural, num, **values)


def said(err: NewsletterError, labels: Mapping[str, str] | None = None) -> str:
    """An error of the library in the desk's language (English when the catalog does not know it); with the
    page's ``labels`` (field key → label), a refused value names its field by the label the editor sees."""
    if isinstance(err, FieldRefused):
        return err.text(spoken().translations.gettext, labels)
    return err.text(spoken().translations.gettext)


def day_in_words(value: date, today: date) -> str:
    """A day as an editor says it: « demain », « aujourd’hui », or its weekday and date (« samedi 6 décembre »)."""
    near = {-1: gettext("yesterday"), 0: gettext("today"), 1: gettext("tomorrow")}.get((value - today).days)
    return near or date_in_words(value, today)


def date_in_words(value: date, today: date) -> str:
    """A date with its weekday (« samedi 6 décembre », the year when it is not this year's): what follows
    « Numéro du », where « demain » would not do."""
    # Translators: CLDR date patterns in words, e.g. EEEE d MMMM (samedi 6 décembre), with the year.
    pattern = gettext("EEEE d MMMM") if value.year == today.year else gettext("EEEE d MMMM y")
    return format_date(value, pattern, locale=spoken().locale)


def moment_in_words(value: datetime) -> str:
    """A date and time in words (« samedi 6 décembre 2026 à 21 h 45 »), in ``value``'s zone."""
    # Translators: a CLDR date-and-time pattern in words; quote words: EEEE d MMMM y 'à' H 'h' mm.
    return format_datetime(value, gettext("EEEE d MMMM y 'at' HH:mm"), tzinfo=value.tzinfo, locale=spoken().locale)


def time_in_words(value: datetime) -> str:
    """A time of day as the language writes it (« 21 h 45 »)."""
    # Translators: a CLDR time pattern; quote words: H 'h' mm.
    return format_datetime(value, gettext("HH:mm"), tzinfo=value.tzinfo, locale=spoken().locale)
