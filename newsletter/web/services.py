"""What the web service's blueprints work with, set up once by the application factory.

One :class:`WebServices` object per application, kept in ``app.extensions`` and read with
:func:`services` during a request: the project's settings, its store, the secret key, the clock,
the words of its language, the confirmation mailer and where secrets are read. Blueprints take nothing else, so the
factory is the only place that decides where these come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping

from flask import current_app

from newsletter.config import Settings
from newsletter.i18n import Words
from newsletter.publication import ImageIndex
from newsletter.store.database import Store
from newsletter.web.archive import WebVersions
from newsletter.web.mailer import ConfirmationMailer

EXTENSION = "newsletter"

Clock = Callable[[], datetime]


@dataclass
class WebServices:
    """The parts one running service shares between its requests (and its mail thread)."""

    settings: Settings
    store: Store
    secret_key: str
    clock: Clock
    words: Words
    mailer: ConfirmationMailer
    versions: WebVersions
    images: ImageIndex = field(default_factory=ImageIndex)
    environ: Mapping[str, str] | None = None  # where secrets are read (None: the process environment)

    def now(self) -> datetime:
        """The current time, from the injected clock."""
        return self.clock()


def services() -> WebServices:
    """The services of the application handling the current request."""
    found: WebServices = current_app.extensions[EXTENSION]
    return found
