"""Corrections on the desk: a sent issue's page lists its corrections and offers approvers a form (the
note, « Prévenir les lecteurs »), a confirmation page saying what will change and who is told, then the
POST with its CSRF token; editors may not."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Callable

import pytest
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.delivery.engine import send_issue
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.desk import Clock, csrf_token, form_of

PAGE = f"/issues/{DAY.isoformat()}"
CONFIRM = f"{PAGE}/correct/confirm"
CORRECT = f"{PAGE}/correct"
NOTE = "Le chiffre de l’info 2 était <faux>."


@pytest.fixture
def sent(nl: Newsletter, clock: Clock) -> Newsletter:
    for address in ("camille.martin@example.org", "dominique@example.org"):
        add_subscriber(nl.store, address, now=clock())
    send_issue(nl.settings, nl.store, DAY, secret_key=SECRET, clock=clock)
    clock.now += timedelta(hours=4)
    item = nl.settings.issues_dir / DAY.isoformat() / "02-mobile.md"
    item.write_text(item.read_text(encoding="utf-8").replace("57 %", "75 %"), encoding="utf-8")
    return nl


def text_of(client: FlaskClient, path: str) -> str:
    return html.unescape(client.get(path).get_data(as_text=True))


def test_approvers_confirm_then_publish_and_tell_the_readers(sent: Newsletter,
                                                              signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("approver")
    page = text_of(client, PAGE)
    assert "Prévenir les lecteurs" in page and f'action="{CONFIRM}"' in page
    token = csrf_token(client, PAGE)
    confirm = client.post(CONFIRM, data={"csrf_token": token, "note": NOTE, "mail": "1"})
    shown = html.unescape(confirm.get_data(as_text=True))
    assert confirm.status_code == 200 and "Info 2\u00a0: le texte a changé." in shown
    assert "2 lecteurs qui ont reçu le numéro" in shown
    assert "&lt;faux&gt;" in confirm.get_data(as_text=True)  # the note, autoescaped
    assert not sent.corrections.of(DAY)  # nothing published before the confirmation
    form = form_of(confirm.get_data(as_text=True), CORRECT)
    done = client.post(CORRECT, data=form)
    assert done.status_code == 302
    (correction,) = sent.corrections.of(DAY)
    assert correction.note == NOTE and correction.author == "approver" and correction.mail_counts == {"sent": 2}
    page = text_of(client, PAGE)
    when = correction.at.astimezone(sent.settings.tz)
    assert f"Corrigé le {when:%d/%m/%Y}\u00a0: {NOTE}" in page and "Lecteurs prévenus\u00a0: 2." in page


def test_the_post_needs_its_csrf_token(sent: Newsletter, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("approver")
    assert client.post(CORRECT, data={"note": NOTE}).status_code == 400
    assert not sent.corrections.of(DAY)


def test_editors_see_the_corrections_but_may_not_correct(sent: Newsletter,
                                                         signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("editor")
    page = text_of(client, PAGE)
    assert "Corrections" in page and "Prévenir les lecteurs" not in page
    token = csrf_token(client, PAGE)
    assert client.post(CONFIRM, data={"csrf_token": token, "note": NOTE}).status_code == 403
    assert client.post(CORRECT, data={"csrf_token": token, "note": NOTE}).status_code == 403
    assert not sent.corrections.of(DAY)


def test_an_empty_note_is_refused_with_its_reason(sent: Newsletter, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("approver")
    answer = client.post(CONFIRM, data={"csrf_token": csrf_token(client, PAGE), "note": " "}, follow_redirects=True)
    assert "une correction demande une note" in html.unescape(answer.get_data(as_text=True))
    assert not sent.corrections.of(DAY)
