"""The operators' lever on the desk: the uncertain count of each past issue, and a resend of those
recipients after a confirmation page (a POST with its CSRF token, operators only), through the library."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.store import leases, ledger
from newsletter.store.resends import resends_of
from tests.conftest import DAY
from tests.helpers.desk import Clock, csrf_token
from tests.helpers.uncertain import LeftUncertain, leave_uncertain
from tests.helpers.french import typeset

CONFIRM = f"/sends/{DAY.isoformat()}/resend"


@pytest.fixture
def left(nl: Newsletter, clock: Clock) -> LeftUncertain:
    return leave_uncertain(nl.settings, nl.store, sent=3, uncertain=2, now=clock())


def page_of(client: FlaskClient, path: str) -> str:
    return html.unescape(client.get(path).get_data(as_text=True))


def test_operators_see_the_uncertain_count_and_the_way_to_resend(left: LeftUncertain,
                                                                 signed_in: Callable[[str], FlaskClient]) -> None:
    page = page_of(signed_in("operator"), "/")
    assert "<th scope=\"col\">Incertains</th>" in page
    assert re.search(rf'<td[^>]*>2\s*<a href="{CONFIRM}">Renvoyer…</a></td>', page), page


@pytest.mark.parametrize("role", ["editor", "approver"])
def test_other_roles_see_neither_the_count_nor_the_action(left: LeftUncertain, role: str,
                                                          signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in(role)
    page = page_of(client, "/")
    assert "Incertains" not in page and CONFIRM not in page
    assert client.get(CONFIRM).status_code == 403


def test_the_confirmation_says_how_many_who_and_what_it_risks(left: LeftUncertain,
                                                               signed_in: Callable[[str], FlaskClient]) -> None:
    page = page_of(signed_in("operator"), CONFIRM)
    assert "Renvoyer les messages incertains du mardi 24 novembre" in page
    assert "2 destinataires sont incertains" in page and typeset("certains l'ont peut-être déjà") in page
    assert "même Message-ID" in page
    for address in left.uncertain:
        assert f"<li>{address}</li>" in page
    assert not any(address in page for address in left.sent)
    assert 'name="csrf_token"' in page and '<input type="hidden" name="count" value="2">' in page


def test_an_operator_resends_through_the_library_once(left: LeftUncertain, nl: Newsletter,
                                                       signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    response = client.post(CONFIRM, data={"count": "2", "csrf_token": csrf_token(client, CONFIRM)})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = page_of(client, "/")
    assert typeset("Le numéro du 24/11/2026 a été renvoyé à 2 destinataires incertains ; il compte maintenant "
                   "5 envoyés, 0 en échec, 0 incertain.") in page
    assert ledger.counts(nl.store, left.send_id) == {"sent": 5}
    delivered = sorted(p.name for p in (nl.settings.root / "out" / "outbox" / "new").iterdir())
    assert len(delivered) == 2  # the rows recorded sent are not sent again
    (resend,) = resends_of(nl.store, DAY)
    assert resend.by == "operator" and resend.rows == 2
    again = client.post(CONFIRM, data={"count": "2", "csrf_token": csrf_token(client, "/")})  # a second click
    assert again.headers["Location"] == "/"
    assert typeset("Rien à renvoyer : aucun destinataire de ce numéro n'est incertain.") in page_of(client, "/")
    assert len(resends_of(nl.store, DAY)) == 1
    assert len(list((nl.settings.root / "out" / "outbox" / "new").iterdir())) == 2


@pytest.mark.parametrize("role", ["editor", "approver"])
def test_other_roles_cannot_resend_even_with_a_token(left: LeftUncertain, nl: Newsletter, role: str,
                                                     signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in(role)
    response = client.post(CONFIRM, data={"count": "2", "csrf_token": csrf_token(client, "/")})
    assert response.status_code == 403
    assert ledger.counts(nl.store, left.send_id) == {"sent": 3, "uncertain": 2}


def test_a_resend_without_the_forms_token_or_signed_out_is_refused(left: LeftUncertain, nl: Newsletter, app: Flask,
                                                                   signed_in: Callable[[str], FlaskClient]) -> None:
    assert signed_in("operator").post(CONFIRM, data={"count": "2"}).status_code == 400
    assert app.test_client().post(CONFIRM, data={"count": "2"}).status_code == 401
    assert ledger.counts(nl.store, left.send_id) == {"sent": 3, "uncertain": 2}


def test_a_count_that_changed_since_the_page_asks_again(left: LeftUncertain, nl: Newsletter,
                                                        signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    response = client.post(CONFIRM, data={"count": "1", "csrf_token": csrf_token(client, CONFIRM)})
    assert response.headers["Location"] == CONFIRM
    assert "Le nombre de destinataires incertains a changé" in page_of(client, CONFIRM)
    assert ledger.counts(nl.store, left.send_id) == {"sent": 3, "uncertain": 2}


def test_a_resend_is_refused_while_another_run_holds_the_send(left: LeftUncertain, nl: Newsletter, clock: Clock,
                                                              signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    token = csrf_token(client, CONFIRM)
    leases.acquire(nl.store, ledger.new_run_id(), clock(), timedelta(hours=1), send_id=left.send_id)
    response = client.post(CONFIRM, data={"count": "2", "csrf_token": token})
    assert response.headers["Location"] == "/"
    page = page_of(client, "/")
    assert typeset("Un autre processus envoie ce numéro en ce moment ; rien n'a été renvoyé.") in page
    assert ledger.counts(nl.store, left.send_id) == {"sent": 3, "uncertain": 2}
    assert client.get(CONFIRM).headers["Location"] == "/"  # the confirmation page says it too


def test_an_issue_never_sent_has_nothing_to_resend_in_french(nl: Newsletter,
                                                             signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    assert client.get(CONFIRM).status_code == 302
    page = page_of(client, "/")
    assert typeset("Pas renvoyé : le numéro du 2026-11-24 n'a pas été envoyé : il n'y a rien à renvoyer") in page
    assert client.get("/sends/pas-une-date/resend").status_code == 404
