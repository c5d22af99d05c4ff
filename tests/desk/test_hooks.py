"""The desk's webhooks page: the deliveries with the receiver's host only, « Réessayer » as `hooks retry`
does, and « Envoyer un message d’essai » to a chat hook, received by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from newsletter import Newsletter
from newsletter.frontends.desk.app import create_app
from newsletter.store import pauses
from newsletter.store.ledger import get_or_create_send
from tests.conftest import DAY, SECRET
from tests.helpers.desk import PASSWORD, ROLES, Clock, csrf_token, desk_config, sign_in
from tests.helpers.hooks import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def chat_desk(project: Path, receiver: Receiver, clock: Clock) -> Iterator[tuple[Newsletter, Flask]]:
    desk_config(project, f'[[hooks]]\nurl = "{receiver.url}/T0/B0/s3cr3t-token"\nformat = "chat"\n')
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as nl:
        for role in ROLES:
            nl.users.add(role, role, PASSWORD)
        yield nl, create_app(nl, SECRET)


def given_up(nl: Newsletter, receiver: Receiver, clock: Clock) -> str:
    """A send.paused event that the chat refused for a day."""
    pauses.record_pause(nl.store, get_or_create_send(nl.store, DAY, "Le sujet", clock.now), reason="bounce rate 9%",
                        bounces=9, messages=100, now=clock.now)
    clock.now += timedelta(days=1, seconds=1)
    receiver.answers = [(500, {})]
    assert nl.hooks.deliver_due() == 1
    (event,) = nl.hooks.events()
    assert event.state == "failed"
    return event.event_id


def test_the_operator_sees_the_deliveries_with_the_host_only_and_retries_one(
        chat_desk: tuple[Newsletter, Flask], receiver: Receiver, clock: Clock) -> None:
    nl, app = chat_desk
    event_id = given_up(nl, receiver, clock)
    client = app.test_client()
    sign_in(client, "operator")
    page = client.get("/hooks/").get_data(as_text=True)
    host = receiver.url.split("/")[2]
    assert host in page and "s3cr3t" not in page and "send.paused" in page
    assert "abandonné" in page and "Réessayer" in page and "a répondu 500" not in page and "answered 500" in page
    token = csrf_token(client, "/hooks/")
    assert client.post("/hooks/retry", data={"event": event_id}).status_code == 400  # no CSRF token: nothing done
    assert nl.hooks.events()[0].state == "failed"
    response = client.post("/hooks/retry", data={"event": event_id, "csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200 and "1 évènement sera" in response.get_data(as_text=True)
    assert nl.hooks.events()[0].state == "pending"
    assert nl.hooks.deliver_due() == 1 and nl.hooks.events()[0].state == "delivered"
    assert json.loads(receiver.requests[-1][2])["text"].startswith("L’envoi du mardi 24 novembre s’est mis en pause")


def test_the_test_button_posts_a_french_sentence_to_the_chat(chat_desk: tuple[Newsletter, Flask],
                                                             receiver: Receiver) -> None:
    nl, app = chat_desk
    client = app.test_client()
    sign_in(client, "operator")
    token = csrf_token(client, "/hooks/")
    response = client.post("/hooks/test", data={"chat": "0", "csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200 and "Le message d’essai est parti." in response.get_data(as_text=True)
    (path, headers, body), = receiver.requests
    assert path == "/hook/T0/B0/s3cr3t-token" and "webhook-signature" not in headers
    assert json.loads(body) == {"text": f"Message d’essai de {nl.settings.newsletter.name}\u00a0: les avis "
                                        "d’envoi arriveront ici."}
    receiver.answers = [(404, {})]
    response = client.post("/hooks/test", data={"chat": "0", "csrf_token": token}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "answered 404" in page and "s3cr3t" not in page
    response = client.post("/hooks/test", data={"chat": "7", "csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200 and len(receiver.requests) == 2  # no such chat: nothing posted


@pytest.mark.parametrize("role", ["editor", "approver"])
def test_only_an_operator_opens_the_webhooks_page(chat_desk: tuple[Newsletter, Flask], receiver: Receiver,
                                                  role: str) -> None:
    _, app = chat_desk
    client = app.test_client()
    sign_in(client, role)
    assert client.get("/hooks/").status_code == 403
    assert client.post("/hooks/test", data={"chat": "0"}).status_code == 403
    assert receiver.requests == []
