"""The send engine against real parts: a Maildir outbox and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import mailbox
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsletter.config import Settings, load_settings
from newsletter.dispatch import Policy, dry_run, send_issue, send_test
from newsletter.errors import ConfigError, ContentError
from newsletter.render.mime import Recipient
from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber, unsubscribe
from newsletter.tokens import UNSUBSCRIBE, read_token
from tests.conftest import DAY, SECRET, item_text, write
from tests.sink import Sink

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
FAST = Policy(max_attempts=3, backoff_seconds=0.05)


def smtp_config(project: Path, port: int, **extra: object) -> None:
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8").replace('adapter = "outbox"', 'adapter = "smtp"')
    text = text.replace("rate_per_second = 20", "rate_per_second = 5000")
    options = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in extra.items())
    text = text.replace('host = "smtp.example.org"\nport = 587\nsecurity = "starttls"\nusername = "newsletter"\n',
                        f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 1\n{options}')
    config.write_text(text, encoding="utf-8")


def add_people(store: Store, n: int) -> list[str]:
    addresses = [f"lecteur{i:04d}@example.org" for i in range(n)]
    for i, address in enumerate(addresses):
        add_subscriber(store, address, now=NOW, first_name=f"Prénom{i}", last_name="Nom")
    return addresses


def send(settings: Settings, store: Store, **kwargs: object):  # type: ignore[no-untyped-def]
    return send_issue(settings, store, DAY, secret_key=SECRET, policy=FAST, **kwargs)  # type: ignore[arg-type]


def test_outbox_delivers_each_subscriber_once_and_a_rerun_is_a_no_op(settings: Settings, store: Store) -> None:
    addresses = add_people(store, 30)
    report = send(settings, store)
    assert report.count(ledger.DeliveryStatus.SENT) == 30 and report.sent_now == 30
    box = mailbox.Maildir(settings.root / "out" / "outbox", create=False)
    received = sorted(str(m["To"].split("<")[-1].rstrip(">")) for m in box)
    assert received == addresses
    again = send(settings, store)
    assert again.sent_now == 0 and again.enqueued == 0 and len(box) == 30


def test_messages_carry_personal_fields_and_a_valid_unsubscribe_token(settings: Settings, store: Store,
                                                                       sink: Sink, project: Path) -> None:
    smtp_config(project, sink.port)
    add_people(store, 5)
    send(load_settings(project), store)
    messages = sink.recorder.messages
    assert len(messages) == 5
    for message in messages:
        address = message["To"].addresses[0].addr_spec
        number = int(address[7:11])
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert f"Bonjour Prénom{number}," in text and f"Bonjour Prénom{number}," in html
        url = str(message["List-Unsubscribe"]).split("<")[1].split(">")[0]
        assert read_token(SECRET, UNSUBSCRIBE, url.rsplit("/", 1)[1]) == address
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f'href="{url}"' in html
        assert message["Message-ID"].endswith("@example.org>")


def test_unsubscribed_people_are_never_mailed(settings: Settings, store: Store) -> None:
    addresses = add_people(store, 4)
    unsubscribe(store, addresses[1], now=NOW)
    report = send(settings, store)
    assert report.count(ledger.DeliveryStatus.SENT) == 3


def test_faults_are_retried_refusals_recorded(settings: Settings, store: Store, sink: Sink, project: Path) -> None:
    smtp_config(project, sink.port)
    addresses = add_people(store, 12)
    faults = sink.recorder.faults
    faults.rcpt_permanent[addresses[0]] = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    faults.rcpt_permanent[addresses[1]] = "554 5.7.1 Relay access denied"
    faults.rcpt_transient_once[addresses[2]] = "451 4.7.1 Greylisted, try again later"
    faults.mail_421_times = 1
    faults.drop_at_rcpt_times = 1
    faults.slow_rcpt_times = 1
    faults.slow_seconds = 1.5
    report = send(load_settings(project), store)
    received = sink.recorder.count_by_recipient()
    assert set(received) == set(addresses[2:]) and all(n == 1 for n in received.values())
    assert report.count(ledger.DeliveryStatus.SENT) == 10
    assert report.count(ledger.DeliveryStatus.FAILED) == 2
    reasons = {reason for status, reason, _ in report.failures if status == "failed"}
    assert any("5.1.1" in r for r in reasons) and any("Relay access denied" in r for r in reasons)
    from newsletter.store.subscribers import list_subscribers

    statuses = {s.email: s.status for s in list_subscribers(store)}
    assert statuses[addresses[0]] == "bounced" and statuses[addresses[1]] == "active"


def test_retries_give_up_after_max_attempts(settings: Settings, store: Store, sink: Sink, project: Path) -> None:
    smtp_config(project, sink.port)
    add_people(store, 2)
    sink.recorder.faults.mail_421_times = 100
    report = send(load_settings(project), store)
    assert report.count(ledger.DeliveryStatus.FAILED) == 2
    assert any("gave up after 3 attempts" in reason for _, reason, _ in report.failures)


def test_limit_sends_part_and_the_next_run_the_rest(settings: Settings, store: Store) -> None:
    add_people(store, 10)
    first = send(settings, store, limit=4)
    assert first.sent_now == 4 and first.pending == 6 and "limit" in first.stopped
    second = send(settings, store)
    assert second.sent_now == 6 and second.pending == 0


def test_new_subscribers_are_served_by_a_later_run(settings: Settings, store: Store) -> None:
    add_people(store, 3)
    send(settings, store)
    add_subscriber(store, "tardif@example.org", now=NOW)
    report = send(settings, store)
    assert report.enqueued == 1 and report.sent_now == 1


def test_dry_run_writes_nothing(settings: Settings, store: Store) -> None:
    add_people(store, 3)
    plan = dry_run(settings, store, DAY, secret_key=SECRET)
    assert plan.recipients == 3 and plan.sample_to == "lecteur0000@example.org"
    assert b"List-Unsubscribe-Post" in plan.sample
    assert ledger.find_send(store, DAY) is None
    assert not (settings.root / "out" / "outbox").exists()


def test_test_send_is_marked_and_not_recorded(settings: Settings, store: Store, sink: Sink, project: Path) -> None:
    smtp_config(project, sink.port)
    results = send_test(load_settings(project), DAY, [Recipient("relecture@example.org")], secret_key=SECRET)
    assert all(r.ok for r in results)
    assert sink.recorder.messages[0]["Subject"].startswith("[TEST] ")
    assert ledger.find_send(store, DAY) is None


def test_a_failing_check_sends_nothing(settings: Settings, store: Store, project: Path) -> None:
    add_people(store, 2)
    write(project / "issues" / DAY.isoformat() / "02-mobile.md", item_text(source=""))
    with pytest.raises(ContentError):
        send(settings, store)
    assert ledger.find_send(store, DAY) is None


def test_bad_credentials_stop_the_run_without_blaming_recipients(settings: Settings, store: Store,
                                                                 project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_config(project, 1, username="newsletter")  # port 1: nothing listens
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="SMTP_PASSWORD is not set"):
        send(load_settings(project), store)


@pytest.mark.parametrize("host", ["smtp.example.org", "10.0.0.1"])
def test_clear_text_smtp_is_refused_off_loopback(project: Path, store: Store, host: str) -> None:
    smtp_config(project, 25)
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('host = "127.0.0.1"', f'host = "{host}"'),
                      encoding="utf-8")
    with pytest.raises(ConfigError, match="allowed only to a loopback address"):
        send(load_settings(project), store)


def test_parsed_message_round_trip(settings: Settings, store: Store) -> None:
    add_people(store, 1)
    send(settings, store)
    raw = next(iter((settings.root / "out" / "outbox" / "new").iterdir())).read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_rows_a_stop_gives_back_say_why(settings: Settings, store: Store) -> None:
    import threading

    from newsletter.dispatch import STOPPED_BEFORE_HANDOVER

    add_people(store, 8)
    stop = threading.Event()
    report = send(settings, store, stop=stop, progress=lambda n: stop.set())  # stop once the first is sent
    assert report.stopped == "stop requested" and report.sent_now == 1 and report.pending == 7
    assert report.failures == [("pending", STOPPED_BEFORE_HANDOVER, 7)]
    assert send(settings, store).counts == {"sent": 8}


def test_a_run_whose_lease_runs_out_hands_nothing_more_over(project: Path, store: Store) -> None:
    """Frozen or cut off from the store past its lease, a run may have lost its rows: it stops handing over."""
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[delivery]\n", "[delivery]\nlease_seconds = 60\n", 1),
                      encoding="utf-8")
    add_people(store, 6)
    clock = [NOW]

    def first_message_then_a_long_freeze(n: int) -> None:
        clock[0] = NOW + timedelta(seconds=55)  # past 5/6 of the lease, never renewed meanwhile

    report = send(load_settings(project), store, clock=lambda: clock[0], progress=first_message_then_a_long_freeze)
    assert report.sent_now == 1 and report.pending == 5 and "lease could not be renewed" in report.stopped
    assert send(load_settings(project), store).counts == {"sent": 6}
