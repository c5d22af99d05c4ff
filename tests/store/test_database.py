"""The SQLite store never writes into a database file (or write-ahead log) that was deleted or replaced."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.errors import StoreError
from newsletter.store.database import Store, open_store
from newsletter.store.subscribers import add_subscriber, find_subscriber, unsubscribe
from tests.helpers.children import python_env

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


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


@pytest.mark.parametrize("fault", ["wal deleted", "file replaced", "file deleted"])
def test_a_write_after_the_files_changed_fails_instead_of_going_nowhere(project: Path, store: Store,
                                                                        fault: str) -> None:
    for address in ("lea@example.org", "paul@example.org"):
        add_subscriber(store, address, now=NOW)
    assert find_subscriber(store, "lea@example.org")  # the pool holds a connection to the files
    break_files(project, fault)
    with pytest.raises(StoreError, match="not recorded|nothing was written"):
        unsubscribe(store, "lea@example.org", now=NOW)
    if fault == "file deleted":
        with pytest.raises(StoreError, match="has disappeared"):
            unsubscribe(store, "paul@example.org", now=NOW)
        assert not (project / "state" / "newsletter.db").exists()  # not recreated empty
        return
    unsubscribe(store, "paul@example.org", now=NOW)  # the next connection opens the files now there
    assert status_in_the_live_file(project, "paul@example.org") == "unsubscribed"
    assert status_in_the_live_file(project, "lea@example.org") == "active"


def test_opening_a_store_whose_schema_is_current_leaves_alembic_unloaded(tmp_path: Path) -> None:
    """Every command opens the store: when nothing is to migrate, Alembic's import (a fifth of a second)
    is not paid; a new database is still migrated by it."""
    probe = ("import sys; from pathlib import Path; from newsletter.store.database import open_store; "
             "open_store('sqlite:///state/newsletter.db', Path(sys.argv[1])); print('alembic' in sys.modules)")
    env = python_env()
    runs = [subprocess.run([sys.executable, "-c", probe, str(tmp_path)], env=env, capture_output=True, text=True,
                           check=True, timeout=120).stdout.split() for _ in range(2)]
    assert runs == [["True"], ["False"]]


def test_the_migration_files_head_read_as_text_is_alembics_head() -> None:
    """The start-up check reads the head from the files; alembic must agree (else every start migrates)."""
    from alembic.script import ScriptDirectory

    from newsletter.store.database import _alembic_config, _plain_head

    assert _plain_head() == ScriptDirectory.from_config(_alembic_config()).get_current_head()
