"""A send that keeps hitting addresses that do not exist pauses itself, says so, and resumes on demand.

End to end with real parts: an aiosmtpd server on 127.0.0.1 that refuses some recipients with
550 5.1.1 (the operator's alert is received by that same server), the strict Postmark fake and
the real webhook endpoint, the ledger in SQLite.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter import Newsletter
from newsletter.config import load_settings
from newsletter.delivery.engine import send_issue
from newsletter.store.database import Store, open_store
from newsletter.frontends.web.app import create_app
from newsletter.frontends.web.mailer import MailQueue
from tests.conftest import DAY, SECRET
from tests.helpers.clock import ticking
from tests.fakes import FakePostmark, api_config, environment
from tests.provider_events import Postmark
from tests.sink import Sink
from tests.helpers.sending import add_people, smtp_config
from tests.helpers.config import merge_options, set_options
from tests.helpers.french import NBSP, english

ALERT_TO = "exploitation@example.org"
PEOPLE = 150
DEAD = 12  # among the first hundred recipients: 12 % of the window, over the 5 % line


def with_window(project: Path, window: int, rate: float = 0.05) -> None:
    set_options(project, "delivery", max_bounce_rate=rate, bounce_window=window)


def test_an_smtp_send_with_many_dead_addresses_pauses_alerts_and_resumes(cli, project: Path,  # type: ignore[no-untyped-def]
                                                                         sink: Sink) -> None:
    smtp_config(project, sink.port, connections=1)  # one connection: the 100th message is judged in list order
    with_window(project, 100)
    store = open_store("sqlite:///state/newsletter.db", project)
    addresses = add_people(store, PEOPLE)
    store.close()
    for address in addresses[10:10 + DEAD]:
        sink.recorder.faults.rcpt_permanent[address] = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    clock = ticking(datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc))  # the morning of the issue
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin", clock=clock)[0] == 0

    code, out, err = cli("send", DAY.isoformat(), clock=clock)
    assert code == 1, (out, err)
    assert "Paused: 12 hard bounces among the last 100 messages (12.0%)" in out
    assert "newsletter send 2026-11-24" in out
    received = sink.recorder.count_by_recipient()
    alerts = [m for m in sink.recorder.messages if m["To"].addresses[0].addr_spec == ALERT_TO]
    assert len(alerts) == 1 and "s’est mis en pause" in str(alerts[0]["Subject"])
    assert "rejets définitifs, 12 sur les 100 derniers messages" in alerts[0].get_body(("plain",)).get_content()
    first_run = sum(n for address, n in received.items() if address != ALERT_TO)
    assert 100 - DEAD <= first_run < PEOPLE - DEAD  # stopped near the hundredth message, the rest wait

    code, out, _ = cli("status", DAY.isoformat(), "--json", clock=clock)
    shown = json.loads(out)
    assert code == 1 and shown["paused"]["bounces"] == DEAD and shown["paused"]["messages"] == 100
    assert shown["counts"]["pending"] == PEOPLE - DEAD - first_run and shown["feedback"]["bounced"] == DEAD
    code, out, _ = cli("status", DAY.isoformat(), clock=clock)
    assert "Attention: the send paused itself" in out and "12 hard bounces among the last 100 messages" in out
    assert "Gate: paused" in out
    code, out, _ = cli("history", clock=clock)
    assert "(paused)" in out

    code, out, err = cli("send", DAY.isoformat(), clock=clock)  # the operator resumes
    assert code == 0, (out, err)
    assert "Resumed the send paused at" in out and f"{PEOPLE - DEAD} sent, {DEAD} failed, 0 pending" in out
    delivered = sink.recorder.count_by_recipient()
    assert delivered.pop(ALERT_TO) == 1  # no second alert
    assert sorted(delivered) == sorted(set(addresses) - set(addresses[10:10 + DEAD]))
    assert set(delivered.values()) == {1}  # every recipient exactly once
    code, out, _ = cli("status", DAY.isoformat(), "--json", clock=clock)
    shown = json.loads(out)
    assert code == 0 and shown["paused"] is None and len(shown["pauses"]) == 1 and shown["pauses"][0]["resumed_at"]
    code, out, _ = cli("status", DAY.isoformat(), clock=clock)
    assert "Paused 2026-11-24 07:0" in out and ", resumed 2026-11-24 07:" in out


def test_a_paused_send_and_its_refusals_are_said_in_french_quoting_the_servers_words(  # type: ignore[no-untyped-def]
        cli, project: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_config(project, sink.port, connections=1)
    with_window(project, 100)
    store = open_store("sqlite:///state/newsletter.db", project)
    addresses = add_people(store, PEOPLE)
    store.close()
    answer = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    for address in addresses[10:10 + DEAD]:
        sink.recorder.faults.rcpt_permanent[address] = answer
    clock = ticking(datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc))
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin", clock=clock)[0] == 0
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.delenv("LANGUAGE", raising=False)
    code, out, err = cli("send", DAY.isoformat(), clock=clock)
    assert code == 1, (out, err)
    brake = f"rebonds définitifs{NBSP}: 12 sur une fenêtre de 100 (12.0%)"
    assert f"En pause{NBSP}: {brake}" in out, out
    assert f"arrêté{NBSP}: en pause{NBSP}: {brake}" in out, out
    assert f"RCPT TO{NBSP}: «{NBSP}{answer}{NBSP}»" in out, out  # the server's own words, quoted
    assert english(out) == [], out
    code, out, _ = cli("status", DAY.isoformat(), clock=clock)
    assert f"RCPT TO{NBSP}: «{NBSP}{answer}{NBSP}»" in out and f"{NBSP}: {brake}" in out, out
    assert english(out) == [], out
    code, out, _ = cli("send", DAY.isoformat(), "--limit", "3", clock=clock)  # resumed, and stopped at once
    assert f"arrêté{NBSP}: --limit 3 atteint" in out and english(out) == [], out


def test_a_mail_api_send_pauses_on_hard_bounces_its_webhook_reports_during_the_send(
        project: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mail API accepts every message of a call and reports bounces later, by webhook: the strict
    fakes answer as the APIs do (Postmark's per-message ErrorCode 406 is a suppressed address, refused
    unsent, not a bounce), so the brake learns of an API's bounces from the events the webhook records.
    Here Postmark's signed Bounce events reach the real webhook endpoint while the send runs."""
    hooks = Postmark()
    with FakePostmark() as fake:
        merge_options(project, "[delivery]\n" + api_config("postmark", fake.base_url, connections=1))
        merge_options(project, f"[webhooks]\n{hooks.config}\n")
        set_options(project, "delivery", max_bounce_rate=0.05, bounce_window=1000)
        settings = load_settings(project)
        addresses = add_people(store, 600)  # two calls: 500 messages, then 100
        dead = set(addresses[:60])  # 12 % of the first call bounces once delivered
        app = create_app(Newsletter(settings, store=store, secret_key=SECRET, environ=hooks.env,
                                    clock=lambda: datetime.now(timezone.utc)), mail_queue=MailQueue())
        posted: list[int] = []

        def webhooks_arrive(settled: int) -> None:
            """The provider posts its Bounce events for the first call before the second one."""
            if posted:
                return
            with app.test_client() as client:
                for number, message in enumerate(m for m in fake.inbox if m.to in dead):
                    made = hooks.request("hard", message.to, message_id=message.provider_id,
                                         at=datetime.now(timezone.utc), event_id=f"bounce-{number}")
                    posted.append(client.post("/webhooks/postmark", data=made.body, headers=made.headers).status_code)

        for variable, value in environment("postmark").items():
            monkeypatch.setenv(variable, value)
        report = send_issue(settings, store, DAY, secret_key=SECRET, progress=webhooks_arrive)
        assert set(posted) == {200} and len(posted) == 60
        assert report.paused.startswith("60 hard bounces among the last 500 messages (12.0%)")
        assert report.pending == 100 and len(fake.inbox) == 500 and fake.accepted_calls == 1
        again = send_issue(settings, store, DAY, secret_key=SECRET)
        assert again.resumed is not None and again.complete and not again.paused
        assert sorted(m.to for m in fake.inbox) == sorted(addresses)  # everyone once, the dead ones included
