"""The operator's alert mail (``[schedule] alert_to``), sent through the configured transport.

The words of each alert are :mod:`newsletter.services.alerts`; which alert goes out once per reason
and day is the library's (``ScheduleOps``); this module only sends one and logs the outcome.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Mapping

from newsletter.config import Settings
from newsletter.core.logs import event


def send_alert(settings: Settings, subject: str, text: str, *, environ: Mapping[str, str] | None = None,
               now: datetime | None = None) -> bool:
    """Email the operator (``[schedule] alert_to``) through the configured adapter. False if it failed."""
    to = settings.schedule.alert_to
    if not to:
        return False
    subject = f"[{settings.newsletter.name}] {subject}"
    from newsletter.services.notify import send_notice  # the transports' imports, when an alert is due only

    error = send_notice(settings, to, subject, text, environ=environ, now=now)
    event("alert_failed" if error else "alert_sent", logging.ERROR if error else logging.INFO, subject=subject,
          to=to, error=error)
    return not error
