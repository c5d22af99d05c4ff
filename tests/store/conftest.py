"""A PostgreSQL server on 127.0.0.1 shared by the store's PostgreSQL tests (started once, when first asked),
and ``db``: a fresh store on SQLite, then on that server."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import text

from newsletter.store.database import Store, open_store
from tests.pg import PostgreSQL, binaries


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    if binaries() is None:
        pytest.skip("PostgreSQL server binaries not installed (`make test` installs them)")
    server = PostgreSQL()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store: a new SQLite file, or the shared PostgreSQL database emptied of earlier tests' rows."""
    if request.param == "sqlite":
        store = open_store("sqlite:///state/newsletter.db", tmp_path)
    else:
        store = open_store(request.getfixturevalue("server_url"), tmp_path)
        with store.engine.begin() as conn:
            conn.execute(text("TRUNCATE feedback_events, send_pauses, deliveries, sends, subscribers "
                              "RESTART IDENTITY CASCADE"))
    yield store
    store.close()
