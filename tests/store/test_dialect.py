"""The one place PostgreSQL and SQLite differ: each gets its own INSERT … ON CONFLICT, anything else a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, create_mock_engine, text
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.errors import ConfigError, StoreError, StoreUnavailable
from newsletter.store import dialect
from newsletter.store.database import open_store
from newsletter.store.models import Alert


@pytest.mark.parametrize(("url", "expected"), [("sqlite://", sqlite.Insert), ("postgresql://", postgresql.Insert)])
def test_each_database_gets_the_insert_of_its_dialect(url: str, expected: type) -> None:
    bind: Any = create_mock_engine(url, executor=None)  # type: ignore[arg-type]
    statement = dialect.insert(bind, Alert.__table__).on_conflict_do_nothing()
    assert isinstance(statement, expected)
    assert "ON CONFLICT DO NOTHING" in str(statement.compile(dialect=bind.dialect))


def test_another_database_is_refused_naming_the_setting() -> None:
    bind: Any = create_mock_engine("mysql://", executor=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"\[store\] url names a mysql database"):
        dialect.insert(bind, Alert.__table__)



def test_a_commit_without_flush_is_for_its_own_transaction_only(server_url: str) -> None:
    """The send's marks do not wait for PostgreSQL's disk; the transactions after them do again."""
    store = open_store(server_url, Path("."))
    try:
        with store.transaction() as conn, dialect.driver_cursor(conn) as cursor:
            dialect.commit_without_flush(cursor, conn)
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("off",)
        with store.transaction() as conn:  # the same pooled connection, the next transaction
            assert conn.scalar(text("SHOW synchronous_commit")) == "on"
    finally:
        store.close()


def test_a_connection_lost_under_the_drivers_cursor_is_replaced_for_the_next_write(server_url: str) -> None:
    """A write on the driver's cursor that finds its connection gone fails with StoreUnavailable (which the
    send waits out, database.patiently, as for its other statements), and the pool drops that connection: the next write gets a new one (as SQLAlchemy does for its own statements)."""
    store = open_store(server_url, Path("."))
    admin = create_engine(server_url)
    try:
        with store.transaction() as conn:
            pid = conn.scalar(text("SELECT pg_backend_pid()"))
        with admin.begin() as other:  # what a server restart or an idle timeout does to a pooled connection
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(StoreUnavailable, match="the database cannot be reached"):
            with store.transaction() as conn, dialect.driver_cursor(conn) as cursor:
                cursor.execute("SELECT 1")
        with store.transaction() as conn, dialect.driver_cursor(conn) as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone() != (pid,)
    finally:
        admin.dispose()
        store.close()
