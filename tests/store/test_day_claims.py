"""The scheduler's claim on each day: taken once, by one run while its lease lives; and the migration
that renamed its table from ``dispatches`` to ``day_claims`` keeping the rows, both ways."""

from __future__ import annotations

import os
import socket
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from newsletter.store import dialect, leases
from newsletter.store.database import Store, _alembic_config, migrate
from newsletter.store.day_claims import claim_day, day_claim, set_day_claim, waiting_since
from newsletter.store.models import DayClaimState
from tests.conftest import DAY
from tests.helpers.migrations import database_at, revision_before

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=60)


@pytest.mark.parametrize("holder", ["leased", "same host and PID, no lease"])
def test_a_day_claimed_by_a_scheduler_is_taken_only_once_its_lease_expires(store: Store, holder: str) -> None:
    first = f"{socket.gethostname()}:{os.getpid()}:first"  # a PID that looks alive proves nothing
    if holder == "leased":
        leases.acquire(store, first, NOW, LEASE)
    assert claim_day(store, DAY, first, NOW, LEASE)
    assert not claim_day(store, DAY, "second", NOW + timedelta(seconds=59), LEASE)
    assert claim_day(store, DAY, "second", NOW + timedelta(seconds=60), LEASE)
    claim = day_claim(store, DAY)
    assert claim is not None and claim.run_id == "second" and claim.state is DayClaimState.CLAIMED


def test_a_day_done_is_never_claimed_again(store: Store) -> None:
    set_day_claim(store, DAY, DayClaimState.DONE, NOW)
    assert not claim_day(store, DAY, "late", NOW + timedelta(days=1), LEASE)
    claim = day_claim(store, DAY)
    assert claim is not None and claim.state is DayClaimState.DONE


def test_waiting_since_finds_only_the_days_left_with_that_reason_in_time(store: Store) -> None:
    set_day_claim(store, DAY, DayClaimState.WAITING, NOW, reason="interrupted by a stop: 3 pending")
    set_day_claim(store, DAY - timedelta(days=1), DayClaimState.WAITING, NOW, reason="failing: check")
    set_day_claim(store, DAY - timedelta(days=2), DayClaimState.WAITING, NOW - timedelta(hours=2),
                  reason="interrupted by a stop: 1 pending")
    set_day_claim(store, DAY - timedelta(days=3), DayClaimState.DONE, NOW, reason="interrupted by a stop")
    assert waiting_since(store, "interrupted by a stop", NOW - timedelta(hours=1)) == [(DAY, NOW)]


# -- the migration that renamed dispatches to day_claims ------------------------------------


def _before_rename() -> str:
    """The revision before the one that renamed the table."""
    return revision_before("_day_claims.py")


ROWS = [(date(2026, 11, 23), "done", "run-a", ""), (date(2026, 11, 24), "waiting", "", "failing: `check`")]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_before_rename(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database migrated to just before the rename, holding two scheduler rows."""
    engine = database_at(request, tmp_path, request.param, _before_rename())
    with engine.begin() as connection:
        for day, state, run, reason in ROWS:
            connection.execute(text("INSERT INTO dispatches (issue_date, state, run_id, reason, updated_at) "
                                    "VALUES (:d, :s, :r, :why, :t)"),
                               {"d": day, "s": state, "r": run, "why": reason, "t": datetime(2026, 11, 24, 6, 0)})
    yield engine
    engine.dispose()


def _rows(engine: Engine, table: str) -> list[tuple[date, str, str, str]]:
    with engine.connect() as connection:
        found = connection.execute(text(f"SELECT issue_date, state, run_id, reason FROM {table} ORDER BY issue_date"))
        return [(date.fromisoformat(str(d)), s, r, why) for d, s, r, why in found]


def test_the_rename_migration_keeps_the_rows_both_ways(engine_before_rename: Engine) -> None:
    engine = engine_before_rename
    migrate(engine)
    tables = inspect(engine).get_table_names()
    assert "day_claims" in tables and "dispatches" not in tables
    assert _rows(engine, "day_claims") == ROWS
    if dialect.is_postgresql(engine):  # the primary key's constraint and index follow the table's name
        assert inspect(engine).get_pk_constraint("day_claims")["name"] == "day_claims_pkey"
    store = Store(engine)
    claim = day_claim(store, date(2026, 11, 23))
    assert claim is not None and claim.state is DayClaimState.DONE and claim.run_id == "run-a"
    assert claim.updated_at == datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, _before_rename())
    tables = inspect(engine).get_table_names()
    assert "dispatches" in tables and "day_claims" not in tables
    assert _rows(engine, "dispatches") == ROWS
    if dialect.is_postgresql(engine):
        assert inspect(engine).get_pk_constraint("dispatches")["name"] == "dispatches_pkey"
