"""The correction mail: once to each reader the issue reached who is still subscribed, through the
configured transport (a real SMTP server on loopback) and the correction mail's own ledger; a run
killed with SIGKILL mid-send, then run again, sends nobody twice and loses nobody."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.delivery.engine import send_issue
from newsletter.errors import CorrectionRefused
from newsletter.library import Newsletter
from newsletter.store import corrections
from newsletter.store.database import open_store
from newsletter.store.models import DeliveryStatus
from newsletter.store.readers import erase_subscriber
from newsletter.store.subscribers import add_subscriber, list_subscribers, unsubscribe
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW
from tests.helpers.config import set_options
from tests.helpers.sending import smtp_config
from tests.sink import Sink

SUBJECT = "Le consommateur français résiste au numérique"
NOTE = "Le chiffre de l’info 1 était faux <corrigé>."
#: Far above what a loaded machine takes; every wait ends on its event first.
PATIENCE = 180


def sent_to(project: Path, people: int) -> list[str]:
    """The issue sent (through a sink of its own) to ``people`` readers, then item 1 corrected in the files."""
    from newsletter.content.approval import approve

    approve(project / "issues" / DAY.isoformat(), "Camille Martin", NOW)
    store = open_store("sqlite:///state/newsletter.db", project)
    addresses = [f"lecteur{i:04d}@example.org" for i in range(people)]
    for address in addresses:
        add_subscriber(store, address, now=NOW, first_name="Camille")
    with Sink() as issue_sink:
        smtp_config(project, issue_sink.port)
        send_issue(load_settings(project), store, DAY, secret_key=SECRET)
        assert len(issue_sink.recorder.messages) == people
    store.close()
    item = project / "issues" / DAY.isoformat() / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8").replace("Près d'un Français sur deux", "Près de 46 % des Français"),
                    encoding="utf-8")
    return addresses


def test_each_reader_still_subscribed_is_told_once(project: Path, sink: Sink) -> None:
    addresses = sent_to(project, 5)
    smtp_config(project, sink.port)
    store = open_store("sqlite:///state/newsletter.db", project)
    unsubscribe(store, addresses[1], now=NOW + timedelta(hours=1))  # left after the send
    erase_subscriber(store, addresses[2], "digest-of-the-address", now=NOW + timedelta(hours=1))  # and erased
    nl = Newsletter(load_settings(project), store=store, secret_key=SECRET, clock=lambda: NOW + timedelta(hours=2))
    outcome = nl.corrections.publish(DAY, NOTE, mail=True)
    assert outcome.mail is not None and outcome.mail.complete
    assert outcome.mail.counts == {"sent": 3}
    received = sink.recorder.count_by_recipient()
    assert received == {a: 1 for a in addresses if a not in addresses[1:3]}
    message = sink.recorder.messages[0]
    assert message["Subject"].replace("\u00a0", " ") == f"Correction : {SUBJECT}"
    assert message["List-Unsubscribe"].startswith("<https://") and message["List-Unsubscribe-Post"]
    assert message["Message-ID"].startswith(f"<{DAY.isoformat()}.correction1.")
    text = message.get_body(("plain",)).get_content()
    assert NOTE in text and f"https://news.example.org/archive/{DAY.isoformat()}/" in text
    html = message.get_body(("html",)).get_content()
    assert "Le chiffre de l’info 1 était faux &lt;corrigé&gt;." in html  # autoescaped
    # The same command again: everyone was told; nobody gets it twice.
    with pytest.raises(CorrectionRefused, match="were told already"):
        nl.corrections.publish(DAY, NOTE, mail=True)
    assert len(sink.recorder.messages) == 3
    assert [v.mail_counts for v in nl.corrections.of(DAY)] == [{"sent": 3}]


def test_a_correction_published_without_mail_can_be_mailed_later(project: Path, sink: Sink) -> None:
    addresses = sent_to(project, 2)
    smtp_config(project, sink.port)
    store = open_store("sqlite:///state/newsletter.db", project)
    nl = Newsletter(load_settings(project), store=store, secret_key=SECRET, clock=lambda: NOW + timedelta(hours=2))
    assert nl.corrections.publish(DAY, NOTE).mail is None
    assert not sink.recorder.messages
    later = nl.corrections.publish(DAY, NOTE, mail=True)
    assert later.resumed and later.mail is not None and later.mail.counts == {"sent": 2}
    assert sorted(sink.recorder.count_by_recipient()) == addresses
    assert len(nl.corrections.of(DAY)) == 1  # the same correction, now mailed


def start_correct(project: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET}
    return subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "correct", DAY.isoformat(),
                             "--note", NOTE, "--mail"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_kill_9_mid_send_then_a_run_again_sends_nobody_twice_and_loses_nobody(project: Path, stage: str) -> None:
    """Killed while the sink holds its answer (to a RCPT TO: the message not begun; after a final dot: in
    doubt), then the same command again: every reader gets the mail once, except at most the one in
    doubt at the kill, which is recorded uncertain and never sent again."""
    people = 60
    addresses = sent_to(project, people)
    with Sink() as sink:
        smtp_config(project, sink.port)
        set_options(project, "delivery", lease_seconds=3)  # the next run waits for the killed run's lease
        sink.recorder.hold(stage, after=25)
        process = start_correct(project)
        try:
            assert sink.recorder.wait_held(1, PATIENCE), f"the connection never reached {stage}"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=PATIENCE)
        assert sink.recorder.let_go(PATIENCE)
        before = len(sink.recorder.messages)
        assert 0 < before < people
        again = start_correct(project)
        out, err = again.communicate(timeout=PATIENCE)
        assert b"Traceback" not in err, err.decode()
        assert again.returncode == 0, (out + err).decode()
        received = sink.recorder.count_by_recipient()
    store = open_store("sqlite:///state/newsletter.db", project)
    (only,) = corrections.corrections(store, 1)
    counts = corrections.mail_counts(store, only.id)
    assert max(received.values()) == 1, "somebody got the correction twice"
    missing = set(addresses) - set(received)
    assert counts.get(DeliveryStatus.SENT.value, 0) + counts.get(DeliveryStatus.UNCERTAIN.value, 0) == people
    assert len(missing) <= counts.get(DeliveryStatus.UNCERTAIN.value, 0) <= 1, counts
    if stage == "RCPT":  # the message in hand had not begun: nobody is in doubt
        assert not missing and DeliveryStatus.UNCERTAIN.value not in counts


def test_on_postgresql_a_correction_mail_goes_once_and_claims_never_overlap(server_url: str, project: Path) -> None:
    """The same ledger on a real PostgreSQL server: a whole correction mail through the outbox, and
    four runs claiming the rows of another at once never hold the same one."""
    import threading

    from sqlalchemy import text

    from newsletter.store import ledger

    store = open_store(server_url, project)
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE corrections, deliveries, sends, subscribers RESTART IDENTITY CASCADE"))
    for i in range(120):
        add_subscriber(store, f"p{i}@example.org", now=NOW)
    settings = load_settings(project)  # the outbox
    send_issue(settings, store, DAY, secret_key=SECRET)
    item = project / "issues" / DAY.isoformat() / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8").replace("Près d'un Français sur deux", "Près de 46 %"),
                    encoding="utf-8")
    nl = Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: NOW + timedelta(hours=2))
    first = nl.corrections.publish(DAY, NOTE, mail=True)
    assert first.mail is not None and first.mail.counts == {"sent": 120}
    # A second correction whose rows four runs claim at the same time.
    item.write_text(item.read_text(encoding="utf-8").replace("46 %", "47 %"), encoding="utf-8")
    second = nl.corrections.publish(DAY, "Encore un chiffre.")
    (row,) = [c for c in corrections.corrections(store, 1) if c.number == second.correction.number]
    assert corrections.enqueue(store, row.id, 1, NOW) == 120
    claimed: list[list[int]] = [[] for _ in range(4)]

    def claim(slot: int) -> None:
        run = ledger.new_run_id()
        while batch := corrections.claim(store, row.id, run, 7, NOW):
            claimed[slot].extend(c.row_id for c in batch)

    threads = [threading.Thread(target=claim, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PATIENCE)
    every = [key for keys in claimed for key in keys]
    assert len(every) == len(set(every)) == 120
    store.close()


def test_a_hard_bounce_of_the_correction_mail_marks_its_reader_bounced_as_the_issue_does(
        project: Path, sink: Sink) -> None:
    """The receiving server refuses one reader for good (550 5.1.1) when the correction mail comes: that reader
    is ``bounced`` (never mailed again), as a refusal during the issue's send makes them, and the subscribers'
    webhook hears of it; a refusal that says nothing of the address (5.7.1) marks nobody."""
    addresses = sent_to(project, 4)
    smtp_config(project, sink.port)
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[[hooks]]\nurl = "http://127.0.0.1:9/hook"\n'
                      'events = ["subscriber.bounced"]\nsecret_env = "NEWSLETTER_HOOK_SECRET"\n', encoding="utf-8")
    sink.recorder.faults.rcpt_permanent[addresses[0]] = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    sink.recorder.faults.rcpt_permanent[addresses[1]] = "554 5.7.1 Relay access denied"
    store = open_store("sqlite:///state/newsletter.db", project)
    nl = Newsletter(load_settings(project), store=store, secret_key=SECRET, clock=lambda: NOW + timedelta(hours=2))
    outcome = nl.corrections.publish(DAY, NOTE, mail=True)
    assert outcome.mail is not None and outcome.mail.counts == {"sent": 2, "failed": 2}
    statuses = {s.email: s.status for s in list_subscribers(store)}
    assert statuses == {addresses[0]: "bounced", addresses[1]: "active", addresses[2]: "active",
                        addresses[3]: "active"}
    assert [(e.type, json.loads(e.payload)["data"]["email"]) for e in nl.hooks.events()] == [
        ("subscriber.bounced", addresses[0])]
