"""A store in a test: broken database files, a status read in the live file, a ledger filled with rows."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy import insert

from newsletter.store import ledger
from newsletter.store.database import Store, open_store
from newsletter.store.models import Subscriber
from newsletter.store.subscribers import find_subscriber
from tests.conftest import DAY
from tests.helpers.clock import NOW


def break_files(project: Path, fault: str) -> None:
    """What was seen under a running server: the -wal deleted, a backup moved over the file, the file deleted."""
    db = project / "state" / "newsletter.db"
    if fault == "wal deleted":
        db.with_name(db.name + "-wal").unlink()
    elif fault == "file replaced":
        copy = project / "copy.db"
        with contextlib.closing(sqlite3.connect(db)) as source, contextlib.closing(sqlite3.connect(copy)) as target:
            source.backup(target)
        os.replace(copy, db)
    else:
        for path in (project / "state").iterdir():
            path.unlink()


def status_in_the_live_file(project: Path, address: str) -> str | None:
    fresh = open_store("sqlite:///state/newsletter.db", project)
    try:
        person = find_subscriber(fresh, address)
        return person.status if person else None
    finally:
        fresh.close()


def populate(store: Store, n: int) -> int:
    with store.engine.begin() as conn:
        conn.execute(insert(Subscriber.__table__), [  # type: ignore[arg-type]
            {"email": f"p{i}@example.org", "first_name": "", "last_name": "", "status": "active",
             "consent_source": "test", "created_at": NOW, "updated_at": NOW} for i in range(n)])
    send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
    ledger.enqueue(store, send_id, NOW)
    return send_id
