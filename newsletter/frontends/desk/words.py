"""The desk's words in Python code, in the newsletter's language (templates use ``_()`` directly)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from newsletter.errors import NewsletterError
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


def said(err: NewsletterError) -> str:
    """An error of the library in the desk's language (English when the catalog does not know it)."""
    return err.text(spoken().translations.gettext)
