"""Resends in the store: the uncertain rows reopened with their record in one transaction, who holds a
send, the reason a stopped run leaves on a row in doubt, and migration 0015 (both ways)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, column, insert, select, table, update

from newsletter.store import leases, ledger
from newsletter.store.database import Store, _alembic_config, migrate
from newsletter.store.day_claims import claim_day, set_day_claim
from newsletter.store.models import DayClaimState, Delivery, DeliveryStatus
from newsletter.store.resends import Resend, holder_of, reopen_uncertain, resends_of
from tests.conftest import DAY
from tests.helpers.migrations import database_at, revision_before
from tests.helpers.ledger import mark_sending
from tests.helpers.store import populate

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=60)


def in_doubt(store: Store, send_id: int, sent: int, uncertain: int) -> list[int]:
    """``sent`` rows sent, then ``uncertain`` rows left in doubt by a run that died; their ids."""
    claimed = ledger.claim(store, send_id, "dead", sent + uncertain, NOW)
    mark_sending(store, [c.delivery_id for c in claimed], NOW)
    ledger.record(store, [ledger.Outcome(c.delivery_id, DeliveryStatus.SENT) for c in claimed[:sent]], NOW)
    doubtful = [c.delivery_id for c in claimed[sent:]]
    ledger.settle_in_doubt(store, {key: None for key in doubtful}, NOW)
    return doubtful


def test_a_row_left_in_doubt_says_what_the_ledger_knows(db: Store) -> None:
    send_id = populate(db, 1)
    (key,) = in_doubt(db, send_id, 0, 1)
    with db.session() as session:
        reason = session.scalar(select(Delivery.last_error).where(Delivery.id == key))
    assert reason == ledger.IN_DOUBT_AFTER_A_STOP
    assert "marking it sending and before recording a reply" in reason
    assert "may have reached the server, or not" in reason
    assert "held" not in reason  # the mark is written ahead of the handover: the row may never have left


def test_reopening_flips_only_the_uncertain_rows_and_records_who(db: Store) -> None:
    send_id = populate(db, 5)
    doubtful = in_doubt(db, send_id, 3, 2)
    assert reopen_uncertain(db, send_id, by="Camille Martin", now=NOW + LEASE) == 2
    assert ledger.counts(db, send_id) == {"sent": 3, "pending": 2}
    with db.session() as session:
        rows = session.execute(select(Delivery.status, Delivery.run_id, Delivery.attempts, Delivery.last_error)
                               .where(Delivery.id.in_(doubtful))).all()
    assert all(r.status == "pending" and r.run_id == "" and r.attempts == 1 for r in rows)  # a try is counted once
    assert all("resent on the request of Camille Martin" in r.last_error for r in rows)
    assert resends_of(db, DAY) == [Resend(NOW + LEASE, "Camille Martin", 2)]
    assert reopen_uncertain(db, send_id, by="again", now=NOW + 2 * LEASE) == 0  # nothing left: nothing recorded
    assert len(resends_of(db, DAY)) == 1


def test_who_holds_a_send(db: Store) -> None:
    send_id = populate(db, 2)
    assert holder_of(db, send_id, DAY, NOW) == ""
    leases.acquire(db, "worker", NOW, LEASE, send_id=send_id)
    assert holder_of(db, send_id, DAY, NOW).startswith("1 run(s) work on it now")
    assert holder_of(db, send_id, DAY, NOW + LEASE) == ""  # its lease is over
    leases.end(db, "worker", NOW)
    assert holder_of(db, send_id, DAY, NOW) == ""  # ended
    leases.acquire(db, "scheduler", NOW, LEASE)  # a scheduler's lease names no send: its claim on the day does
    assert claim_day(db, DAY, "scheduler", NOW, LEASE)
    assert holder_of(db, send_id, DAY, NOW) == "the scheduler has claimed the day and may be sending it"
    assert holder_of(db, send_id, DAY, NOW + LEASE) == ""  # the scheduler died: its claim is no one's
    set_day_claim(db, DAY, DayClaimState.DONE, NOW)
    assert holder_of(db, send_id, DAY, NOW) == ""


# -- migration 0015 ----------------------------------------------------------------------------

_OLD_REASON = "the run stopped while the server held this message; not resent to avoid a double send"


def _before_resends() -> str:
    """The revision before the one that adds resends."""
    return revision_before("_send_resends.py")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_before_resends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database migrated to just before resends, with one row in doubt and one failed row of the same words."""
    engine = database_at(request, tmp_path, request.param, _before_resends())
    # The tables as they were then (today's models and ledger name later columns: frequency, 0019; edition, 0025).
    sends = table("sends", column("id"), column("issue_date"), column("subject"), column("created_at"))
    send_id = 1
    people = table("subscribers", column("id"), column("email"), column("first_name"), column("last_name"),
                   column("status"), column("consent_source"), column("created_at"), column("updated_at"))
    rows = table("deliveries", column("id"), column("send_id"), column("subscriber_id"), column("email"),
                 column("status"), column("last_error"), column("created_at"), column("updated_at"))
    naive = NOW.replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(insert(sends).values(id=send_id, issue_date=DAY, subject="Objet",
                                                created_at=NOW.replace(tzinfo=None)))
        for key, status in ((1, "uncertain"), (2, "failed")):
            connection.execute(insert(people).values(id=key, email=f"p{key}@example.org", first_name="", last_name="",
                                                     status="active", consent_source="test", created_at=naive,
                                                     updated_at=naive))
            connection.execute(insert(rows).values(id=key, send_id=send_id, subscriber_id=key,
                                                   email=f"p{key}@example.org", status=status,
                                                   last_error=_OLD_REASON, created_at=naive, updated_at=naive))
    yield engine
    engine.dispose()


def _reasons(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [(r.status, r.last_error) for r in connection.execute(
            select(Delivery.status, Delivery.last_error).order_by(Delivery.id))]


def test_migration_0015_tells_the_truth_about_old_rows_in_doubt_and_goes_back(engine_before_resends: Engine) -> None:
    engine = engine_before_resends
    migrate(engine)
    assert _reasons(engine) == [("uncertain", ledger.IN_DOUBT_AFTER_A_STOP), ("failed", _OLD_REASON)]
    assert resends_of(Store(engine), DAY) == []
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, _before_resends())
    assert _reasons(engine) == [("uncertain", _OLD_REASON), ("failed", _OLD_REASON)]
