"""The mail APIs' webhooks: events posted as each provider documents them change the right subscriber and
ledger row; forged, replayed, stale, malformed or oversized requests change nothing."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from newsletter import Newsletter
from newsletter.config import Settings, load_settings
from newsletter.errors import ConfigError
from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.feedback import FeedbackEvent
from newsletter.store.models import Delivery, DeliveryStatus
from newsletter.store.subscribers import add_subscriber, find_subscriber
from newsletter.frontends.web.app import create_app
from newsletter.frontends.web.mailer import MailQueue
from tests.conftest import DAY, SECRET
from tests.provider_events import PROVIDERS, Brevo, Mailgun, Provider
from tests.helpers.feedback import counts_for_issue, events_for_send

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
LEA = "lea@example.org"
OWN = f"{DAY.isoformat()}.{'ab' * 12}"  # our own id as the adapters send it (issue date and address digest)


def configure(project: Path, *providers: Provider, extra: str = "", old: bool = False) -> Settings:
    """Turn on the providers' webhooks: ``[webhooks.NAME]`` tables, or the flat keys of the first versions."""
    config = project / "newsletter.toml"
    lines = "\n".join(p.old_config if old else p.config for p in providers)
    text = f"\n[webhooks]\n{lines}\n{extra}" if old else f"\n[webhooks]\n{extra}\n{lines}"
    config.write_text(config.read_text(encoding="utf-8") + text, encoding="utf-8")
    return load_settings(project)


def make_app(settings: Settings, store: Store, env: dict[str, str], clock: datetime = NOW) -> Flask:
    nl = Newsletter(settings, store=store, secret_key=SECRET, environ=env, clock=lambda: clock)
    return create_app(nl, mail_queue=MailQueue())


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> Provider:
    return PROVIDERS[request.param]()


@pytest.fixture
def client(project: Path, store: Store, provider: Provider) -> Iterator[FlaskClient]:
    app = make_app(configure(project, provider), store, provider.env)
    with app.test_client() as test_client:
        yield test_client


def post(client: FlaskClient, provider: Provider, kind: str, email: str = LEA, **fields: Any) -> Any:
    made = provider.request(kind, email, at=fields.pop("at", NOW - timedelta(seconds=5)), **fields)
    return client.post(f"/webhooks/{provider.name}", data=made.body, headers=made.headers)


def status(store: Store, email: str = LEA) -> str:
    found = find_subscriber(store, email)
    assert found is not None
    return found.status


def recorded(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(FeedbackEvent)) or 0)


def sent_to_everyone(store: Store, provider_id: str) -> int:
    """The issue's ledger: a sent row per subscriber, with this provider message id; the send's id."""
    send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
    ledger.enqueue(store, send_id, NOW)
    with store.session() as session:
        session.execute(update(Delivery).values(status=DeliveryStatus.SENT.value, provider_id=provider_id))
    return send_id


@pytest.mark.parametrize("kind, expected", [("hard", "bounced"), ("complaint", "complained"),
                                            ("unsubscribe", "unsubscribed")])
def test_a_signed_event_marks_the_subscriber_and_the_ledger_row(store: Store, client: FlaskClient,
                                                                provider: Provider, kind: str, expected: str) -> None:
    add_subscriber(store, LEA, now=NOW)
    add_subscriber(store, "tom@example.org", now=NOW)
    send_id = sent_to_everyone(store, "<msg-1@provider.example>")
    with store.session() as session:
        lea_row = session.scalar(select(Delivery.id).where(Delivery.email == LEA))
    answer = post(client, provider, kind, message_id="<msg-1@provider.example>", own=OWN)
    assert answer.status_code == 200, answer.get_json()
    assert status(store) == expected and status(store, "tom@example.org") == "active"
    assert [(e.delivery_id, e.source) for e in events_for_send(store, send_id)] == [(lea_row, provider.name)]


def test_a_soft_bounce_is_counted_without_changing_the_status(store: Store, client: FlaskClient,
                                                             provider: Provider) -> None:
    add_subscriber(store, LEA, now=NOW)
    assert post(client, provider, "soft", message_id="m1", own=OWN).status_code == 200
    assert status(store) == "active" and recorded(store) == 1


@pytest.mark.parametrize("kind", ["delivered", "carrier_pigeon"])
def test_other_and_unknown_event_types_are_acknowledged_and_change_nothing(
        store: Store, client: FlaskClient, provider: Provider, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    add_subscriber(store, LEA, now=NOW)
    with caplog.at_level(logging.INFO, logger="newsletter.frontends.web.webhooks"):
        answer = post(client, provider, kind, message_id="m1", own=OWN)
    assert answer.status_code == 200 and answer.get_json()["ignored"] == 1
    assert status(store) == "active" and recorded(store) == 0
    assert ("carrier_pigeon" in caplog.text) is (kind == "carrier_pigeon")


def test_a_forged_request_is_refused_and_changes_nothing(store: Store, client: FlaskClient, provider: Provider,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    add_subscriber(store, LEA, now=NOW)
    answer = post(client, provider, "complaint", message_id="m1", own=OWN, forged=True)
    assert 400 <= answer.status_code < 500
    assert status(store) == "active" and recorded(store) == 0
    for secret in provider.env.values():  # never logged
        assert secret not in caplog.text and secret.split(":")[-1] not in caplog.text


def test_a_request_without_credentials_is_refused(store: Store, client: FlaskClient, provider: Provider) -> None:
    add_subscriber(store, LEA, now=NOW)
    made = provider.request("hard", LEA, at=NOW)
    headers = {k: v for k, v in made.headers.items() if k == "Content-Type"}
    body = made.body
    if provider.name == "mailgun":  # Mailgun's signature is in the body: take it out
        payload = json.loads(body)
        del payload["signature"]
        body = json.dumps(payload).encode()
    answer = client.post(f"/webhooks/{provider.name}", data=body, headers=headers)
    assert 400 <= answer.status_code < 500 and status(store) == "active" and recorded(store) == 0


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_a_malformed_body_is_refused_and_changes_nothing(store: Store, client: FlaskClient, provider: Provider,
                                                         body: bytes) -> None:
    add_subscriber(store, LEA, now=NOW)
    made = provider.raw(body, signed_at=NOW)
    answer = client.post(f"/webhooks/{provider.name}", data=made.body, headers=made.headers)
    assert 400 <= answer.status_code < 500 and recorded(store) == 0


def test_an_event_missing_its_address_is_refused(store: Store, client: FlaskClient, provider: Provider) -> None:
    add_subscriber(store, LEA, now=NOW)
    answer = post(client, provider, "hard", email="", message_id="m1", own=OWN)
    assert 400 <= answer.status_code < 500 and recorded(store) == 0


def test_the_same_event_delivered_twice_counts_once(store: Store, client: FlaskClient, provider: Provider) -> None:
    add_subscriber(store, LEA, now=NOW)
    for _ in range(2):  # a provider retry: the same event, freshly signed (Mailgun: a new token)
        assert post(client, provider, "soft", message_id="m1", own=OWN, event_id="same").status_code == 200
    assert recorded(store) == 1


def test_an_event_before_its_ledger_row_is_kept_and_linked_when_the_row_appears(
        store: Store, client: FlaskClient, provider: Provider) -> None:
    lea, _ = add_subscriber(store, LEA, now=NOW)
    answer = post(client, provider, "hard", message_id="late-id", own=OWN)
    assert answer.status_code == 200 and status(store) == "bounced"
    assert counts_for_issue(store, DAY) == {}
    # The send records its row (and the provider's id) after the event came.
    send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
    with store.session() as session:
        session.add(Delivery(send_id=send_id, subscriber_id=lea.id, email=LEA, status="sent", provider_id="",
                             created_at=NOW, updated_at=NOW))
    assert counts_for_issue(store, DAY) == {"hard_bounce": 1}


@pytest.mark.parametrize("provider_name", ["mailgun", "sendgrid"])
@pytest.mark.parametrize("offset", [timedelta(hours=-1), timedelta(hours=1)], ids=["stale", "future"])
def test_a_stale_or_future_signature_is_refused(project: Path, store: Store, provider_name: str,
                                                offset: timedelta) -> None:
    provider = PROVIDERS[provider_name]()
    add_subscriber(store, LEA, now=NOW)
    with make_app(configure(project, provider), store, provider.env).test_client() as client:
        answer = post(client, provider, "hard", at=NOW, signed_at=NOW + offset)
    assert 400 <= answer.status_code < 500 and status(store) == "active" and recorded(store) == 0


def test_a_replayed_mailgun_token_is_refused(project: Path, store: Store) -> None:
    provider = Mailgun()
    add_subscriber(store, LEA, now=NOW)
    with make_app(configure(project, provider), store, provider.env).test_client() as client:
        made = provider.request("soft", LEA, at=NOW, token="t" * 50)
        first = client.post("/webhooks/mailgun", data=made.body, headers=made.headers)
        # The same signed request again, with another event inside: the token gives it away.
        other = provider.request("complaint", LEA, at=NOW, token="t" * 50, event_id="other")
        again = client.post("/webhooks/mailgun", data=other.body, headers=other.headers)
    assert first.status_code == 200 and again.status_code == 406
    assert status(store) == "active" and recorded(store) == 1


def test_brevo_credentials_in_the_notify_url_are_accepted(project: Path, store: Store) -> None:
    provider = Brevo(bearer=False)
    add_subscriber(store, LEA, now=NOW)
    with make_app(configure(project, provider), store, provider.env).test_client() as client:
        assert post(client, provider, "complaint").status_code == 200
        assert post(client, provider, "hard", forged=True, event_id="x").status_code == 401
    assert status(store) == "complained"


def test_a_body_over_the_limit_is_refused_before_it_is_read(project: Path, store: Store) -> None:
    provider = PROVIDERS["sendgrid"]()
    add_subscriber(store, LEA, now=NOW)
    with make_app(configure(project, provider, extra="max_body_bytes = 4096\n"), store,
                  provider.env).test_client() as client:
        big = json.dumps([{"event": "delivered", "email": LEA, "timestamp": 1, "padding": "x" * 5000}]).encode()
        made = provider.raw(big, signed_at=NOW)
        answer = client.post("/webhooks/sendgrid", data=made.body, headers=made.headers)
    assert answer.status_code == 413 and recorded(store) == 0


def test_a_provider_without_a_secret_has_no_endpoint(project: Path, store: Store) -> None:
    mailgun = Mailgun()
    with make_app(configure(project, mailgun), store, mailgun.env).test_client() as client:
        made = PROVIDERS["postmark"]().request("hard", LEA, at=NOW)
        assert client.post("/webhooks/postmark", data=made.body, headers=made.headers).status_code == 404
        assert client.post("/webhooks/nowhere", data=b"{}").status_code == 404


def test_a_missing_secret_stops_the_service_with_the_variables_name(project: Path, store: Store) -> None:
    settings = configure(project, PROVIDERS["postmark"]())
    with pytest.raises(ConfigError, match="PM_WEBHOOK_AUTH"):
        make_app(settings, store, {})
    with pytest.raises(ConfigError, match="PM_WEBHOOK_AUTH") as raised:
        make_app(settings, store, {"PM_WEBHOOK_AUTH": "only-a-user-no-password"})
    assert "only-a-user" not in str(raised.value) + raised.value.hint


@pytest.mark.parametrize("table", ['[webhooks]\nbrevo_token_env = "s3cr3t-value-xyz"\n',
                                   '[webhooks.brevo]\ntoken_env = "s3cr3t-value-xyz"\n'], ids=["old key", "table"])
def test_a_secret_written_in_the_config_file_is_refused(project: Path, table: str) -> None:
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + table, encoding="utf-8")
    with pytest.raises(ConfigError, match="NAME of an environment variable") as raised:
        load_settings(project)
    assert "s3cr3t" not in str(raised.value)


def test_the_flat_keys_of_the_first_versions_still_turn_a_webhook_on_with_a_warning(
        project: Path, store: Store, provider: Provider, caplog: pytest.LogCaptureFixture) -> None:
    add_subscriber(store, LEA, now=NOW)
    with caplog.at_level(logging.WARNING, logger="newsletter.config"):
        settings = configure(project, provider, old=True)
    assert settings.webhooks is not None and dict(settings.webhooks.providers) == {provider.name: {
        provider.key: provider.variable}}
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "newsletter.config"]
    assert f"[webhooks] {provider.old_key} is the old spelling of [webhooks.{provider.name}] {provider.key}" in warning
    assert f'[webhooks.{provider.name}]\n{provider.key} = "{provider.variable}"' in warning  # what to write instead
    with make_app(settings, store, provider.env).test_client() as client:
        assert post(client, provider, "hard", message_id="m1", own=OWN).status_code == 200
    assert status(store) == "bounced"


def test_the_table_form_gives_no_warning(project: Path, provider: Provider, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="newsletter.config"):
        settings = configure(project, provider)
    assert settings.webhooks is not None and list(settings.webhooks.providers) == [provider.name]
    assert [r for r in caplog.records if r.name == "newsletter.config"] == []


def test_an_old_key_and_its_table_both_set_are_refused(project: Path) -> None:
    mailgun = Mailgun()
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"\n[webhooks]\n{mailgun.old_config}\n{mailgun.config}",
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mailgun_signing_key_env and \[webhooks.mailgun\] signing_key_env are both"):
        load_settings(project)


@pytest.mark.parametrize(("table", "message"), [
    ('[webhooks.mailgun]\nsigning_key_envv = "MG_SIGNING_KEY"\n',
     "[webhooks.mailgun] has an unknown key 'signing_key_envv'; did you mean 'signing_key_env'?"),
    ("[webhooks.mailgun]\n", "[webhooks.mailgun] signing_key_env is required"),
    ('[webhooks.mailgum]\nsigning_key_env = "MG_SIGNING_KEY"\n',
     "[webhooks.mailgum] names no provider with a webhook; known: brevo, mailgun, postmark, sendgrid"),
])
def test_a_wrong_webhook_table_stops_the_service_naming_the_key(project: Path, store: Store, table: str,
                                                              message: str) -> None:
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + table, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        make_app(load_settings(project), store, Mailgun().env)
    assert message in str(raised.value)


@pytest.mark.parametrize("with_provider_id", [True, False], ids=["provider-id", "own-id-only"])
@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_real_send_then_the_providers_event_over_http_marks_the_right_row(
        project: Path, store: Store, monkeypatch: pytest.MonkeyPatch, name: str, with_provider_id: bool) -> None:
    """The whole loop: the issue goes out through the provider's strict fake, the event about one of
    its messages comes back to the service under waitress, signed as the provider signs it."""
    import requests

    from tests.helpers.mail_api import configure as use_fake, send
    from tests.fakes import FAKES
    from tests.helpers.web import Service

    provider = PROVIDERS[name]()
    for variable, value in provider.env.items():
        monkeypatch.setenv(variable, value)
    for address in (LEA, "tom@example.org", "zoe@example.org"):
        add_subscriber(store, address, now=NOW)
    with FAKES[name]() as fake:
        use_fake(project, fake)
        settings = configure(project, provider)
        assert send(settings, store, fake).sent_now == 3
        (message,) = fake.by_recipient()[LEA]
    own = message.metadata.get("newsletter_msg") or message.metadata.get("X-Mailin-custom", "")
    assert own.startswith(f"{DAY.isoformat()}.")  # our own id went out in the provider's custom field
    made = provider.request("hard", LEA, message_id=message.provider_id if with_provider_id else "", own=own,
                            at=datetime.now(timezone.utc))
    with Service(settings, store) as service:
        answer = requests.post(f"{service.url}/webhooks/{name}", data=made.body, headers=made.headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert [status(store, a) for a in (LEA, "tom@example.org", "zoe@example.org")] == ["bounced", "active", "active"]
    send_id = ledger.find_send(store, DAY)
    assert send_id is not None
    with store.session() as session:
        lea_row = session.scalar(select(Delivery.id).where(Delivery.email == LEA))
    assert [e.delivery_id for e in events_for_send(store, send_id)] == [lea_row]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_racing_requests_with_one_mailgun_token_are_accepted_once(project: Path, tmp_path: Path,
                                                                  request: pytest.FixtureRequest,
                                                                  database: str) -> None:
    """Six copies of one signed request at once, against the real app under waitress: one is recorded,
    five are refused as replays (a check, then an insert, let several through)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from sqlalchemy import text

    from newsletter.store.database import open_store
    from newsletter.frontends.web.server import create_server

    if database == "sqlite":
        store = open_store("sqlite:///state/newsletter.db", project)
    else:
        store = open_store(request.getfixturevalue("server_url"), tmp_path)
        with store.engine.begin() as conn:
            conn.execute(text("TRUNCATE webhook_tokens, feedback_events, deliveries, sends, subscribers "
                              "RESTART IDENTITY CASCADE"))
    provider = Mailgun()
    settings = configure(project, provider)
    server: Any = create_server(make_app(settings, store, provider.env), settings, host="127.0.0.1", port=0,
                                threads=6)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}/webhooks/mailgun"
    try:
        with ThreadPoolExecutor(6) as pool:
            for race in range(8):
                made = provider.request("soft", LEA, at=NOW - timedelta(seconds=5), token=f"race-{race}-" + "r" * 40,
                                        event_id=f"race-{race}")
                start = threading.Barrier(6)

                def send(_: int) -> int:
                    start.wait(timeout=60)
                    return requests.post(url, data=made.body, headers=made.headers, timeout=60).status_code

                assert sorted(pool.map(send, range(6))) == [200] + [406] * 5, race
    finally:
        for channel in list(server._map.values()):
            channel.will_close = True
        server.trigger.pull_trigger()
        server.close()
        thread.join(timeout=10)
        store.close()


def test_a_postmark_unsubscribe_without_address_or_time_unsubscribes_the_messages_reader(project: Path,
                                                                                         store: Store) -> None:
    """Postmark's Bounce record of Type Unsubscribe may carry no Email and no BouncedAt (known in the field):
    its MessageID, one reader's row in the ledger, names who unsubscribed."""
    provider = PROVIDERS["postmark"]()
    add_subscriber(store, LEA, now=NOW)
    add_subscriber(store, "tom@example.org", now=NOW)
    send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
    ledger.enqueue(store, send_id, NOW)
    with store.session() as session:
        session.execute(update(Delivery).values(status=DeliveryStatus.SENT.value))
        session.execute(update(Delivery).where(Delivery.email == LEA).values(provider_id="pm-lea-1"))
        session.execute(update(Delivery).where(Delivery.email != LEA).values(provider_id="pm-tom-1"))
    record = {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": "Unsubscribe", "TypeCode": 16,
              "Name": "Unsubscribe", "MessageID": "pm-lea-1", "ServerID": 23, "MessageStream": "broadcast",
              "Description": "The recipient unsubscribed", "Details": "", "Email": "", "From": "redaction@example.org",
              "Inactive": True, "CanActivate": True, "Subject": "Objet"}
    made = provider.raw(json.dumps(record).encode(), signed_at=NOW)
    with make_app(configure(project, provider), store, provider.env).test_client() as client:
        answer = client.post("/webhooks/postmark", data=made.body, headers=made.headers)
    assert answer.status_code == 200, answer.get_json()
    assert status(store) == "unsubscribed" and status(store, "tom@example.org") == "active"
    (event,) = events_for_send(store, send_id)
    assert (event.kind, event.occurred_at) == ("unsubscribe", NOW)  # dated when it came


@pytest.mark.parametrize("name, expected", [("complaint", "complained"), ("spam", "complained"),
                                            ("hardBounce", "bounced"), ("unsubscribe", "unsubscribed")])
def test_brevos_complaint_and_alias_events_change_the_reader(project: Path, store: Store, name: str,
                                                             expected: str) -> None:
    provider = Brevo()
    add_subscriber(store, LEA, now=NOW)
    with make_app(configure(project, provider), store, provider.env).test_client() as client:
        answer = post(client, provider, name, message_id="<m1@smtp-relay.mailin.fr>", own=OWN)
    assert answer.status_code == 200 and answer.get_json()["ignored"] == 0
    assert status(store) == expected


def test_a_providers_bounce_keeps_the_reason_its_reply_gives(store: Store, client: FlaskClient,
                                                              provider: Provider) -> None:
    add_subscriber(store, LEA, now=NOW)
    assert post(client, provider, "hard", message_id="m1", own=OWN).status_code == 200
    with store.session() as session:
        assert session.scalar(select(FeedbackEvent.reason)) == "user unknown"
