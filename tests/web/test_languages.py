"""The service's pages and its confirmation mail in the newsletter's language, with nothing left of the other."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from newsletter.core.i18n import LANGUAGES
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from newsletter.core.tokens import UNSUBSCRIBE, make_token
from tests.conftest import SECRET
from tests.sink import Sink
from tests.helpers.locales import LOCALES, leftovers, set_locale
from tests.helpers.clock import NOW
from tests.helpers.web import Service, confirm_link, subscribe, wait_for_mail, web_settings
from tests.helpers.config import set_options

#: Words each language's pages and mail must show (the leftovers below say what they must not).
EXPECTED = {
    "fr": ["Vérifiez votre boîte de réception", "Confirmez votre inscription à", "Se désinscrire",
           "Page introuvable", "Formulaire expiré", "Inscription confirmée"],
    "en": ["Check your inbox", "Confirm your subscription to", "Unsubscribe", "Page not found", "Form expired",
           "Subscription confirmed"],
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_pages_and_the_confirmation_mail_speak_the_newsletters_language(project: Path, store: Store, sink: Sink,
                                                                        lang: str) -> None:
    set_locale(project, LOCALES[lang])
    add_subscriber(store, "lea@example.org", now=NOW)
    unsubscribe = f"/u/{make_token(SECRET, UNSUBSCRIBE, 'lea@example.org')}"
    with Service(web_settings(project, sink), store) as service:
        session = requests.Session()
        pages = [session.get(service.url + path) for path in ("/", "/archive/", "/subscribe", unsubscribe,
                                                              "/nothing", "/u/forged")]
        pages.append(session.post(service.url + unsubscribe))
        pages.append(requests.post(f"{service.url}/subscribe", data={"email": "x@example.org"}))  # no CSRF token
        pages.append(subscribe(session, service.url, "nouveau@example.org"))
        wait_for_mail(sink, 1)
        link = confirm_link(sink)
        pages += [requests.get(service.url + link), requests.post(service.url + link)]
    mail = sink.recorder.messages[0]  # the confirmation (the welcome that follows is the project's template)
    texts = [page.text for page in pages] + [
        mail["Subject"], mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()]
    assert [leftovers(text, lang) for text in texts] == [[]] * len(texts)
    assert all(f'<html lang="{lang}">' in page.text for page in pages)
    everything = "\n".join(texts)
    assert [word for word in EXPECTED[lang] if word not in everything] == []


RHYTHMS = [
    ("0 7 * * mon-fri", "5 informations, chaque matin du lundi au vendredi."),
    ("0 7 * * *", "5 informations, chaque matin."),
    ("30 18 * * mon,thu", "5 informations, chaque lundi et jeudi soir."),
    ("0 12 * * sat", "5 informations, chaque samedi midi."),
    ("0 3 * * *", "5 informations, chaque jour."),  # 03:00: no part of the day to name
    ("0 2 * * *", "5 informations par numéro."),  # APScheduler skips the 02:00 that the spring change removes
    ("0 7 1 * *", "5 informations par numéro."),  # monthly: no weekly rhythm to say
    ("0 7,19 * * *", "5 informations par numéro."),  # twice a day
]


@pytest.mark.parametrize(("cron", "promise"), RHYTHMS, ids=[c[0] for c in RHYTHMS])
def test_the_subscribe_page_says_the_schedule_the_cron_keeps(project: Path, store: Store, sink: Sink, cron: str,
                                                             promise: str) -> None:
    set_locale(project, LOCALES["fr"])
    set_options(project, "schedule", cron=cron)
    with Service(web_settings(project, sink), store) as service:
        page = requests.get(service.url + "/subscribe", timeout=30)
    assert f"<p>{promise} Un lien de désinscription figure dans chaque envoi.</p>" in page.text
