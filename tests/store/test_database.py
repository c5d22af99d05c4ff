"""The SQLite store never writes into a database file (or write-ahead log) that was deleted or replaced."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text, update

from newsletter.errors import StoreError
from newsletter.store.database import Store, open_store
from newsletter.store.models import Subscriber
from newsletter.store.subscribers import add_subscriber, find_subscriber, unsubscribe
from tests.helpers.children import python_env
from tests.helpers.store import break_files, status_in_the_live_file

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


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


def _leave(store: Store, address: str) -> None:
    """An unsubscribe written through :meth:`Store.transaction` (the send's path), not a session."""
    table = Subscriber.__table__
    with store.transaction() as conn:
        conn.execute(update(table).where(table.c.email == address).values(status="unsubscribed"))


@pytest.mark.parametrize("fault", ["wal deleted", "file replaced", "file deleted"])
def test_a_transaction_after_the_files_changed_fails_though_its_connection_is_kept(project: Path, store: Store,
                                                                                   fault: str) -> None:
    """SQLite's transactions reuse one connection rather than checking one out each time: it is checked
    before each use as a checkout is, and one that failed is dropped for a fresh one."""
    for address in ("lea@example.org", "paul@example.org", "ines@example.org"):
        add_subscriber(store, address, now=NOW)
    _leave(store, "ines@example.org")  # the kept connection holds the files
    break_files(project, fault)
    with pytest.raises(StoreError, match="not recorded|nothing was written"):
        _leave(store, "lea@example.org")
    if fault == "file deleted":
        with pytest.raises(StoreError, match="has disappeared"):
            _leave(store, "paul@example.org")
        assert not (project / "state" / "newsletter.db").exists()
        return
    _leave(store, "paul@example.org")
    assert status_in_the_live_file(project, "paul@example.org") == "unsubscribed"
    assert status_in_the_live_file(project, "lea@example.org") == "active"


def test_sqlite_transactions_take_turns_on_one_connection(store: Store) -> None:
    """The send writes a transaction before every message; taking a connection from the pool for each cost
    more than the write itself."""
    checkouts: list[object] = []
    event.listen(store.engine, "checkout", lambda *_: checkouts.append(None))
    add_subscriber(store, "lea@example.org", now=NOW)
    checkouts.clear()
    for _ in range(20):
        _leave(store, "lea@example.org")
    assert len(checkouts) <= 1


def test_a_failed_transaction_is_rolled_back_and_the_next_one_works(store: Store) -> None:
    table = Subscriber.__table__
    add_subscriber(store, "lea@example.org", now=NOW)
    with pytest.raises(StoreError, match="refused"):
        with store.transaction() as conn:
            conn.execute(update(table).values(status="unsubscribed"))
            conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
    with store.transaction() as conn:
        assert conn.scalar(select(table.c.status)) == "active"
        with store.transaction() as inner:  # a nested transaction takes a connection of its own
            assert inner.scalar(select(func.count()).select_from(table)) == 1


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


def _make_unwritable(path: Path) -> str:
    """Make ``path`` unwritable even for root: the immutable flag as root (CAP_LINUX_IMMUTABLE), the mode
    otherwise; "" when done, else why it cannot be done here."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return ""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    return "" if done.returncode == 0 else f"chattr +i is not allowed here: {done.stderr.strip()[:200]}"


@pytest.mark.parametrize("suffix", ["-shm", "-wal"])
def test_an_unwritable_write_ahead_log_is_named_before_sqlite_maps_it(project: Path, suffix: str) -> None:
    """`chattr +i` on the -wal or -shm of a store in use (a backup tool, a hardening script): a command
    ends with a message naming the file and how to fix it, never SIGBUS or SQLite's "readonly database"."""
    store = open_store("sqlite:///state/newsletter.db", project)
    add_subscriber(store, "camille@example.org", now=NOW)
    db = project / "state" / "newsletter.db"
    holder = sqlite3.connect(db)  # another process's connection: the -wal and -shm files stay
    target = db.with_name(db.name + suffix)
    try:
        holder.execute("SELECT count(*) FROM subscribers").fetchall()
        assert target.exists()
        why = _make_unwritable(target)
        if why:
            pytest.skip(why)
        env = {**os.environ, "NEWSLETTER_SECRET_KEY": "test-key-5Qm2vXr8Lk0pWz7Hn3Tb6Yc1Jd9Fg4Se"}
        done = subprocess.run([sys.executable, "-m", "newsletter", "-C", str(project), "subscribers", "add",
                               "dominique@example.org"], capture_output=True, text=True, env=env, timeout=120)
        with pytest.raises(StoreError, match="cannot be written"):
            add_subscriber(store, "alex@example.org", now=NOW)  # a store opened before: its next checkout
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(target)], capture_output=True)
        target.chmod(0o644)
        holder.close()
        store.close()
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert f"file {target} cannot be written" in done.stderr and "chattr -i" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
