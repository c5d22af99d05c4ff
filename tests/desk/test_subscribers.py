"""The operators' subscriber pages: search, add, unsubscribe, export, and an import confirmed after its dry run."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Callable

import pytest
from flask.testing import FlaskClient

from newsletter import Newsletter
from tests.helpers.desk import csrf_token
from tests.helpers.french import typeset

if TYPE_CHECKING:
    from werkzeug.test import TestResponse


def test_an_operator_adds_finds_and_unsubscribes_someone(signed_in: Callable[[str], FlaskClient],
                                                        nl: Newsletter) -> None:
    client = signed_in("operator")
    client.post("/subscribers/add", data={"email": "Lea@Example.org", "first_name": "Léa",
                                          "csrf_token": csrf_token(client, "/subscribers/")})
    page = client.get("/subscribers/?q=lea").get_data(as_text=True)
    assert "lea@example.org ajouté." in page and '<td data-label="Adresse">lea@example.org</td>' in page
    client.post("/subscribers/remove", data={"email": "lea@example.org", "csrf_token": csrf_token(client, "/")})
    record = nl.subscribers.get("lea@example.org")
    assert record is not None and record.status == "unsubscribed"


def test_an_import_changes_nothing_until_its_dry_run_is_confirmed(signed_in: Callable[[str], FlaskClient],
                                                                  nl: Newsletter) -> None:
    client = signed_in("operator")
    csv = "email;first_name\nun@example.org;Un\ndeux@example.org;Deux\npas-une-adresse;X\n".encode()
    page = client.post("/subscribers/import", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(csv), "liste.csv"), "source": "salon 2026",
                             "csrf_token": csrf_token(client, "/subscribers/")}).get_data(as_text=True)
    assert "ajouterait 2 abonnés" in page and "rejetterait 1 ligne<" in page and typeset("ligne 4 :") in page
    assert nl.subscribers.count() == 0
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/subscribers/import/confirm", data={"token": token, "action": "import", "source": "salon 2026",
                                                     "csrf_token": csrf_token(client, "/")})
    assert nl.subscribers.count(status="active") == 2
    again = client.post("/subscribers/import/confirm", data={"token": token, "action": "import",
                                                             "csrf_token": csrf_token(client, "/")})
    assert "plus en attente" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_the_export_is_a_csv_of_every_status(signed_in: Callable[[str], FlaskClient], nl: Newsletter) -> None:
    nl.subscribers.add("un@example.org")
    nl.subscribers.add("deux@example.org")
    nl.subscribers.remove("deux@example.org")
    response = signed_in("operator").get("/subscribers/export.csv")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = response.get_data().decode("utf-8-sig")
    assert "un@example.org" in text and "deux@example.org" in text and "unsubscribed" in text


def test_editors_and_approvers_do_not_see_the_subscribers(signed_in: Callable[[str], FlaskClient]) -> None:
    for role in ("editor", "approver"):
        client = signed_in(role)
        assert "/subscribers/" not in client.get("/").get_data(as_text=True)
        assert client.get("/subscribers/").status_code == 403
    assert "/subscribers/" in signed_in("operator").get("/").get_data(as_text=True)


def upload(client: FlaskClient, data: bytes, name: str = "liste.csv") -> "TestResponse":
    return client.post("/subscribers/import", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name), "csrf_token": csrf_token(client, "/subscribers/")})


def test_a_refused_import_keeps_its_details_out_of_the_cookie_and_shows_no_server_path(
        signed_in: Callable[[str], FlaskClient], nl: Newsletter, caplog: pytest.LogCaptureFixture) -> None:
    client = signed_in("operator")
    header = ";".join(f"colonne{n}" for n in range(6000)).encode()  # a 62 KB line without an email column
    answer = upload(client, header + b"\nun@example.org\n")
    cookies = answer.headers.getlist("Set-Cookie")
    assert all(len(cookie) < 4000 for cookie in cookies), [len(c) for c in cookies]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "ne peut pas être importé" in page and "liste.csv" in page
    assert str(nl.settings.root) not in page and "desk-imports" not in page
    assert str(nl.settings.root) not in "".join(cookies)
    assert "colonne5999" in caplog.text  # the whole reason is in the desk's log, for the operator
    assert not list((nl.settings.root / "state" / "desk-imports").glob("*.csv"))


def test_a_large_import_is_sent_to_the_command_line(signed_in: Callable[[str], FlaskClient], nl: Newsletter) -> None:
    from newsletter.frontends.desk.subscribers import MAX_ROWS

    client = signed_in("operator")
    rows = "".join(f"p{n}@example.org\n" for n in range(MAX_ROWS + 1))
    answer = upload(client, ("email\n" + rows).encode())
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"plus de {MAX_ROWS} lignes" in page and "newsletter subscribers import" in page
    assert nl.subscribers.count() == 0
    assert not list((nl.settings.root / "state" / "desk-imports").glob("*.csv"))
    exactly = upload(client, ("email\n" + rows[:rows.rindex("\np") + 1]).encode())  # MAX_ROWS rows
    assert exactly.status_code == 200, client.get("/subscribers/").get_data(as_text=True)[-3000:]
    assert f"ajouterait {MAX_ROWS} abonnés" in exactly.get_data(as_text=True)


def test_an_operator_sees_and_changes_a_readers_frequency_and_pause(signed_in: Callable[[str], FlaskClient],
                                                                   nl: Newsletter) -> None:
    nl.subscribers.add("lea@example.org")
    client = signed_in("operator")
    page = client.get("/subscribers/?q=lea").get_data(as_text=True)
    assert '<option value="daily" selected>Chaque numéro</option>' in page
    client.post("/subscribers/preferences", data={"email": "lea@example.org", "frequency": "weekly", "pause": "2",
                                                  "csrf_token": csrf_token(client, "/subscribers/")})
    record = nl.subscribers.get("lea@example.org")
    assert record is not None and record.frequency == "weekly" and record.paused_until is not None
    page = client.get("/subscribers/?q=lea").get_data(as_text=True)
    assert '<option value="weekly" selected>' in page and "En pause jusqu" in page
    refused = client.post("/subscribers/preferences", data={"email": "lea@example.org", "frequency": "hourly",
                                                            "csrf_token": csrf_token(client, "/subscribers/")})
    assert "Pas de modification" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert nl.subscribers.get("lea@example.org").frequency == "weekly"  # type: ignore[union-attr]
