"""Approving on the desk: the approver role, a separate approver when required, stale approvals, test copies."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Callable

from flask.testing import FlaskClient

from newsletter import Newsletter
from tests.conftest import DAY, SECRET
from tests.helpers.desk import Clock, PASSWORD, csrf_token, desk_config, sign_in
from tests.helpers.desk import issue_form
from tests.helpers.french import typeset

URL = f"/issues/{DAY.isoformat()}"


def approve(client: FlaskClient) -> str:
    client.post(f"{URL}/approve", data={"csrf_token": csrf_token(client, URL)})
    return client.get(URL).get_data(as_text=True)


def test_an_approver_approves_and_an_edit_makes_the_approval_stale_naming_the_file(
        signed_in: Callable[[str], FlaskClient], nl: Newsletter, issue_dir: Path) -> None:
    page = approve(signed_in("approver"))
    assert 'data-approval="current"' in page and "Approuvé par approver" in page
    assert nl.approval(DAY).current and nl.approval(DAY).approved_by == "approver"
    editor = signed_in("editor")
    page = editor.get(URL).get_data(as_text=True)
    name = sorted(p.name for p in issue_dir.glob("*.md"))[2]
    form = issue_form(page)
    editor.post(f"{URL}/save", data={**form, f"{name}:body": f"{form[name + ':body']} Une phrase de plus."})
    page = editor.get(URL).get_data(as_text=True)
    assert 'data-approval="stale"' in page and f"<li>{name}</li>" in page


def test_the_approve_button_is_for_approvers_only(signed_in: Callable[[str], FlaskClient]) -> None:
    assert "/approve" not in signed_in("editor").get(URL).get_data(as_text=True)
    assert "/approve" in signed_in("approver").get(URL).get_data(as_text=True)


def test_a_separate_approver_is_required_when_configured(project: Path, clock: Clock) -> None:
    from newsletter.frontends.desk.app import create_app

    desk_config(project, "[desk]\nrequire_separate_approver = true\n")
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as nl:
        nl.users.add("alice", "approver", PASSWORD)
        nl.users.add("bob", "approver", PASSWORD)
        app = create_app(nl, SECRET)
        alice = app.test_client()
        sign_in(alice, "alice")
        page = alice.get(URL).get_data(as_text=True)
        alice.post(f"{URL}/save", data={**issue_form(page), "subject": "Un objet revu par Alice"})
        page = approve(alice)
        assert "un autre validateur doit le valider" in page and not nl.approval(DAY).current
        bob = app.test_client()
        sign_in(bob, "bob")
        approve(bob)
        assert nl.approval(DAY).current and nl.approval(DAY).approved_by == "bob"


def test_an_issue_that_fails_the_check_cannot_be_approved(signed_in: Callable[[str], FlaskClient], nl: Newsletter,
                                                          issue_dir: Path) -> None:
    (issue_dir / "02-mobile.md").write_text('---\ntitle: ""\nsource: "x"\n---\nTexte.\n', encoding="utf-8")
    page = approve(signed_in("approver"))
    assert not nl.approval(DAY).current and "ne passe pas la vérification" in page


def test_a_test_copy_goes_to_the_accounts_own_address(signed_in: Callable[[str], FlaskClient],
                                                      project: Path) -> None:
    client = signed_in("editor")
    client.post(f"{URL}/test", data={"csrf_token": csrf_token(client, URL)})
    page = client.get(URL).get_data(as_text=True)
    assert "Une copie de test est partie à editor@example.org." in page
    files = list((project / "out" / "outbox" / "new").iterdir())
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "editor@example.org" and message["Subject"].startswith("[TEST] ")


def test_a_send_in_progress_shows_its_figures_and_reloads_itself(signed_in: Callable[[str], FlaskClient],
                                                                  nl: Newsletter) -> None:
    for address in ("un@example.org", "deux@example.org"):
        nl.subscribers.add(address)
    nl.approve(DAY, by="approver")
    nl.send(DAY, limit=1)  # one of two: the send is under way
    page = signed_in("editor").get(URL).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="10">' in page
    assert typeset("envoyé : 1") in page and typeset("en attente : 1") in page
    nl.send(DAY)
    page = signed_in("editor").get(URL).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "Terminé." in page and typeset("envoyé : 2") in page


def test_the_approver_is_none_of_the_accounts_that_changed_the_issue_since_its_last_approval(
        project: Path, clock: Clock) -> None:
    from datetime import timedelta

    from newsletter.frontends.desk.app import create_app

    desk_config(project, "[desk]\nrequire_separate_approver = true\n")
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as nl:
        app = create_app(nl, SECRET)
        clients = {}
        for name, role in (("alice", "approver"), ("bob", "approver"), ("carol", "editor")):
            nl.users.add(name, role, PASSWORD)
            clients[name] = app.test_client()
            sign_in(clients[name], name)

        def edit(name: str, subject: str) -> None:
            clock.now += timedelta(minutes=1)
            client = clients[name]
            form = issue_form(client.get(URL).get_data(as_text=True))
            assert client.post(f"{URL}/save", data={**form, "subject": subject}).status_code == 302

        edit("alice", "Un objet revu par Alice")
        edit("carol", "Un objet revu par Carol")  # someone saves after Alice: Alice still changed the issue
        page = approve(clients["alice"])
        assert "depuis sa dernière validation" in page and not nl.approval(DAY).current
        clock.now += timedelta(minutes=1)
        approve(clients["bob"])
        assert nl.approval(DAY).current
        edit("carol", "Un objet revu encore par Carol")
        page = approve(clients["alice"])  # her change was approved by Bob; only Carol's came after
        assert nl.approval(DAY).current and nl.approval(DAY).approved_by == "alice", page[-2000:]
        edit("bob", "Un objet revu par Bob")
        edit("carol", "Un objet revu une dernière fois par Carol")
        assert "depuis sa dernière validation" in approve(clients["bob"]) and not nl.approval(DAY).current
        approve(clients["alice"])
        assert nl.approval(DAY).approved_by == "alice" and nl.approval(DAY).current


def test_the_page_of_a_sent_issue_warns_that_edits_change_nothing_readers_see(
        signed_in: Callable[[str], FlaskClient], nl: Newsletter) -> None:
    nl.subscribers.add("un@example.org")
    nl.approve(DAY, by="approver")
    editor = signed_in("editor")
    assert 'id="already-sent"' not in editor.get(URL).get_data(as_text=True)
    nl.send(DAY)  # at the desk's clock: 12:00 in Paris on Monday 23
    page = editor.get(URL).get_data(as_text=True)
    assert typeset('<p class="flash error" id="already-sent">Ce numéro a été envoyé le lundi 23 novembre 2026 à 12 h 00 : une '
                   "modification ne change ni ce que ses lecteurs ont reçu, ni sa page dans les archives publiques.</p>"
                   ) in page
