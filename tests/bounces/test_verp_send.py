"""With [bounces], a real send carries each subscriber's VERP envelope sender and mailto unsubscribe address."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.core import verp
from newsletter.config import load_settings
from newsletter.delivery.engine import Policy, send_issue
from newsletter.store.database import Store
from newsletter.store.models import Subscriber
from newsletter.store.subscribers import add_subscriber
from tests.helpers.bounces import configure
from tests.conftest import DAY, SECRET
from tests.sink import Sink
from tests.helpers.sending import smtp_config

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


def test_smtp_mail_from_is_the_subscribers_verp_address(project: Path, store: Store, sink: Sink) -> None:
    smtp_config(project, sink.port)
    configure(project, maildir=False)
    for name in ("ana", "bruno"):
        add_subscriber(store, f"{name}@destinataire.example", now=NOW)
    with store.session() as session:
        ids = {row.email: row.id for row in session.execute(select(Subscriber)).scalars()}
    send_issue(load_settings(project), store, DAY, secret_key=SECRET, policy=Policy(max_attempts=1))

    assert len(sink.recorder.envelopes) == 2
    for (mail_from, rcpt_to, _), message in zip(sink.recorder.envelopes, sink.recorder.messages):
        token = verp.token_in(mail_from, "bounces@bounce.example.org")
        assert token is not None and mail_from.startswith("bounces+")
        assert verp.read_token(SECRET, verp.BOUNCE, token) == verp.Tag(ids[rcpt_to[0]], DAY)
        link = str(message["List-Unsubscribe"]).split("<mailto:")[1].split("?")[0]
        unsubscribe = verp.token_in(link, "unsubscribe@bounce.example.org")
        assert unsubscribe is not None
        assert verp.read_token(SECRET, verp.UNSUBSCRIBE, unsubscribe) == verp.Tag(ids[rcpt_to[0]], DAY)
        assert message["From"].addresses[0].addr_spec == "redaction@example.org"  # the visible sender stays


def test_without_bounces_the_envelope_sender_is_the_from_address(project: Path, store: Store, sink: Sink) -> None:
    smtp_config(project, sink.port)
    add_subscriber(store, "ana@destinataire.example", now=NOW)
    send_issue(load_settings(project), store, DAY, secret_key=SECRET, policy=Policy(max_attempts=1))
    [(mail_from, _, _)] = sink.recorder.envelopes
    assert mail_from == "redaction@example.org"
    assert "mailto:redaction@example.org?subject=unsubscribe" in str(sink.recorder.messages[0]["List-Unsubscribe"])


@pytest.mark.parametrize("bounces", [True, False], ids=["with [bounces]", "without"])
def test_the_outbox_writes_the_envelope_sender_as_return_path(project: Path, store: Store, bounces: bool) -> None:
    if bounces:
        configure(project, maildir=False)
    add_subscriber(store, "ana@destinataire.example", now=NOW)
    send_issue(load_settings(project), store, DAY, secret_key=SECRET, policy=Policy(max_attempts=1))
    [file] = list((project / "out" / "outbox" / "new").iterdir())
    first = file.read_bytes().split(b"\n", 1)[0].decode()
    if bounces:
        assert first.startswith("Return-Path: <bounces+") and first.endswith("@bounce.example.org>")
    else:
        assert not first.startswith("Return-Path")
