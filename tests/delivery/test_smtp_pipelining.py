"""SMTP PIPELINING (RFC 2920): the envelope in one write where the server offers it, the same outcomes everywhere.

Every test runs against an aiosmtpd server that offers PIPELINING and one that does not: the
answers to each step must lead to the same ledger, whichever dialogue carried them.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

from newsletter.config import load_settings
from newsletter.content.load import load_issue
from newsletter.delivery.base import Outgoing
from newsletter.delivery.smtp import SMTPAdapter
from newsletter.render.mime import MessageFactory, Recipient
from newsletter.render.pipeline import render_issue
from newsletter.store.database import Store
from newsletter.store.models import Delivery, Subscriber
from tests.conftest import DAY, SECRET
from tests.sink import Sink
from tests.helpers.sending import add_people, attempts_of, send, smtp_config


@pytest.fixture(params=[False, True], ids=["without PIPELINING", "with PIPELINING"])
def sink(request: pytest.FixtureRequest) -> Iterator[Sink]:
    with Sink(pipelining=request.param) as running:
        yield running


def ledger_rows(store: Store) -> dict[str, tuple[str, str]]:
    """address → (status, last error)."""
    with store.session() as session:
        return {r.email: (r.status, r.last_error) for r in session.execute(
            select(Delivery.email, Delivery.status, Delivery.last_error))}


def test_the_envelope_goes_in_one_write_only_to_a_server_that_offers_pipelining(store: Store, sink: Sink,
                                                                                 project: Path) -> None:
    smtp_config(project, sink.port, connections=1)
    addresses = add_people(store, 5)
    report = send(load_settings(project), store)
    assert report.counts == {"sent": 5}
    assert sorted(sink.recorder.count_by_recipient().elements()) == addresses
    assert sink.recorder.pipelined == [sink.recorder.pipelining] * 5


def test_each_refused_step_gives_its_recipient_the_right_outcome(store: Store, sink: Sink, project: Path) -> None:
    smtp_config(project, sink.port, connections=1)
    people = add_people(store, 8)
    faults = sink.recorder.faults
    faults.mail_421_times = 1  # the first MAIL FROM (people[0]'s): the server hangs up, the next try reconnects
    faults.rcpt_permanent[people[0]] = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    faults.rcpt_transient_once[people[1]] = "451 4.7.1 Greylisted, try again later"
    faults.data_refused[people[2]] = "554 5.7.1 Message refused by policy"
    faults.data_refused_once[people[3]] = "451 4.3.0 Try again later"
    report = send(load_settings(project), store)
    rows = ledger_rows(store)
    assert rows[people[0]][0] == "failed" and "RCPT TO: 550 5.1.1" in rows[people[0]][1]
    assert rows[people[2]] == ("failed", "DATA: 554 5.7.1 Message refused by policy")
    assert all(rows[p][0] == "sent" for p in [people[1], *people[3:]])
    assert report.counts == {"sent": 6, "failed": 2}
    # Nothing reached the server for the refused ones (no empty message after a refused RCPT), one copy for the rest.
    received = sink.recorder.count_by_recipient()
    assert sorted(received.elements()) == [people[1], *people[3:]]
    assert attempts_of(store) == {people[0]: 2, people[1]: 2, people[2]: 1, people[3]: 2,
                                  **{p: 1 for p in people[4:]}}
    with store.session() as session:
        statuses = {r.email: r.status for r in session.execute(select(Subscriber.email, Subscriber.status))}
    assert statuses[people[0]] == "bounced" and statuses[people[2]] == "active"


def test_a_stop_that_comes_with_the_answers_to_the_envelope_sends_nothing(store: Store, sink: Sink,
                                                                          project: Path) -> None:
    """Pipelined, DATA has left with the envelope: the stop still drops the message before any of its bytes."""
    smtp_config(project, sink.port, connections=1)
    add_people(store, 3)
    stop = threading.Event()
    sink.recorder.faults.on_rcpt = stop.set
    report = send(load_settings(project), store, stop=stop)
    assert report.counts == {"pending": 3} and report.stopped == "stop requested"
    assert sink.recorder.raw == []
    assert set(attempts_of(store).values()) == {0}  # a message dropped by a stop is not a try


def test_a_server_that_opens_data_after_refusing_the_recipient_gets_no_empty_message(store: Store, sink: Sink,
                                                                                   project: Path) -> None:
    """Pipelined, DATA left before the RCPT TO's refusal was read: a 354 then must not be ended by a dot
    (nor answered by RSET, which the server would read as message text: the short timeout ends such a wait)."""
    smtp_config(project, sink.port, connections=1, timeout=5)
    people = add_people(store, 3)
    sink.recorder.faults.rcpt_permanent[people[1]] = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    sink.recorder.faults.data_without_recipients = True
    report = send(load_settings(project), store)
    assert report.counts == {"sent": 2, "failed": 1}
    assert ledger_rows(store)[people[1]][0] == "failed"
    assert sorted(sink.recorder.count_by_recipient().elements()) == [people[0], people[2]]
    assert len(sink.recorder.raw) == 2


@pytest.mark.parametrize("dot_free", [True, False], ids=["factory's message, sent as is", "other message, stuffed"])
def test_a_body_line_that_begins_with_a_dot_arrives_intact(sink: Sink, project: Path, dot_free: bool) -> None:
    """The factory writes a leading dot as =2E and marks the message, so no stuffing pass is needed;
    a message from elsewhere (dot_free False) is still dot-stuffed. Either way the reader gets the line."""
    smtp_config(project, sink.port, connections=1)
    settings = load_settings(project)
    rendered = render_issue(load_issue(settings.issues_dir, DAY, 5).issue, settings)
    lines = [".point de départ", "x" * 75 + ".suite", "."]
    rendered = dataclasses.replace(rendered, text="\n".join(lines) + "\n" + rendered.text)
    factory = MessageFactory(rendered, settings, secret_key=SECRET, date=datetime.now(timezone.utc))
    person = factory.personal(Recipient("zoe@example.org", "Zoé"))
    built = dataclasses.replace(factory.build_from(person), dot_free=dot_free)
    adapter = SMTPAdapter(settings)
    adapter.open()
    try:
        results = [r for rs in adapter.send([Outgoing(1, person, "redaction@example.org", built)], lambda _: None)
                   for r in rs]
    finally:
        adapter.close()
    assert results[0].ok
    assert sink.recorder.raw == [built.data]
    text_part = next(sink.recorder.messages[0].iter_parts())
    assert text_part.get_content().replace("\r\n", "\n").split("\n")[:3] == lines
