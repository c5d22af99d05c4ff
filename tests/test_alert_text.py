"""The operator alerts in the newsletter's language, worded as before the catalogs, with nothing of the other."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from newsletter.services import alerts as alert_text
from newsletter.config import load_settings
from newsletter.core.i18n import LANGUAGES
from tests.helpers.locales import LOCALES, leftovers, set_locale
from tests.helpers.french import typeset

DAY = date(2026, 11, 24)
DUE = datetime(2026, 11, 24, 6, 30, tzinfo=timezone.utc)  # 07:30 in Europe/Paris, the project's zone
DEADLINE = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
STATES = ("missing", "failing", "waiting approval", "ready")

EXPECTED = {
    "fr": ["le numéro du 24/11/2026 n'est pas prêt (il n'est pas approuvé)",
           "Le numéro prévu le 24/11/2026 à 07:30 (Europe/Paris) n'est pas prêt : il n'est pas approuvé.",
           'Pour corriger : relisez le numéro puis `newsletter approve 2026-11-24 --by "VOTRE NOM"`',
           "le numéro du 24/11/2026 n'a PAS été envoyé", "l'envoi du numéro du 24/11/2026 a échoué",
           "Le délai de grâce a pris fin le 24/11/2026 à 09:00 (Europe/Paris).",
           "l'envoi du 24/11/2026 s'est mis en pause : trop d'adresses inexistantes",
           "rejets définitifs, 12 sur les 100 derniers messages (12,0\xa0%), au-delà de [delivery] max_bounce_rate "
           "(5,0\xa0%).", "50 destinataires attendent", "Pour reprendre : `newsletter send 2026-11-24`"],
    "en": ["the issue of 2026-11-24 is not ready (waiting approval)",
           "The issue due at 2026-11-24 07:30 (Europe/Paris) is not ready: it is not approved.",
           'To fix it: review the issue, then `newsletter approve 2026-11-24 --by "YOUR NAME"`',
           "the issue of 2026-11-24 was NOT sent", "the issue of 2026-11-24 could not be sent",
           "The grace period ended at 2026-11-24 09:00 (Europe/Paris).",
           "the send of 2026-11-24 paused itself: too many hard bounces",
           "12 hard bounces among the last 100 messages (12.0%), above [delivery] max_bounce_rate (5.0%).",
           "50 recipients are waiting", "To resume: `newsletter send 2026-11-24`"],
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_alert_speaks_the_newsletters_language(project: Path, lang: str) -> None:
    set_locale(project, LOCALES[lang])
    settings = load_settings(project)
    texts = [alert_text.missed(settings, DUE)]
    for state in STATES:
        for alert in (alert_text.not_ready(settings, DAY, state, "R", DUE, DEADLINE),
                      alert_text.early_warning(settings, DAY, state, "R", DUE),
                      alert_text.not_sent(settings, DAY, alert_text.gate_gave_up(settings, DAY, state, "R", DUE,
                                                                                  DEADLINE))):
            texts += [alert.subject, alert.body]
    failed = alert_text.send_failed(settings, DAY, "E", "H")
    texts += [failed.subject, failed.body]
    paused = alert_text.send_paused(settings, DAY, 1, bounces=12, messages=100, pending=50)
    texts += [paused.subject, paused.body]
    assert [leftovers(text, lang) for text in texts] == [[]] * len(texts)
    everything = "\n".join(texts)
    assert [line for line in EXPECTED[lang] if (typeset(line) if lang == "fr" else line) not in everything] == []
