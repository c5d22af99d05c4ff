"""What follows a send that paused itself on too many hard bounces: the operator's alert.

The engine (:mod:`newsletter.delivery.engine`) pauses the send and records why; whoever ran it
(``newsletter send`` through the library, or the scheduler) calls :func:`alert_pause` so that
the operator (``[schedule] alert_to``) hears of it once per pause, whichever process gets there first.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Mapping

from newsletter.services import alerts as alert_text
from newsletter.config import Settings
from newsletter.delivery.engine import SendReport
from newsletter.services.alert_mail import send_alert
from newsletter.store.alerts import claim_alert, forget_alert
from newsletter.store.database import Store
from newsletter.store.pauses import current_pause

log = logging.getLogger(__name__)


def alert_pause(settings: Settings, store: Store, report: SendReport, *, now: datetime,
                environ: Mapping[str, str] | None = None) -> bool:
    """Alert the operator that ``report``'s send paused itself; True when the alert went out now.

    Nothing happens for a send that did not pause, or when ``alert_to`` is not set (the pause is
    still logged, recorded on the send and shown by ``status``).
    """
    if report.pause_id is None:
        return False
    pause = current_pause(store, report.day)
    if pause is None or pause.id != report.pause_id:
        return False
    alert = alert_text.send_paused(settings, report.day, pause.id, bounces=pause.bounces, messages=pause.messages,
                                   pending=report.pending)
    if not settings.schedule.alert_to:
        log.warning("issue %s paused itself; set [schedule] alert_to to be alerted by email", report.day.isoformat())
        return False
    if not claim_alert(store, report.day, alert.key, now):
        return False
    if send_alert(settings, alert.subject, alert.body, environ=environ, now=now):
        return True
    forget_alert(store, report.day, alert.key)
    return False
