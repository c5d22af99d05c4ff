"""A send that keeps hitting addresses that do not exist pauses itself, says so, and resumes on demand.

End to end through the command line and real parts: an aiosmtpd server on 127.0.0.1 that
refuses some recipients with 550 5.1.1, the operator's alert received by that same server, the
ledger in SQLite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.cli import main
from newsletter.store.database import open_store
from tests.conftest import DAY, SECRET
from tests.sink import Sink
from tests.test_dispatch import add_people, smtp_config

ALERT_TO = "exploitation@example.org"
PEOPLE = 150
DEAD = 12  # among the first hundred recipients: 12 % of the window, over the 5 % line


@pytest.fixture
def cli(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--project", str(project), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def with_window(project: Path, window: int, rate: float = 0.05) -> None:
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    assert "rate_per_second = 5000\n" in text
    config.write_text(text.replace("rate_per_second = 5000\n", f"rate_per_second = 5000\nmax_bounce_rate = {rate}\n"
                                   f"bounce_window = {window}\n"), encoding="utf-8")


def test_an_smtp_send_with_many_dead_addresses_pauses_alerts_and_resumes(cli, project: Path,  # type: ignore[no-untyped-def]
                                                                         sink: Sink) -> None:
    smtp_config(project, sink.port)
    with_window(project, 100)
    store = open_store("sqlite:///state/newsletter.db", project)
    addresses = add_people(store, PEOPLE)
    store.close()
    for address in addresses[10:10 + DEAD]:
        sink.recorder.faults.rcpt_permanent[address] = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0

    code, out, err = cli("send", DAY.isoformat())
    assert code == 1, (out, err)
    assert "Paused: 12 hard bounces among the last 100 messages (12.0%)" in out
    assert "newsletter send 2026-11-24" in out
    received = sink.recorder.count_by_recipient()
    alerts = [m for m in sink.recorder.messages if m["To"].addresses[0].addr_spec == ALERT_TO]
    assert len(alerts) == 1 and "s'est mis en pause" in str(alerts[0]["Subject"])
    assert "12 rejets définitifs parmi les 100 derniers messages" in alerts[0].get_body(("plain",)).get_content()
    first_run = sum(n for address, n in received.items() if address != ALERT_TO)
    assert 100 - DEAD <= first_run < PEOPLE - DEAD  # stopped near the hundredth message, the rest wait

    code, out, _ = cli("status", DAY.isoformat(), "--json")
    shown = json.loads(out)
    assert code == 1 and shown["paused"]["bounces"] == DEAD and shown["paused"]["messages"] == 100
    assert shown["counts"]["pending"] == PEOPLE - DEAD - first_run and shown["feedback"]["bounced"] == DEAD
    code, out, _ = cli("status", DAY.isoformat())
    assert "Attention: the send paused itself" in out and "12 hard bounces among the last 100 messages" in out
    assert "Gate: paused" in out
    code, out, _ = cli("history")
    assert "(paused)" in out

    code, out, err = cli("send", DAY.isoformat())  # the operator resumes
    assert code == 0, (out, err)
    assert "Resumed the send paused at" in out and f"{PEOPLE - DEAD} sent, {DEAD} failed, 0 pending" in out
    delivered = sink.recorder.count_by_recipient()
    assert delivered.pop(ALERT_TO) == 1  # no second alert
    assert sorted(delivered) == sorted(set(addresses) - set(addresses[10:10 + DEAD]))
    assert set(delivered.values()) == {1}  # every recipient exactly once
    code, out, _ = cli("status", DAY.isoformat(), "--json")
    shown = json.loads(out)
    assert code == 0 and shown["paused"] is None and len(shown["pauses"]) == 1 and shown["pauses"][0]["resumed_at"]
    code, out, _ = cli("status", DAY.isoformat())
    assert "Paused 2026-" in out and ", resumed 2026-" in out
