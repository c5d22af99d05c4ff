"""What the web service's blueprints work with, set up once by the application factory.

One :class:`WebServices` object per application, kept in ``app.extensions`` and read with
:func:`services` during a request: the :class:`~newsletter.library.Newsletter` (every operation
goes through it), the secret key that signs the service's own tokens, the words of its language
and the confirmation mailer. Blueprints take nothing else, so the factory is the only place that
decides where these come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from flask import current_app

from newsletter.config import Settings
from newsletter.core.i18n import Message, Words
from newsletter.library import Newsletter
from newsletter.frontends.web.mailer import ConfirmationMailer

EXTENSION = "newsletter"


@dataclass
class WebServices:
    """The parts one running service shares between its requests (and its mail thread)."""

    nl: Newsletter
    secret_key: str
    words: Words
    mailer: ConfirmationMailer

    @property
    def settings(self) -> Settings:
        return self.nl.settings

    @cached_property
    def rhythm(self) -> Message | None:
        """How often the issue goes out, in words (worked out once: it walks a year of due times)."""
        return self.nl.rhythm()

    def now(self) -> datetime:
        """The current time, from the newsletter's clock."""
        return self.nl.clock()


def services() -> WebServices:
    """The services of the application handling the current request."""
    found: WebServices = current_app.extensions[EXTENSION]
    return found
