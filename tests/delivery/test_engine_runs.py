"""The send engine (newsletter/delivery/engine.py) against real parts: a Maildir outbox and a real SMTP
server on 127.0.0.1."""

from __future__ import annotations

import email
import email.message
import email.policy
import mailbox
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from newsletter.delivery import engine
from newsletter.config import Settings, load_settings
from newsletter.delivery.outbox import OutboxAdapter
from newsletter.delivery.engine import RateLimiter, SendReport, dry_run, send_test
from newsletter.errors import ConfigError, ContentError, LocalResourceError, NewsletterError
from newsletter.render.mime import Recipient, message_id
from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.models import Subscriber
from newsletter.store.subscribers import add_subscriber, unsubscribe
from newsletter.core.tokens import UNSUBSCRIBE, read_token
from tests.conftest import DAY, SECRET, item_text, write
from tests.sink import Sink
from tests.helpers.clock import NOW
from tests.helpers.sending import add_people, attempts_of, send, smtp_config
from tests.helpers.config import set_options


class Background:
    """A send running in a thread; :meth:`end` waits a bounded time for the run to end."""

    def __init__(self, settings: Settings, store: Store, stop: threading.Event | None = None,
                 **kwargs: object) -> None:
        self.stop = stop or threading.Event()
        self.done: list[SendReport | BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(settings, store, kwargs), daemon=True)
        self.thread.start()

    def _run(self, settings: Settings, store: Store, kwargs: dict[str, object]) -> None:
        try:
            self.done.append(send(settings, store, stop=self.stop, **kwargs))
        except BaseException as err:  # handed to the test's thread
            self.done.append(err)

    def end(self, seconds: float = 120) -> SendReport:
        """The report; fails the test (after a stop request) if the run has not ended within ``seconds``."""
        self.thread.join(seconds)
        if self.thread.is_alive():
            self.stop.set()
            self.thread.join(5)
            pytest.fail(f"the send had not ended after {seconds} s")
        if isinstance(self.done[0], BaseException):
            raise self.done[0]
        return self.done[0]


def send_bounded(settings: Settings, store: Store, seconds: float = 30, **kwargs: object) -> SendReport:
    """Send; fail if the run has not ended within ``seconds``."""
    return Background(settings, store, **kwargs).end(seconds)


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
    smtp_config(project, sink.port, timeout=3)  # what times out is the silent RCPT below, not a loaded machine
    addresses = add_people(store, 12)
    faults = sink.recorder.faults
    faults.rcpt_permanent[addresses[0]] = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    faults.rcpt_permanent[addresses[1]] = "554 5.7.1 Relay access denied"
    faults.rcpt_transient_once[addresses[2]] = "451 4.7.1 Greylisted, try again later"
    faults.mail_421_times = 1
    faults.drop_at_rcpt_times = 1
    faults.slow_rcpt_times = 1
    faults.slow_seconds = 600  # silent until the client gives up and hangs up
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


@pytest.mark.parametrize("fault", ["connection dropped before DATA", "timeout before DATA"])
def test_every_try_counts_so_max_attempts_ends_the_run(store: Store, sink: Sink, project: Path, fault: str) -> None:
    if fault == "connection dropped before DATA":
        smtp_config(project, sink.port)
        sink.recorder.faults.drop_at_rcpt_times = 1000
    elif fault == "timeout before DATA":
        smtp_config(project, sink.port, timeout=0.2)
        sink.recorder.faults.slow_rcpt_times = 1000
        sink.recorder.faults.slow_seconds = 0.5
    settings = load_settings(project)
    (address,) = add_people(store, 1)
    report = send_bounded(settings, store)
    assert report.count(ledger.DeliveryStatus.FAILED) == 1
    assert any("gave up after 3 attempts" in reason for _, reason, _ in report.failures), report.failures
    assert attempts_of(store) == {address: 3}


@pytest.mark.parametrize("mishap", ["an empty folder (a mounted volume)", "removed during the send"])
def test_the_outbox_makes_its_missing_folders(settings: Settings, store: Store, mishap: str) -> None:
    outbox = settings.root / "out" / "outbox"
    addresses = add_people(store, 5)
    removed: list[int] = []
    if mishap.startswith("an empty folder"):
        outbox.mkdir(parents=True)
        progress = None
    else:
        def progress(n: int) -> None:  # after the first message, the whole outbox disappears
            if not removed:
                removed.append(n)
                shutil.rmtree(outbox)
    report = send_bounded(settings, store, progress=progress)
    assert report.count(ledger.DeliveryStatus.SENT) == 5 and report.pending == 0
    assert len(list((outbox / "new").iterdir())) == 5 - len(removed)
    assert attempts_of(store) == {address: 1 for address in addresses}


def test_an_outbox_that_cannot_be_made_stops_the_run_with_its_path(settings: Settings, store: Store) -> None:
    outbox = settings.root / "out" / "outbox"
    outbox.parent.mkdir(parents=True)
    outbox.write_text("not a folder", encoding="utf-8")
    add_people(store, 2)
    with pytest.raises(ConfigError, match=f"cannot create the outbox Maildir {outbox}"):
        send_bounded(settings, store)
    assert ledger.counts(store, ledger.find_send(store, DAY) or 0) == {"pending": 2}


def test_a_full_outbox_disk_stops_the_send_and_uses_up_nobody_s_attempts(settings: Settings, store: Store) -> None:
    """A disk that is full is our side's failure, not the readers': the send stops naming the cause, the
    rows stay pending with no try counted, and once space is freed the next run sends them all."""
    addresses = add_people(store, 6)
    outbox = settings.root / "out" / "outbox"
    (outbox / "tmp").mkdir(parents=True)
    for address in addresses[2:]:  # from the third message on, every write meets a full disk (ENOSPC)
        name = OutboxAdapter._name(message_id(settings, DAY.isoformat(), address))
        (outbox / "tmp" / name).symlink_to("/dev/full")
    with pytest.raises(LocalResourceError, match=f"cannot write to the outbox {outbox}: No space left on device"):
        send_bounded(settings, store)
    assert ledger.counts(store, ledger.find_send(store, DAY) or 0) == {"sent": 2, "pending": 4}
    assert attempts_of(store) == {a: 1 for a in addresses[:2]} | {a: 0 for a in addresses[2:]}
    for link in (outbox / "tmp").iterdir():  # space is freed
        link.unlink()
    report = send_bounded(settings, store)
    assert report.sent_now == 4 and report.counts == {"sent": 6}


@pytest.mark.parametrize(("moment", "expected"), [
    ("while the body is sent", {"sent": 1, "pending": 2}),       # DATA has begun: the message is finished
    ("as RCPT is answered", {"pending": 3}),                     # checked before DATA: nothing begun
    ("while the server is silent before DATA", {"pending": 3}),  # cut after the grace: not sent, retried
    ("while the server is silent after the dot", {"uncertain": 1, "pending": 2}),  # cut: the server may have it
])
def test_a_stop_never_waits_for_the_smtp_timeout(store: Store, sink: Sink, project: Path,
                                                 monkeypatch: pytest.MonkeyPatch, moment: str,
                                                 expected: dict[str, int]) -> None:
    smtp_config(project, sink.port, timeout=3600, connections=1)
    monkeypatch.setattr(engine, "STOP_GRACE", 0.2)
    add_people(store, 3)
    stop, recorder = threading.Event(), sink.recorder
    if moment == "while the body is sent":  # the handover, after the body and before the dot, sees it
        monkeypatch.setattr(RateLimiter, "acquire", lambda self, n=1: stop.set())
    elif moment == "as RCPT is answered":
        recorder.faults.on_rcpt = stop.set
    else:
        recorder.faults.stall_at = "RCPT" if "before DATA" in moment else "DATA"
    running = Background(load_settings(project), store, stop=stop)
    if recorder.faults.stall_at:
        assert recorder.stalled.wait(120)
        stop.set()
    report = running.end(120)  # the server, if it stalls, still does: only the fixture's teardown releases it
    assert report.counts == expected and report.stopped == "stop requested"
    assert len(recorder.raw) == expected.get("sent", 0) + expected.get("uncertain", 0)
    if moment == "as RCPT is answered":
        assert set(attempts_of(store).values()) == {0}  # a message dropped by a stop is not a try


def test_a_421_greeting_when_the_run_starts_is_retried_without_counting_a_try(store: Store, sink: Sink,
                                                                              project: Path) -> None:
    """A relay too busy to greet (421) when the run opens its connection is tried again with the backoff,
    as the documentation promises for temporary failures; no reader's try is used by it."""
    smtp_config(project, sink.port, connections=1)
    addresses = add_people(store, 3)
    sink.recorder.faults.greet_421_times = 2  # below FAST's three tries
    report = send_bounded(load_settings(project), store)
    assert report.counts == {"sent": 3}
    assert attempts_of(store) == {address: 1 for address in addresses}


def test_a_stop_is_not_held_by_a_server_that_never_greets(store: Store, sink: Sink, project: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The server accepts the connection and stays silent; the SMTP timeout is an hour. A stop still
    ends the run after its short grace: the greeting wait is cut like the wait after the dot."""
    smtp_config(project, sink.port, timeout=3600, connections=1)
    monkeypatch.setattr(engine, "STOP_GRACE", 0.2)
    addresses = add_people(store, 3)
    sink.recorder.faults.silent_greeting = True
    stop = threading.Event()
    running = Background(load_settings(project), store, stop=stop)
    assert sink.recorder.stalled.wait(120)
    stop.set()
    report = running.end(60)  # the server still does not greet: only the fixture's teardown releases it
    assert report.counts == {"pending": 3} and report.stopped == "stop requested"
    assert attempts_of(store) == {address: 0 for address in addresses}


def test_connections_wait_on_silent_servers_side_by_side(store: Store, sink: Sink, project: Path) -> None:
    """Twenty recipients in a row whose server says nothing after the dot (each ends in doubt at the
    timeout): one claim's worth of rows. The three connections wait on them at the same time, not the
    connection that claimed them one after another while the others have nothing left to do."""
    smtp_config(project, sink.port, timeout=2)
    addresses = add_people(store, 30)
    sink.recorder.faults.silent_after_dot = set(addresses[:20])
    sink.recorder.faults.slow_seconds = 60  # or until the client hangs up
    report = send_bounded(load_settings(project), store, 300)
    assert report.count(ledger.DeliveryStatus.UNCERTAIN) >= 20 and report.complete
    assert sink.recorder.silent_peak == 3


@pytest.mark.parametrize(("adapter", "paced"), [("outbox", False), ("smtp", True)])
def test_only_a_remote_transport_is_paced(store: Store, sink: Sink, project: Path, monkeypatch: pytest.MonkeyPatch,
                                          adapter: str, paced: bool) -> None:
    if adapter == "smtp":
        smtp_config(project, sink.port)
    taken: list[int] = []
    monkeypatch.setattr(RateLimiter, "acquire", lambda self, n=1: taken.append(n))
    add_people(store, 3)
    assert send(load_settings(project), store).sent_now == 3
    assert sum(taken) == (3 if paced else 0)


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


def test_a_rerun_of_an_issue_served_renders_nothing_and_connects_nowhere(settings: Settings, store: Store,
                                                                         project: Path) -> None:
    """Nothing left to hand over: the run only reports, whatever the issue's files and the transport say now."""
    add_people(store, 3)
    assert send(settings, store).sent_now == 3
    write(project / "issues" / DAY.isoformat() / "02-mobile.md", item_text(source=""))  # fails the check now

    def no_transport() -> OutboxAdapter:
        raise AssertionError("a run with nothing to send opened a connection")

    again = send(settings, store, adapter_factory=no_transport)
    assert again.complete and again.sent_now == 0 and again.counts == {"sent": 3}
    add_subscriber(store, "tardif@example.org", now=NOW)  # someone to serve: the issue is checked again
    with pytest.raises(ContentError):
        send(settings, store, adapter_factory=no_transport)


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


def received_messages(settings: Settings, sink: Sink) -> list[email.message.EmailMessage]:
    """Every message the transport took: the outbox's files, or what the SMTP server got."""
    if settings.delivery.adapter == "smtp":
        return list(sink.recorder.messages)
    new = settings.root / "out" / "outbox" / "new"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(new.iterdir())]


@pytest.mark.parametrize("adapter", ["outbox", "smtp"])
def test_a_test_copy_never_passes_for_the_real_message(store: Store, sink: Sink, project: Path,
                                                       adapter: str) -> None:
    if adapter == "smtp":
        smtp_config(project, sink.port)
    settings = load_settings(project)
    add_subscriber(store, "redaction@example.org", now=NOW, first_name="Camille")
    for _ in range(2):  # proofread twice, then send for real
        results = send_test(settings, DAY, [Recipient("redaction@example.org")], secret_key=SECRET)
        assert all(r.ok for r in results)
    report = send(settings, store)
    assert report.sent_now == 1
    messages = received_messages(settings, sink)
    tests = [m for m in messages if str(m["Subject"]).startswith("[TEST] ")]
    real = [m for m in messages if not str(m["Subject"]).startswith("[TEST] ")]
    assert len(tests) == 2 and len(real) == 1, "the real issue did not reach the editor who proofread it"
    assert real[0]["Message-ID"] == message_id(settings, DAY.isoformat(), "redaction@example.org")
    ids = [str(m["Message-ID"]) for m in messages]
    assert len(set(ids)) == 3


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
    set_options(project, "delivery.smtp", host=host)
    with pytest.raises(ConfigError, match="allowed only to a loopback address"):
        send(load_settings(project), store)


def test_parsed_message_round_trip(settings: Settings, store: Store) -> None:
    add_people(store, 1)
    send(settings, store)
    raw = next(iter((settings.root / "out" / "outbox" / "new").iterdir())).read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_a_recipient_whose_message_cannot_be_built_fails_alone(settings: Settings, store: Store) -> None:
    addresses = add_people(store, 3)
    with store.session() as session:  # a row written before addresses were checked: its domain has no IDNA form
        session.execute(update(Subscriber).where(Subscriber.email == addresses[1]).values(email="eve@exämple..org"))
    report = send(settings, store)
    assert report.sent_now == 2 and report.failed_now == 1 and report.pending == 0
    [(status, reason, _)] = report.failures
    assert status == "failed" and "cannot be built" in reason and "has no IDNA" in reason


class LeakyOutbox(OutboxAdapter):
    """A transport that fails with an exception carrying the whole message, as an encoder's error does."""

    def send(self, batch, handover):  # type: ignore[no-untyped-def]
        raise UnicodeEncodeError("ascii", batch[0].mime.data.decode(), 0, 1, "ordinal not in range(128)")


def test_an_unexpected_error_never_prints_the_message_or_its_unsubscribe_url(settings: Settings,
                                                                             store: Store) -> None:
    add_people(store, 1)
    with pytest.raises(NewsletterError, match="stopped on an unexpected error: UnicodeEncodeError") as caught:
        send(settings, store, adapter_factory=lambda: LeakyOutbox(settings))
    text = str(caught.value)
    assert settings.newsletter.base_url not in text and "List-Unsubscribe" not in text and len(text) < 300


def test_rows_a_stop_gives_back_say_why(settings: Settings, store: Store) -> None:
    from newsletter.delivery.engine import STOPPED_BEFORE_HANDOVER

    add_people(store, 8)
    stop = threading.Event()
    report = send(settings, store, stop=stop, progress=lambda n: stop.set())  # stop once the first is sent
    assert report.stopped == "stop requested" and report.sent_now == 1 and report.pending == 7
    assert report.failures == [("pending", STOPPED_BEFORE_HANDOVER, 7)]
    assert send(settings, store).counts == {"sent": 8}


def test_a_run_whose_lease_runs_out_hands_nothing_more_over(project: Path, store: Store) -> None:
    """Frozen or cut off from the store past its lease, a run may have lost its rows: it stops handing over."""
    set_options(project, "delivery", lease_seconds=60)
    add_people(store, 6)
    clock = [NOW]

    def first_message_then_a_long_freeze(n: int) -> None:
        clock[0] = NOW + timedelta(seconds=55)  # past 5/6 of the lease, never renewed meanwhile

    report = send(load_settings(project), store, clock=lambda: clock[0], progress=first_message_then_a_long_freeze)
    assert report.sent_now == 1 and report.pending == 5 and "lease could not be renewed" in report.stopped
    assert send(load_settings(project), store).counts == {"sent": 6}
