"""Outgoing webhooks (``[[hooks]]``): the events written in the transaction of their cause, posted to a
real HTTP receiver on 127.0.0.1 and verified there by the ``standardwebhooks`` package, retried with
the same id after a failure, given up after a day, and never in the way of a send."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
import time_machine
from standardwebhooks.webhooks import Webhook

from newsletter import Newsletter
from newsletter.config import SourcingSettings, load_settings
from newsletter.errors import ConfigError
from newsletter.library.hooks import Hooks
from newsletter.store import outbox
from tests.conftest import DAY, SECRET

WHEN = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
HOOK_SECRET = "whsec_" + base64.b64encode(b"a test key of thirty-two bytes!!").decode()
ALL_EVENTS = ["issue.approved", "send.started", "send.finished", "send.paused", "subscriber.created",
              "subscriber.unsubscribed", "subscriber.bounced", "subscriber.complained"]


class Receiver:
    """A webhook receiver on 127.0.0.1: records each request; answers with the statuses queued (then 204)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers = received.answers.pop(0) if received.answers else (204, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def verified(self, at: datetime) -> list[dict[str, Any]]:
        """Every body received, each signature checked by standardwebhooks as at the time of the attempt."""
        with time_machine.travel(at, tick=False):  # the verifier compares the timestamp with its own clock
            return [Webhook(HOOK_SECRET).verify(body, headers) for _, headers, body in self.requests]


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (a receiver that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_hooks(project: Path, url: str, events: list[str] = ALL_EVENTS, secret_env: str = "NEWSLETTER_HOOK_SECRET") -> None:
    config = project / "newsletter.toml"
    table = f'\n[[hooks]]\nurl = "{url}"\nevents = {json.dumps(events)}\nsecret_env = "{secret_env}"\n'
    config.write_text(config.read_text(encoding="utf-8") + table, encoding="utf-8")


@pytest.fixture
def clock() -> list[datetime]:
    return [WHEN]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def opened(project: Path, clock: list[datetime]) -> Newsletter:
    return Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_HOOK_SECRET": HOOK_SECRET},
                           clock=lambda: clock[0])


@pytest.fixture
def hooked(project: Path, receiver: Receiver, clock: list[datetime]) -> Iterator[Newsletter]:
    add_hooks(project, receiver.url)
    with opened(project, clock) as nl:
        yield nl


def types(nl: Newsletter) -> list[str]:
    return [event.type for event in reversed(nl.hooks.events())]


def test_a_send_writes_its_events_and_the_receiver_verifies_their_signatures(hooked: Newsletter,
                                                                            receiver: Receiver) -> None:
    hooked.subscribers.add("lea@example.org")
    hooked.approve(DAY, by="Camille Martin")
    assert hooked.send(DAY).complete
    assert types(hooked) == ["subscriber.created", "issue.approved", "send.started", "send.finished"]
    assert receiver.requests == []  # the send only wrote rows: nothing was posted on its way

    assert hooked.hooks.deliver_due() == 4
    bodies = receiver.verified(WHEN)
    assert [b["type"] for b in bodies] == ["subscriber.created", "issue.approved", "send.started", "send.finished"]
    assert bodies[0]["data"]["email"] == "lea@example.org"
    assert bodies[1]["data"]["by"] == "Camille Martin" and bodies[3]["data"]["counts"] == {"sent": 1}
    assert {b["data"]["issue"] for b in bodies[1:]} == {DAY.isoformat()}
    ids = [headers["webhook-id"] for _, headers, _ in receiver.requests]
    assert len(set(ids)) == 4 and all(i.startswith("msg_") for i in ids)
    assert receiver.requests[0][1]["webhook-timestamp"] == str(int(WHEN.timestamp()))
    assert receiver.requests[0][1]["content-type"] == "application/json"
    assert {e.state for e in hooked.hooks.events()} == {"delivered"}
    assert hooked.hooks.deliver_due() == 0  # each event once


def test_a_signature_with_another_secret_is_refused_by_the_verifier(hooked: Newsletter, receiver: Receiver) -> None:
    hooked.subscribers.add("lea@example.org")
    hooked.hooks.deliver_due()
    _, headers, body = receiver.requests[0]
    other = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
    with time_machine.travel(WHEN, tick=False), pytest.raises(Exception, match="signature"):
        Webhook(other).verify(body, headers)
    with time_machine.travel(WHEN, tick=False), pytest.raises(Exception, match="signature"):
        Webhook(HOOK_SECRET).verify(body.replace(b"lea", b"leo"), headers)


def test_subscriber_changes_are_events(hooked: Newsletter) -> None:
    hooked.subscribers.add("lea@example.org")
    hooked.subscribers.add("lea@example.org")  # already active: nothing new
    hooked.subscribers.remove("lea@example.org")
    hooked.subscribers.remove("lea@example.org")  # already left: nothing new
    assert types(hooked) == ["subscriber.created", "subscriber.unsubscribed"]


def test_a_failed_attempt_is_retried_later_with_the_same_id(hooked: Newsletter, receiver: Receiver,
                                                            clock: list[datetime]) -> None:
    receiver.answers = [(503, {})]
    hooked.subscribers.add("lea@example.org")
    assert hooked.hooks.deliver_due() == 1
    (event,) = hooked.hooks.events()
    assert event.state == "pending" and event.attempts == 1 and "answered 503" in event.last_error
    assert event.next_attempt_at == WHEN + timedelta(seconds=5)
    assert hooked.hooks.deliver_due() == 0  # not before its time
    clock[0] = WHEN + timedelta(seconds=6)
    assert hooked.hooks.deliver_due() == 1
    (event,) = hooked.hooks.events()
    assert event.state == "delivered" and event.attempts == 2
    first, second = (headers["webhook-id"] for _, headers, _ in receiver.requests)
    assert first == second == event.event_id  # the receiver can drop a repeat
    assert receiver.verified(clock[0])[1]["type"] == "subscriber.created"


def test_a_receiver_that_is_down_never_stops_a_send_and_is_given_up_after_a_day(
        project: Path, clock: list[datetime], cli: Callable[..., tuple[int, str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    add_hooks(project, f"http://127.0.0.1:{free_port()}/hook", ["send.started", "send.finished"])
    with opened(project, clock) as nl:
        nl.subscribers.add("lea@example.org")
        nl.approve(DAY, by="Camille Martin")
        report = nl.send(DAY)
        assert report.complete and report.counts == {"sent": 1}
        nl.hooks.deliver_due()
        events = nl.hooks.events()
        assert [e.state for e in events] == ["pending", "pending"]
        assert all("does not answer" in e.last_error for e in events)
        while (due := [e.next_attempt_at for e in nl.hooks.events() if e.state == "pending"]):
            clock[0] = max(d for d in due if d is not None)
            assert nl.hooks.deliver_due() == 2
        events = nl.hooks.events()
        assert {e.state for e in events} == {"failed"} and clock[0] == WHEN + timedelta(days=1)
        assert all(e.attempts == 8 for e in events)  # at once, after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, at the end

    monkeypatch.setenv("NEWSLETTER_HOOK_SECRET", HOOK_SECRET)
    code, out, _ = cli("hooks", "list", "--state", "failed", clock=lambda: clock[0])
    assert code == 0 and out.count("given up") == 2 and "send.finished" in out and "does not answer" in out
    code, out, _ = cli("hooks", "retry", events[0].event_id, clock=lambda: clock[0])
    assert code == 0 and out.startswith("1 event to be posted again")
    code, out, _ = cli("hooks", "list", "--state", "pending", clock=lambda: clock[0])
    assert events[0].event_id in out and "attempts 0" in out
    code, _, err = cli("hooks", "retry", "msg_nothing", clock=lambda: clock[0])
    assert code != 0 and "no given-up event msg_nothing" in err


def test_a_redirect_to_a_private_address_is_refused(hooked: Newsletter, receiver: Receiver) -> None:
    receiver.answers = [(307, {"Location": "http://10.1.2.3/internal"})]
    hooked.subscribers.add("lea@example.org")
    hooked.hooks.deliver_due()
    (event,) = hooked.hooks.events()
    assert event.state == "pending" and "10.1.2.3" in event.last_error and "private" in event.last_error
    assert len(receiver.requests) == 1


def test_a_redirect_that_keeps_the_body_is_followed_where_private_networks_are_allowed(
        hooked: Newsletter, receiver: Receiver) -> None:
    receiver.answers = [(308, {"Location": "/moved"}), (308, {"Location": "/moved"})]
    hooked.subscribers.add("lea@example.org")
    hooked.hooks.deliver_due()
    assert [path for path, _, _ in receiver.requests] == ["/hook"]  # 127.0.0.1 is private: not followed
    hooks = Hooks(replace(hooked.settings, sourcing=SourcingSettings(allow_private_networks=True)),
                  lambda: hooked.store, lambda: WHEN + timedelta(minutes=1), hooked.environ)
    assert hooks.deliver_due() == 1
    assert [path for path, _, _ in receiver.requests] == ["/hook", "/hook", "/moved"]
    assert receiver.requests[2][2] == receiver.requests[0][2] and hooked.hooks.events()[0].state == "delivered"


def test_a_missing_secret_is_written_on_the_event_and_nothing_is_posted(project: Path, receiver: Receiver,
                                                                       clock: list[datetime]) -> None:
    add_hooks(project, receiver.url, ["subscriber.created"], secret_env="NO_SUCH_SECRET")
    with opened(project, clock) as nl:
        nl.subscribers.add("lea@example.org")
        nl.hooks.deliver_due()
        (event,) = nl.hooks.events()
    assert "NO_SUCH_SECRET is not set" in event.last_error and receiver.requests == []


def test_without_hooks_nothing_is_written(project: Path, clock: list[datetime]) -> None:
    with opened(project, clock) as nl:
        nl.subscribers.add("lea@example.org")
        assert nl.hooks.events() == [] and nl.hooks.deliver_due() == 0


def test_an_event_is_rolled_back_with_its_cause(hooked: Newsletter) -> None:
    store = hooked.store
    with pytest.raises(RuntimeError), store.session() as session:
        outbox.add_event(session, store.hooks, "subscriber.created", {"email": "x@example.org"}, WHEN)
        raise RuntimeError("the change failed")
    assert hooked.hooks.events() == []


def test_the_worker_thread_posts_in_the_background(hooked: Newsletter, receiver: Receiver) -> None:
    hooked.subscribers.add("lea@example.org")
    stop = threading.Event()
    thread = hooked.hooks.start(stop, poll=0.05)
    assert thread is not None
    try:
        for _ in range(200):
            if hooked.hooks.events()[0].state == "delivered":
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert hooked.hooks.events()[0].state == "delivered" and not thread.is_alive()


@pytest.mark.parametrize("table, message", [
    ('url = "http://hooks.example.org/x"\nevents = ["send.finished"]\nsecret_env = "S"',
     "must use https://"),
    ('url = "ftp://hooks.example.org/x"\nevents = ["send.finished"]\nsecret_env = "S"',
     "must be a complete https:// address"),
    ('url = "https://hooks.example.org/x"\nevents = ["send.finish"]\nsecret_env = "S"',
     "unknown event 'send.finish'; did you mean 'send.finished'?"),
    ('url = "https://hooks.example.org/x"\nevents = []\nsecret_env = "S"', "events must be a list of event names"),
    ('url = "https://hooks.example.org/x"\nevents = ["send.finished"]', "secret_env is required"),
    ('url = "https://hooks.example.org/x"\nevents = ["send.finished"]\nsecret_env = "whsec_abc"',
     "must be the NAME of an environment variable"),
    ('url = "https://hooks.example.org/x"\nevents = ["send.finished"]\nsecret_env = "S"\nsecret = "x"',
     "[hooks #1] has an unknown key 'secret'"),
    ('url = "https://u:p@hooks.example.org/x"\nevents = ["send.finished"]\nsecret_env = "S"',
     "must not hold a user name or password"),
])
def test_a_wrong_hooks_table_is_refused_naming_the_key(project: Path, table: str, message: str) -> None:
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"\n[[hooks]]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(project)
    assert message in str(raised.value) and "newsletter.toml" in str(raised.value)


def test_hooks_as_a_plain_table_and_a_repeated_url_are_refused(project: Path) -> None:
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text + '\n[hooks]\nurl = "https://a.example.org/"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[\[hooks\]\] tables \(two brackets\)"):
        load_settings(project)
    hook = '\n[[hooks]]\nurl = "https://a.example.org/"\nevents = ["send.paused"]\nsecret_env = "S"\n'
    config.write_text(text + hook + hook, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[hooks #2\] url https://a.example.org/ is already"):
        load_settings(project)


def test_a_loopback_receiver_may_use_plain_http(project: Path) -> None:
    add_hooks(project, "http://localhost:9000/hook", ["send.paused", "send.paused"])
    (hook,) = load_settings(project).hooks
    assert hook.url == "http://localhost:9000/hook" and hook.events == ("send.paused",)
    assert load_settings(project).hook_routes == {"send.paused": ("http://localhost:9000/hook",)}


def test_a_complaint_a_bounce_and_a_pause_are_events(hooked: Newsletter, receiver: Receiver) -> None:
    from newsletter.store import pauses
    from newsletter.store.feedback import Feedback, FeedbackKind, record_feedback

    for address in ("lea@example.org", "paul@example.org"):
        hooked.subscribers.add(address)
    store = hooked.store
    for kind, address in ((FeedbackKind.COMPLAINT, "lea@example.org"), (FeedbackKind.HARD_BOUNCE, "paul@example.org")):
        record_feedback(store, Feedback(kind, "mailgun", f"evt-{address}", WHEN, email=address, issue=DAY), now=WHEN)
    record_feedback(store, Feedback(FeedbackKind.COMPLAINT, "mailgun", "evt-again", WHEN, email="lea@example.org"),
                    now=WHEN)  # no change of status: no event
    send_id = hooked_send_id(hooked)
    pauses.record_pause(store, send_id, reason="bounce rate 9%", bounces=9, messages=100, now=WHEN)
    pauses.resume(store, send_id, WHEN)
    assert types(hooked)[2:] == ["subscriber.complained", "subscriber.bounced", "send.started", "send.paused",
                                 "send.started"]
    hooked.hooks.deliver_due()
    bodies = receiver.verified(WHEN)
    assert bodies[2]["data"] == {"email": "lea@example.org", "source": "mailgun", "issue": DAY.isoformat()}
    assert bodies[5]["data"] == {"issue": DAY.isoformat(), "reason": "bounce rate 9%", "bounces": 9, "messages": 100}
    assert bodies[6]["data"] == {"issue": DAY.isoformat(), "resumed": True}


def hooked_send_id(nl: Newsletter) -> int:
    from newsletter.store import ledger

    return ledger.get_or_create_send(nl.store, DAY, "Le sujet", WHEN)


def test_serve_posts_the_events_of_its_api_in_the_background(project: Path, receiver: Receiver,
                                                              clock: list[datetime]) -> None:
    add_hooks(project, receiver.url, ["subscriber.created"])
    with opened(project, clock) as nl:
        _, key = nl.api_keys.add("cms", ("subscribers:write",))
    port = free_port()
    env = dict(os.environ, NEWSLETTER_SECRET_KEY=SECRET, NEWSLETTER_HOOK_SECRET=HOOK_SECRET)
    process = subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "serve", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().startswith("Serving on")
        made = requests.post(f"http://127.0.0.1:{port}/api/v1/subscribers", json={"email": "lea@example.org"},
                             headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert made.status_code == 201
        for _ in range(600):  # the worker polls every 2 s; bounded at 60 s
            if receiver.requests:
                break
            threading.Event().wait(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    (_, headers, body), = receiver.requests
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), timezone.utc)
    with time_machine.travel(sent_at, tick=False):  # serve's own clock, which --clock-shift does not move
        payload = Webhook(HOOK_SECRET).verify(body, headers)
    assert payload["type"] == "subscriber.created" and payload["data"]["email"] == "lea@example.org"


def test_on_postgresql_the_events_go_with_their_cause_and_out_once(project: Path, receiver: Receiver,
                                                                   clock: list[datetime], server_url: str) -> None:
    from sqlalchemy import text

    from newsletter.store.database import open_store
    from tests.helpers.config import set_options

    shared = open_store(server_url, Path("."))
    with shared.engine.begin() as conn:  # the server is shared with other tests: their rows go
        conn.execute(text("TRUNCATE hook_outbox, feedback_events, send_pauses, deliveries, sends, subscribers, leases "
                          "RESTART IDENTITY CASCADE"))
    shared.close()
    set_options(project, "store", url=server_url)
    add_hooks(project, receiver.url)
    with opened(project, clock) as nl:
        nl.subscribers.add("lea@example.org")
        nl.approve(DAY, by="Camille Martin")
        assert nl.send(DAY).complete
        assert types(nl) == ["subscriber.created", "issue.approved", "send.started", "send.finished"]
        assert nl.hooks.deliver_due() == 4 and nl.hooks.deliver_due() == 0
    assert [b["type"] for b in receiver.verified(WHEN)] == ["subscriber.created", "issue.approved", "send.started",
                                                            "send.finished"]


def test_a_receiver_that_never_answers_is_a_timeout(clock: list[datetime]) -> None:
    from newsletter.services.hooks import deliver, secret_bytes

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        error = deliver(url, secret_bytes(HOOK_SECRET, "S"), "msg_1", b"{}", WHEN, timeout=0.2)
    assert error == f"{url}: no answer within 0.2 s (timeout)"


def test_hooks_list_creates_no_database(project: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    add_hooks(project, "https://chat.example.org/hook", ["send.finished"])
    code, out, _ = cli("hooks", "list")
    assert code == 0 and out.strip() == "No event yet." and not (project / "state" / "newsletter.db").exists()
    code, out, _ = cli("hooks", "retry")
    assert code != 0
