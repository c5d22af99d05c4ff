"""The readers' store (issue 28): data of one reader, erasure of every row naming them, a welcome
claimed once, and feedback about an erased address kept without it; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import text

from newsletter.core.tokens import ERASED, keyed_digest
from newsletter.store import ledger
from newsletter.store.database import Store, open_store
from newsletter.store.feedback import Feedback, FeedbackKind, record_feedback
from newsletter.store.readers import claim_welcome, erase_subscriber, erased_among, reader_data, settle_welcome
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
ADDRESS = "lea@example.org"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "sqlite:///state/db.sqlite" if request.param == "sqlite" else request.getfixturevalue("server_url")
    store = open_store(url, tmp_path)
    yield store
    store.close()


def _digest(address: str) -> str:
    return keyed_digest(SECRET, ERASED, address)


def _bounce(event_id: str, address: str) -> Feedback:
    return Feedback(FeedbackKind.SOFT_BOUNCE, "dsn", event_id, NOW, email=address, issue=DAY,
                    detail=f"452 mailbox of {address} full", reason="mailbox full")


def test_erasure_removes_every_row_naming_the_reader_and_keeps_the_counts(db: Store) -> None:
    add_subscriber(db, ADDRESS, now=NOW, first_name="Léa")
    add_subscriber(db, "autre@example.org", now=NOW)
    send_id = ledger.get_or_create_send(db, DAY, "Objet", NOW)
    ledger.enqueue(db, send_id, NOW)
    record_feedback(db, _bounce("e1", ADDRESS), now=NOW)
    claim = claim_welcome(db, ADDRESS, now=NOW)
    assert claim is not None
    settle_welcome(db, claim.subscriber_id, now=NOW)
    data = reader_data(db, ADDRESS)
    assert data is not None and data["feedback"][0]["reason"] == "mailbox full"
    assert data["welcome"]["state"] == "sent" and data["issues"][0]["issue"] == DAY.isoformat()
    assert erase_subscriber(db, ADDRESS, _digest(ADDRESS), now=NOW)
    assert not erase_subscriber(db, ADDRESS, _digest(ADDRESS), now=NOW)  # nothing left: a replay erases nothing
    assert reader_data(db, ADDRESS) is None
    assert ledger.counts(db, send_id) == {"pending": 1, "skipped": 1}
    with db.engine.connect() as conn:
        dump = "\n".join(str(row) for table in ("subscribers", "deliveries", "feedback_events", "welcome_mails")
                         for row in conn.execute(text(f"SELECT * FROM {table}")))
        assert conn.execute(text("SELECT count(*) FROM welcome_mails")).scalar() == 1
    assert ADDRESS not in dump and "Léa" not in dump
    assert erased_among(db, [_digest(ADDRESS), _digest("autre@example.org")]) == {_digest(ADDRESS)}


def test_feedback_about_an_erased_address_is_kept_without_it(db: Store) -> None:
    add_subscriber(db, ADDRESS, now=NOW)
    erase_subscriber(db, ADDRESS, _digest(ADDRESS), now=NOW)
    record_feedback(db, _bounce("late", ADDRESS), now=NOW, erased_digest=_digest)
    record_feedback(db, _bounce("stranger", "inconnu@example.org"), now=NOW, erased_digest=_digest)
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT event_id, email, detail FROM feedback_events ORDER BY event_id")).all()
    assert [tuple(r) for r in rows] == [("late", "", ""),
                                        ("stranger", "inconnu@example.org", "452 mailbox of inconnu@example.org full")]


def test_a_welcome_is_claimed_once_and_only_for_an_active_subscriber(db: Store) -> None:
    assert claim_welcome(db, ADDRESS, now=NOW) is None  # unknown
    add_subscriber(db, ADDRESS, now=NOW)
    assert claim_welcome(db, ADDRESS, now=NOW) is not None
    assert claim_welcome(db, ADDRESS, now=NOW) is None
