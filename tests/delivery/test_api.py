"""The mail-API adapters against strict fakes of Mailgun, SendGrid, Postmark and Brevo on 127.0.0.1."""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from newsletter.frontends.cli import main
from newsletter.config import load_settings
from newsletter.delivery.api import ApiAdapter, Call, parse_retry_after
from newsletter.delivery.base import REGISTRY, RequestRefused, adapter_class
from newsletter.delivery.engine import Policy, RateLimiter, make_adapter, send_issue
from newsletter.errors import (ANSWER_LIMIT, ConfigError, DeliveryError, NoAnswer, NotSent, PermanentDeliveryError,
                               TransientDeliveryError, UnrecognisedAnswer)
from newsletter.store import ledger
from newsletter.store.database import Store, open_store
from newsletter.store.models import Delivery, DeliveryStatus
from newsletter.store.subscribers import import_rows
from newsletter.audience.csv_reader import CandidateRow
from newsletter.core.tokens import UNSUBSCRIBE, read_token
from tests.conftest import DAY, SECRET
from tests.fakes import FAKES, KEY, LIMITS, Fault, FakeProvider, api_config, environment
from tests.helpers.mail_api import configure, send
from tests.helpers.config import merge_options, set_options

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
FAST = Policy(max_attempts=3, backoff_seconds=0.05)

#: A whole-request refusal in each provider's own words and shape.
REFUSALS: dict[str, tuple[int, Any, str]] = {
    "mailgun": (400, {"message": "from parameter is not a valid address. please check documentation"},
                "from parameter is not a valid address"),
    "sendgrid": (403, {"errors": [{"message": "The from address does not match a verified Sender Identity.",
                                   "field": "from", "help": None}]}, "does not match a verified Sender Identity"),
    "postmark": (422, {"ErrorCode": 400, "Message": "The 'From' address you supplied is not a Sender Signature."},
                 "is not a Sender Signature"),
    "brevo": (400, {"code": "invalid_parameter", "message": "sender is invalid / inactive"},
              "sender is invalid / inactive"),
}


@pytest.fixture(params=sorted(FAKES))
def fake(request: pytest.FixtureRequest) -> Iterator[FakeProvider]:
    with FAKES[request.param]() as running:
        yield running


def add_people(store: Store, n: int) -> list[str]:
    rows = [CandidateRow(i + 2, f"lecteur{i:05d}@example.org", f"Prénom{i}", "Nom", None, "test") for i in range(n)]
    import_rows(store, rows, now=NOW)
    return [row.email for row in rows]


def ledger_rows(store: Store) -> list[Delivery]:
    with store.session() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_every_subscriber_gets_exactly_one_message_with_their_own_fields(project: Path, store: Store,
                                                                         fake: FakeProvider) -> None:
    settings = configure(project, fake)
    addresses = add_people(store, 2500)
    report = send(settings, store, fake)
    assert report.count(DeliveryStatus.SENT) == 2500
    assert fake.accepted_calls == math.ceil(2500 / LIMITS[fake.name])
    received = fake.by_recipient()
    assert sorted(received) == addresses and all(len(m) == 1 for m in received.values())
    for address, (message,) in received.items():
        number = int(address[7:12])
        assert f"Bonjour Prénom{number}," in message.html and f"Bonjour Prénom{number}," in message.text
        assert message.name == f"Prénom{number} Nom"
        assert message.subject == "Le consommateur français résiste au numérique"
        url = message.headers["List-Unsubscribe"].split("<")[1].split(">")[0]
        assert read_token(SECRET, UNSUBSCRIBE, url.rsplit("/", 1)[1]) == address
        assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f'href="{url}"' in message.html and url in message.text
        for leftover in ("NLMRG", "%recipient", "{{", "params."):
            assert leftover not in message.html + message.text
    assert all(row.provider_id for row in ledger_rows(store))
    again = send(settings, store, fake)
    assert again.sent_now == 0 and len(fake.inbox) == 2500


def test_a_wrong_key_stops_the_run_sends_nothing_and_never_shows_the_key(
        project: Path, store: Store, fake: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    settings = configure(project, fake)
    add_people(store, 30)
    wrong = {name: "wrong-" + KEY for name in environment(fake.name)}
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RequestRefused) as refused:
        send(settings, store, fake, wrong)
    assert f"{fake.name} answered 401" in str(refused.value) and "environment variable" in refused.value.hint
    assert KEY not in str(refused.value) + refused.value.hint + caplog.text
    assert fake.inbox == []
    rows = ledger_rows(store)
    assert {row.status for row in rows} == {"pending"} and {row.attempts for row in rows} == {0}


def test_a_refused_request_is_reported_once_with_the_providers_words_and_nobody_is_failed(
        project: Path, store: Store, fake: FakeProvider) -> None:
    settings = configure(project, fake)
    add_people(store, 30)
    status, body, words = REFUSALS[fake.name]
    fake.script.append(Fault(status, body))
    with pytest.raises(RequestRefused, match=words) as refused:
        send(settings, store, fake)
    # Told apart by its type and what it carries, like any delivery error: not a configuration error.
    assert isinstance(refused.value, PermanentDeliveryError) and not isinstance(refused.value, ConfigError)
    assert (refused.value.provider, refused.value.status) == (fake.name, status)
    assert words in refused.value.answer and len(refused.value.answer) <= ANSWER_LIMIT
    assert {row.status for row in ledger_rows(store)} == {"pending"}
    # Once the operator fixes the cause, the next run sends everybody.
    assert send(settings, store, fake).count(DeliveryStatus.SENT) == 30 and len(fake.inbox) == 30


def test_a_refused_request_stops_the_other_connections_before_its_recipients_go_back_to_the_queue(
        project: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine under load once let a second connection start late, claim the rows the refused call had
    just given back, and send them in the same run. Here the second connection starts at exactly that
    moment: as the first gives the refused call's rows back. It must find the run stopped."""
    given_back, second_done = threading.Event(), threading.Event()
    real_release = ledger.release

    def release(*args: Any, **kwargs: Any) -> None:
        real_release(*args, **kwargs)
        if kwargs.get("sending_too") and not given_back.is_set():  # the refused call's rows, once
            given_back.set()
            assert second_done.wait(60), "the second connection never ended"

    monkeypatch.setattr(ledger, "release", release)
    with FAKES["sendgrid"]() as fake:
        settings = configure(project, fake, connections=2)
        add_people(store, 30)
        status, body, words = REFUSALS["sendgrid"]
        fake.script.append(Fault(status, body))
        made: list[ApiAdapter] = []

        def factory() -> ApiAdapter:
            adapter = make_adapter(settings, environment("sendgrid"))
            assert isinstance(adapter, ApiAdapter)
            made.append(adapter)
            if len(made) == 2:  # the second connection opens only once the first has had its refusal
                opening, closing = adapter.open, adapter.close

                def open_late() -> None:
                    assert given_back.wait(60), "the refused call's rows were never given back"
                    opening()

                def close() -> None:
                    closing()
                    second_done.set()

                adapter.open, adapter.close = open_late, close  # type: ignore[method-assign]
            return adapter

        with pytest.raises(RequestRefused, match=words):
            send_issue(settings, store, DAY, secret_key=SECRET, policy=FAST, adapter_factory=factory)
    assert fake.inbox == [] and fake.calls == 1
    assert {row.status for row in ledger_rows(store)} == {"pending"}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried_and_nobody_gets_two(project: Path, store: Store,
                                                                       fake: FakeProvider, status: int) -> None:
    settings = configure(project, fake)
    add_people(store, 40)
    wait = {"Retry-After": "1"} if fake.name != "brevo" else {"x-sib-ratelimit-reset": "1"}
    fake.script.append(Fault(status, {"message": "slow down"}, wait if status == 429 else {}))
    report = send(settings, store, fake)
    assert report.count(DeliveryStatus.SENT) == 40
    assert sorted(fake.by_recipient()) == sorted(r.email for r in ledger_rows(store))
    assert len(fake.inbox) == 40 and fake.calls == 2


def _garbled_header_falls_back(project: Path, store: Store, fake: FakeProvider, header: str, value: str) -> None:
    settings = configure(project, fake)
    add_people(store, 10)
    fake.script.append(Fault(503, {"message": "slow down"}, {header: value}))
    report = send(settings, store, fake)
    assert report.count(DeliveryStatus.SENT) == 10 and len(fake.inbox) == 10 and fake.calls == 2


@pytest.mark.parametrize("value", ["\u00b2", "-1", "later"], ids=["superscript digit", "negative", "words"])
def test_a_garbled_rate_limit_header_falls_back_to_the_backoff(project: Path, store: Store, fake: FakeProvider,
                                                                value: str) -> None:
    # What a provider (or a proxy in front of it) writes in these headers is not ours to trust:
    # a value that is no number of seconds must not end the run with a traceback.
    header = {"brevo": "x-sib-ratelimit-reset", "sendgrid": "X-RateLimit-Reset"}.get(fake.name, "Retry-After")
    _garbled_header_falls_back(project, store, fake, header, value)


def test_a_sendgrid_reset_time_too_large_for_a_date_falls_back_to_the_backoff(project: Path, store: Store) -> None:
    """SendGrid's reset is a Unix time (elsewhere a long Retry-After is a wait, honoured up to MAX_WAIT)."""
    with FAKES["sendgrid"]() as fake:
        _garbled_header_falls_back(project, store, fake, "X-RateLimit-Reset", "9" * 400)


def test_a_call_left_unanswered_is_never_sent_twice(project: Path, store: Store, fake: FakeProvider) -> None:
    settings = configure(project, fake, timeout=3)  # the repeat (brevo) must be answered within it, even under load
    add_people(store, 20)
    fake.script.append(Fault(delay=600))  # accepted and delivered; the answer is held until the fake stops
    report = send(settings, store, fake)
    assert len(fake.inbox) == 20 and all(len(m) == 1 for m in fake.by_recipient().values())
    if fake.name == "brevo":  # the same idempotency key: the repeat is recognised, the ids come back
        assert report.count(DeliveryStatus.SENT) == 20 and fake.calls == 2
    elif fake.name == "sendgrid":  # no idempotency key, no lookup (a paid add-on): uncertain, never resent
        assert report.count(DeliveryStatus.UNCERTAIN) == 20 and fake.lookups == 0
        assert "may have been accepted" in ledger_rows(store)[0].last_error
    else:  # no idempotency key: looked up in the provider's records, and found there
        assert report.count(DeliveryStatus.SENT) == 20 and fake.lookups >= 1
        assert all(row.provider_id for row in ledger_rows(store))
    assert send(settings, store, fake).sent_now == 0 and len(fake.inbox) == 20


def test_postmark_records_a_batch_accepted_in_part(project: Path, store: Store) -> None:
    with FAKES["postmark"]() as fake:
        settings = configure(project, fake)
        addresses = add_people(store, 12)
        fake.inactive.update(addresses[3:5])  # type: ignore[attr-defined]
        report = send(settings, store, fake)
    assert report.count(DeliveryStatus.SENT) == 10 and report.count(DeliveryStatus.FAILED) == 2
    failed = [row for row in ledger_rows(store) if row.status == "failed"]
    assert [row.email for row in failed] == addresses[3:5]
    assert "ErrorCode 406" in failed[0].last_error and "inactive" in failed[0].last_error


def test_a_provider_that_is_down_leaves_everyone_pending_with_the_reason(project: Path, store: Store) -> None:
    with FAKES["sendgrid"]() as fake:
        settings = configure(project, fake)
    add_people(store, 5)  # the fake has stopped: connections are refused
    report = send(settings, store, fake, policy=Policy(max_attempts=1, backoff_seconds=0))
    rows = ledger_rows(store)
    assert report.sent_now == 0 and {row.status for row in rows} == {"failed"}
    assert "cannot reach sendgrid" in rows[0].last_error


@pytest.mark.parametrize(("adapter", "table", "message"), [
    ("mailgun", {"domain": "mg.example.org", "regoin": "eu"}, "unknown key 'regoin'; did you mean 'region'"),
    ("mailgun", {}, "[delivery.mailgun] domain is required"),
    ("mailgun", {"domain": "mg.example.org/../x"}, "domain must be a domain name"),
    ("sendgrid", {"region": "asia"}, 'region must be "global" or "eu"'),
    ("postmark", {"base_url": "http://api.example.org"}, "would send the API key in clear text"),
    ("brevo", {"base_url": "ftp://x"}, "base_url must be an https URL"),
    ("brevo", {"timeout": 0}, "timeout must be a positive number"),
    ("brevo", {"api_key_env": "MY_BREVO_KEY"}, "MY_BREVO_KEY is not set"),
])
def test_wrong_adapter_settings_name_the_key(project: Path, adapter: str, table: dict[str, object],
                                             message: str) -> None:
    set_options(project, "delivery", adapter=adapter)
    set_options(project, f"delivery.{adapter}", **table)
    with pytest.raises(ConfigError) as error:
        make_adapter(load_settings(project), environment(adapter))
    assert message in str(error.value)


def test_a_third_party_adapter_is_found_through_its_entry_point(project: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "echo_adapter-1.0.dist-info").mkdir(parents=True)
    (site / "echo_adapter-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-adapter\n"
                                                                  "Version: 1.0\n", encoding="utf-8")
    (site / "echo_adapter-1.0.dist-info" / "entry_points.txt").write_text(
        "[newsletter.adapters]\necho = echo_adapter:EchoAdapter\n", encoding="utf-8")
    (site / "echo_adapter.py").write_text(textwrap.dedent('''
        from newsletter.delivery.base import Adapter, Sent

        class EchoAdapter(Adapter):
            name = "echo"
            wants_mime = False
            known_options = ("greeting",)
            sent = []

            def send(self, batch, handover):
                handover(batch)
                EchoAdapter.sent.extend(item.personal.email for item in batch)
                yield [Sent(item.key, provider_id="echo") for item in batch]
    '''), encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(REGISTRY, "echo", raising=False)
    set_options(project, "delivery", adapter="echo")
    set_options(project, "delivery.echo", greeting="bonjour")
    settings = load_settings(project)
    cls = adapter_class("echo")
    store = open_store("sqlite:///state/newsletter.db", project)
    try:
        add_people(store, 3)
        report = send_issue(settings, store, DAY, secret_key=SECRET)
    finally:
        store.close()
        REGISTRY.pop("echo", None)
        sys.modules.pop("echo_adapter", None)
    assert report.count(DeliveryStatus.SENT) == 3 and len(cls.sent) == 3  # type: ignore[attr-defined]


def test_an_unknown_adapter_lists_the_known_ones(project: Path) -> None:
    with pytest.raises(ConfigError, match="known: brevo, mailgun, outbox, postmark, sendgrid, smtp"):
        adapter_class("mailchimp")


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), ("Tue, 24 Nov 2026 07:00:30 GMT", 30.0), ("", None),
                                                ("soon", None)])
def test_retry_after_is_read_as_seconds_or_a_date(value: str, seconds: float | None) -> None:
    now = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after(value, now) == seconds


def test_the_rate_limit_spreads_a_large_batch_over_time() -> None:
    clock = [0.0]
    limiter = RateLimiter(10, monotonic=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    limiter.acquire(1000)  # a whole API batch goes at once, into debt…
    limiter.acquire(1)  # …that the next call repays before it may go
    assert clock[0] == pytest.approx(99.1, abs=0.2)


def test_a_mailgun_banner_instead_of_an_api_answer_is_never_recorded_sent(project: Path, store: Store) -> None:
    """A wrong base_url answers 200 with Mailgun's banner: not its acceptance, so nothing is recorded sent;
    the messages are in doubt (a 200 may mean "queued"), and the run stops: every call would end the same."""
    with FAKES["mailgun"]() as fake:
        settings = configure(project, fake, lookup=False)
        add_people(store, 3)
        fake.script.append(Fault(200, "Mailgun Magnificent API"))
        with pytest.raises(UnrecognisedAnswer, match="without its acceptance") as raised:
            send(settings, store, fake)
    assert {row.status for row in ledger_rows(store)} == {"uncertain"} and fake.inbox == []
    assert "base_url" in raised.value.hint


#: Answers that may mean "accepted" without being the provider's documented acceptance, per provider:
#: each given after the fake accepted and delivered the call (or, for a reset, instead of its answer).
DOUBTFUL: dict[str, dict[str, Fault]] = {
    "mailgun": {"proxy page": Fault(200, "<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}),
                "cut body": Fault(200, '{"id": "<20261124070000.1.', {"Content-Type": "application/json"}),
                "no provider id": Fault(200, {"message": "Queued. Thank you."})},
    "sendgrid": {"proxy page": Fault(200, "<html><body>OK</body></html>", {"Content-Type": "text/html"}),
                 "cut body": Fault(202, "", {"X-Message-Id": ""}),
                 "no provider id": Fault(202, "")},
    "postmark": {"proxy page": Fault(200, "<html><body>OK</body></html>", {"Content-Type": "text/html"}),
                 "cut body": Fault(200, '[{"ErrorCode":0,"Message":"OK","MessageID":"b7bc2f4a', {}),
                 "no provider id": Fault(200, [{"ErrorCode": 0, "Message": "OK"}] * 5)},
    "brevo": {"proxy page": Fault(201, "<html><body>OK</body></html>", {"Content-Type": "text/html"}),
              "cut body": Fault(201, '{"messageIds": ["<b1d5', {"Content-Type": "application/json"}),
              "no provider id": Fault(201, {})},
}
SHAPES = ["proxy page", "cut body", "no provider id", "gateway 502", "gateway 504", "reset after the request"]


def _doubtful(provider: str, shape: str) -> Fault:
    if shape == "reset after the request":
        return Fault(reset=True)
    if shape.startswith("gateway"):
        return Fault(int(shape[-3:]), "<html><body>Gateway</body></html>", {"Content-Type": "text/html"},
                     after_accepting=True)
    fault = DOUBTFUL[provider][shape]
    return Fault(fault.status, fault.body, fault.headers, after_accepting=True)


@pytest.mark.parametrize("shape", SHAPES)
def test_an_answer_that_may_mean_accepted_is_in_doubt_never_not_sent(project: Path, store: Store,
                                                                      fake: FakeProvider, shape: str) -> None:
    """The rule for every adapter: an answer that may mean "accepted" is in doubt, never "not sent" (which
    would send it again); one that is not the provider's acceptance is never recorded sent. Brevo repeats
    such a call with the same idempotency key and gets its real answer. (Lookups off: this is the answer's
    reading alone; see the lookup tests below.)"""
    settings = configure(project, fake, lookup=False)
    add_people(store, 5)
    fake.script.append(_doubtful(fake.name, shape))
    stopped: UnrecognisedAnswer | None = None
    try:
        send(settings, store, fake)
    except UnrecognisedAnswer as err:
        stopped = err
    statuses = [row.status for row in ledger_rows(store)]
    assert len(fake.inbox) == 5  # the provider took them all
    if fake.name == "brevo":
        assert statuses == ["sent"] * 5 and fake.calls == 2 and stopped is None
        assert all(row.provider_id for row in ledger_rows(store))
    else:
        assert statuses == ["uncertain"] * 5
        two_hundred = shape in DOUBTFUL[fake.name] and not (fake.name == "postmark" and shape == "no provider id")
        assert (stopped is not None) == two_hundred  # a success status that is no acceptance stops the run
    send(settings, store, fake)
    assert len(fake.inbox) == 5  # nobody twice


def test_a_provider_that_is_not_the_provider_answering_200_records_nobody_sent(project: Path, store: Store,
                                                                                fake: FakeProvider) -> None:
    """A proxy (or a wrong base_url) answers 2xx without passing the call on: nobody is recorded sent (Brevo's
    repeat with the same idempotency key reaches the provider, whose acceptance it then reads)."""
    settings = configure(project, fake, lookup=False)
    add_people(store, 4)
    fake.script.append(Fault(200, "<html><body>Welcome</body></html>", {"Content-Type": "text/html"}))
    if fake.name == "brevo":
        send(settings, store, fake)
        assert len(fake.inbox) == 4 and {row.status for row in ledger_rows(store)} == {"sent"}
        return
    with pytest.raises(UnrecognisedAnswer):
        send(settings, store, fake)
    assert fake.inbox == [] and {row.status for row in ledger_rows(store)} == {"uncertain"}


@contextlib.contextmanager
def _listener(behaviour: str) -> Iterator[str]:
    """A base URL on 127.0.0.1: nobody listening ("down"), or a server that reads the request and
    then closes the connection ("hangs up") or never answers ("silent")."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if behaviour == "down":
        server.close()
        yield f"http://127.0.0.1:{port}"
        return
    done = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)  # the request has reached the "provider"
            if behaviour == "silent":
                done.wait(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        done.set()
        thread.join(10)
        server.close()


@pytest.mark.parametrize(("behaviour", "error"), [("down", NotSent), ("hangs up", NoAnswer), ("silent", NoAnswer)])
def test_whether_a_call_can_have_reached_the_provider_is_told_by_the_errors_type(
        project: Path, behaviour: str, error: type[DeliveryError]) -> None:
    with _listener(behaviour) as url:
        merge_options(project, "[delivery]\n" + api_config("sendgrid", url, timeout=0.5))
        adapter = make_adapter(load_settings(project), environment("sendgrid"))
        assert isinstance(adapter, ApiAdapter)
        adapter.open()
        try:
            with pytest.raises(TransientDeliveryError) as raised:
                adapter.post(Call([], json={"personalizations": []}))
        finally:
            adapter.close()
    assert type(raised.value) is error and raised.value.provider == "sendgrid" and raised.value.status is None


def test_the_cli_reports_a_refused_request_with_the_providers_words_exit_code_2_and_no_traceback(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with FAKES["sendgrid"]() as fake:
        configure(project, fake)
        status, body, words = REFUSALS["sendgrid"]
        fake.script.append(Fault(status, body))
        monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
        for name, value in environment("sendgrid").items():
            monkeypatch.setenv(name, value)
        code = main(["--project", str(project), "send", DAY.isoformat(), "--test", "camille@example.org"])
    err = capsys.readouterr().err
    assert code == 2 and f"sendgrid answered {status}: " in err and words in err and "Traceback" not in err
    assert fake.inbox == []


# -- lookups: asking the provider before calling a message lost ------------------------------------


def _lookups_on(fake: FakeProvider, **extra: object) -> dict[str, object]:
    """[delivery.NAME] keys that turn the lookup on (SendGrid's needs its add-on), on one connection (the faults
    scripted go to the calls in order)."""
    return {"connections": 1, **({"lookup": True} if fake.name == "sendgrid" else {}), **extra}


def test_an_unreadable_acceptance_is_settled_by_lookup_and_a_rerun_sends_nobody_twice(
        project: Path, store: Store, fake: FakeProvider) -> None:
    """Issue 22: the provider queues a whole batch and its answer cannot be read. The messages are looked up
    at once and found (sent, with the provider's id); the run stops; the operator's re-run sends the rest:
    0 duplicates, 0 missing."""
    settings = configure(project, fake, **_lookups_on(fake))
    people = add_people(store, 2 * LIMITS[fake.name] + 10)
    doubtful = _doubtful(fake.name, "proxy page")
    fake.script.extend([doubtful] * (3 if fake.name == "brevo" else 1))  # Brevo: its two repeats too
    with pytest.raises(UnrecognisedAnswer):
        send(settings, store, fake)
    first = [row for row in ledger_rows(store) if row.status == "sent"]
    assert len(first) == LIMITS[fake.name] and all(row.provider_id for row in first)
    assert fake.lookups >= 1
    report = send(settings, store, fake)
    received = fake.by_recipient()
    assert sorted(received) == people and all(len(m) == 1 for m in received.values())
    assert report.counts == {"sent": len(people)}
    by_address = {m.to: m.provider_id for m in fake.inbox}
    assert all(row.provider_id.strip("<>").split(".filter")[0] == by_address[row.email].strip("<>")
               for row in ledger_rows(store) if fake.name != "brevo")


def test_a_lookup_that_is_unavailable_leaves_the_messages_uncertain_and_counted(project: Path, store: Store,
                                                                                 fake: FakeProvider) -> None:
    settings = configure(project, fake, **_lookups_on(fake, lookup_delay=0))
    add_people(store, 6)
    fake.lookup_available = False
    fake.script.extend([_doubtful(fake.name, "reset after the request")] * (3 if fake.name == "brevo" else 1))
    report = send(settings, store, fake)
    assert report.count(DeliveryStatus.UNCERTAIN) == 6 and report.counts == {"uncertain": 6}
    assert fake.lookups >= 1 and len(fake.inbox) == 6
    again = send(settings, store, fake)  # looked up again at the start of the run: still unavailable
    assert again.counts == {"uncertain": 6} and len(fake.inbox) == 6
    assert any(status == "uncertain" and n == 6 for status, _, n in again.failures)


def test_sendgrids_lookup_is_off_unless_its_add_on_is_declared(project: Path, store: Store) -> None:
    with FAKES["sendgrid"]() as fake:
        settings = configure(project, fake)
        add_people(store, 3)
        fake.script.append(_doubtful("sendgrid", "reset after the request"))
        report = send(settings, store, fake)
    assert report.counts == {"uncertain": 3} and fake.lookups == 0


def test_absence_right_after_the_call_proves_nothing_but_does_after_the_recording_delay(
        project: Path, store: Store, fake: FakeProvider) -> None:
    """Providers record what they took late (Mailgun documents up to half an hour): a message missing from
    the records right after its call stays uncertain; once ``lookup_delay`` has passed, a run finds what
    arrived and sends again only what did not."""
    settings = configure(project, fake, **_lookups_on(fake, lookup_delay=600))
    add_people(store, 8)
    fake.event_delay = 3600  # accepted, not yet in the records
    fake.script.extend([_doubtful(fake.name, "reset after the request")] * (3 if fake.name == "brevo" else 1))
    report = send(settings, store, fake)
    assert report.counts == {"uncertain": 8} and len(fake.inbox) == 8
    fake.event_delay = 0
    later = datetime.now(timezone.utc) + timedelta(seconds=601)
    report = send_issue(settings, store, DAY, secret_key=SECRET, policy=FAST, clock=lambda: later,
                        adapter_factory=lambda: make_adapter(settings, environment(fake.name)))
    assert report.counts == {"sent": 8} and len(fake.inbox) == 8 and all(r.provider_id for r in ledger_rows(store))


def test_a_call_that_never_reached_the_provider_is_proved_absent_and_sent_once(project: Path, store: Store,
                                                                                fake: FakeProvider) -> None:
    """A proxy answers 200 without passing the call on; the lookup (with no recording delay, as on this fake)
    covers the whole time the messages could have arrived and finds none: they go back to pending, and the
    next run sends each once."""
    settings = configure(project, fake, **_lookups_on(fake, lookup_delay=0))
    people = add_people(store, 7)
    fake.script.extend([Fault(200, "<html><body>Welcome</body></html>", {"Content-Type": "text/html"})]
                       * (3 if fake.name == "brevo" else 1))
    with pytest.raises(UnrecognisedAnswer):
        send(settings, store, fake)
    rows = ledger_rows(store)
    assert {row.status for row in rows} == {"pending"} and "never arrived" in rows[0].last_error
    assert fake.inbox == []
    report = send(settings, store, fake)
    assert report.counts == {"sent": 7} and sorted(m.to for m in fake.inbox) == people


def test_the_cli_reports_an_answer_that_is_no_acceptance_with_a_hint_exit_code_1_and_no_traceback(
        project: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with FAKES["mailgun"]() as fake:
        configure(project, fake, lookup=False)
        add_people(store, 3)
        fake.script.append(Fault(200, "<html><body>Proxy</body></html>", {"Content-Type": "text/html"}))
        monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
        for name, value in environment("mailgun").items():
            monkeypatch.setenv(name, value)
        code = main(["--project", str(project), "send", DAY.isoformat(), "--without-approval", "test"])
    err = capsys.readouterr().err
    assert code == 1 and "mailgun answered 200 without its acceptance" in err and "Traceback" not in err
    assert "base_url" in err and {row.status for row in ledger_rows(store)} == {"uncertain"}
