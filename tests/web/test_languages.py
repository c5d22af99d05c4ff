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
