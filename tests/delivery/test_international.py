"""Internationalized addresses through every transport: IDN domains as A-labels, UTF-8 local parts via SMTPUTF8."""

from __future__ import annotations

import email
import email.policy
import mailbox
from pathlib import Path
from typing import Iterator

import pytest

from newsletter.config import Settings, load_settings
from sqlalchemy import select

from newsletter.store.database import Store
from newsletter.store.models import Delivery, DeliveryStatus, Subscriber
from newsletter.store.subscribers import add_subscriber
from tests.helpers.mail_api import configure
from tests.helpers.mail_api import send as api_send
from tests.fakes import FAKES, FakeProvider, environment
from tests.sink import Sink
from tests.helpers.clock import NOW
from tests.helpers.sending import send, smtp_config

#: What each person typed → the address their message must go to.
PEOPLE = {
    "ascii@example.org": "ascii@example.org",
    "jose@exämple.org": "jose@xn--exmple-cua.org",
    "bob@xn--bcher-kva.example": "bob@xn--bcher-kva.example",
    "paul.lefèvre@example.fr": "paul.lefèvre@example.fr",
}
UTF8_LOCAL = "paul.lefèvre@example.fr"
ASCII_ONLY = sorted(wire for wire in PEOPLE.values() if wire != UTF8_LOCAL)


def add_people(store: Store) -> None:
    for address in PEOPLE:
        add_subscriber(store, address, now=NOW, first_name="Élise")


def failures(store: Store) -> dict[str, str]:
    """Address → reason of every failed delivery."""
    with store.session() as session:
        rows = session.execute(select(Subscriber.email, Delivery.last_error)
                               .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                               .where(Delivery.status == DeliveryStatus.FAILED.value)).all()
    return {address: reason for address, reason in rows}


@pytest.mark.parametrize("pipelining", [False, True], ids=["", "pipelining"])
@pytest.mark.parametrize("offered", [True, False], ids=["smtputf8", "no-smtputf8"])
def test_smtp_sends_idn_domains_as_a_labels_and_utf8_local_parts_only_with_smtputf8(
        store: Store, project: Path, offered: bool, pipelining: bool) -> None:
    add_people(store)
    with Sink(smtputf8=offered, pipelining=pipelining) as relay:
        smtp_config(project, relay.port)
        report = send(load_settings(project), store)
    envelopes = {tuple(rcpt): (sender, options) for sender, rcpt, options in relay.recorder.envelopes}
    expected = sorted(PEOPLE.values()) if offered else ASCII_ONLY
    assert sorted(rcpt for (rcpt,) in envelopes) == expected
    for message in relay.recorder.messages:
        assert "=?" not in str(message["To"])  # never an encoded word inside an address
    assert all(not options for (rcpt,), (_, options) in envelopes.items() if rcpt != UTF8_LOCAL)
    if offered:
        assert "SMTPUTF8" in envelopes[(UTF8_LOCAL,)][1]
        assert report.sent_now == 4 and not report.failures
    else:
        assert report.sent_now == 3 and report.failed_now == 1
        reason = failures(store)[UTF8_LOCAL]
        assert "SMTPUTF8" in reason and "does not offer" in reason
        assert report.count(DeliveryStatus.FAILED) == 1 and report.pending == 0  # permanent: not retried


def test_the_outbox_carries_every_address(settings: Settings, store: Store) -> None:
    add_people(store)
    report = send(settings, store)
    assert report.sent_now == 4 and not report.failures
    box = mailbox.Maildir(settings.root / "out" / "outbox", create=False)
    raw = {key: box.get_bytes(key) for key in box.keys()}
    to = {}
    for data in raw.values():
        # RFC 6532 headers are UTF-8: parse the text (message_from_bytes would read them as ASCII).
        message = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
        to[message["To"].addresses[0].addr_spec] = data
    assert sorted(to) == sorted(PEOPLE.values())
    assert all(data.isascii() for address, data in to.items() if address != UTF8_LOCAL)
    assert "To: =?utf-8?b?w4lsaXNl?= <paul.lefèvre@example.fr>".encode() in to[UTF8_LOCAL]  # RFC 6532: raw UTF-8


@pytest.fixture(params=sorted(FAKES))
def fake(request: pytest.FixtureRequest) -> Iterator[FakeProvider]:
    with FAKES[request.param]() as running:
        yield running


def test_mail_apis_get_a_label_domains_and_utf8_local_parts_only_where_documented(
        project: Path, store: Store, fake: FakeProvider) -> None:
    add_people(store)
    settings = configure(project, fake)
    report = api_send(settings, store, fake, environment(fake.name))
    delivered = sorted(message.to for message in fake.inbox)
    if fake.name == "mailgun":  # Mailgun documents SMTPUTF8 on its Messages API
        assert delivered == sorted(PEOPLE.values()) and report.sent_now == 4
    else:
        assert delivered == ASCII_ONLY and report.sent_now == 3
        reason = failures(store)[UTF8_LOCAL]
        assert "SMTPUTF8" in reason and fake.name in reason and report.failed_now == 1
