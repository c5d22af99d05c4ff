"""``db``: a fresh store on SQLite, then on the suite's PostgreSQL server (``server_url``, tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import text

from newsletter.store.database import Store, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store: a new SQLite file, or the shared PostgreSQL database emptied of earlier tests' rows."""
    if request.param == "sqlite":
        store = open_store("sqlite:///state/newsletter.db", tmp_path)
    else:
        store = open_store(request.getfixturevalue("server_url"), tmp_path)
        with store.engine.begin() as conn:
            conn.execute(text("TRUNCATE feedback_events, send_pauses, deliveries, sends, subscribers, leases, "
                              "day_claims RESTART IDENTITY CASCADE"))
    yield store
    store.close()
