"""The same store code on a real PostgreSQL server on 127.0.0.1: migrations, exclusive claims, a whole send."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from newsletter.config import Settings
from newsletter.delivery.engine import Policy, send_issue
from newsletter.store import ledger
from newsletter.store.database import Store, _alembic_config, open_store
from newsletter.store.subscribers import add_subscriber, count_by_status, unsubscribe
from tests.conftest import DAY, SECRET
from tests.pg import binaries

pytestmark = pytest.mark.skipif(binaries() is None, reason="PostgreSQL server binaries not installed "
                                                            "(`make test` installs them)")
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def pg_store(server_url: str, tmp_path: Path) -> Iterator[Store]:
    store = open_store(server_url, tmp_path)
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE deliveries, sends, subscribers RESTART IDENTITY CASCADE"))
    yield store
    store.close()


def test_migrations_apply_on_postgresql(pg_store: Store) -> None:
    with pg_store.engine.connect() as conn:
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head


def test_a_whole_send_through_the_outbox(pg_store: Store, settings: Settings) -> None:
    for i in range(40):
        add_subscriber(pg_store, f"p{i}@example.org", now=NOW, first_name="Léa")
    unsubscribe(pg_store, "p3@example.org", now=NOW)
    report = send_issue(settings, pg_store, DAY, secret_key=SECRET, policy=Policy(3, 0.01))
    assert report.counts == {"sent": 39}
    assert send_issue(settings, pg_store, DAY, secret_key=SECRET).sent_now == 0
    assert count_by_status(pg_store) == {"active": 39, "unsubscribed": 1}


def test_concurrent_claims_never_overlap(pg_store: Store) -> None:
    for i in range(300):
        add_subscriber(pg_store, f"c{i}@example.org", now=NOW)
    send_id = ledger.get_or_create_send(pg_store, DAY, "Objet", NOW)
    ledger.enqueue(pg_store, send_id, NOW)
    claimed: list[list[int]] = [[] for _ in range(4)]

    def worker(slot: int) -> None:
        run = ledger.new_run_id()
        while batch := ledger.claim(pg_store, send_id, run, 9, NOW):
            claimed[slot].extend(c.delivery_id for c in batch)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    every = [i for part in claimed for i in part]
    assert len(every) == len(set(every)) == 300


def test_an_alert_is_claimed_by_one_process_only(pg_store: Store) -> None:
    from newsletter.store.alerts import claim_alert, forget_alert

    start = threading.Barrier(6)
    won: list[bool] = []

    def claim() -> None:
        start.wait(timeout=10)
        won.append(claim_alert(pg_store, DAY, "not_ready:missing", NOW))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(won) == [False] * 5 + [True]
    forget_alert(pg_store, DAY, "not_ready:missing")  # not sent after all: the next attempt may send it
    assert claim_alert(pg_store, DAY, "not_ready:missing", NOW)


def test_a_web_request_leaves_a_known_address_as_it_is_on_postgresql(pg_store: Store) -> None:
    from newsletter.store.subscribers import find_subscriber, request_subscription

    add_subscriber(pg_store, "parti@example.org", now=NOW, first_name="Paul")
    unsubscribe(pg_store, "parti@example.org", now=NOW)
    for address in ("parti@example.org", "nouveau@example.org", "nouveau@example.org"):
        request_subscription(pg_store, address, now=NOW, first_name="Intrus")
    left, new = find_subscriber(pg_store, "parti@example.org"), find_subscriber(pg_store, "nouveau@example.org")
    assert left and left.status == "unsubscribed" and left.first_name == "Paul"
    assert new and new.status == "pending" and new.first_name == "Intrus"
