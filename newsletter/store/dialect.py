"""The one place where PostgreSQL and SQLite differ for the store.

Everything else in ``newsletter/store`` writes portable SQLAlchemy and asks here when the
two databases need different words: the INSERT that offers ``ON CONFLICT``, SQLite's
connection pragmas and its single writer, PostgreSQL's ``SKIP LOCKED`` claims, its named constraints in migrations,
its commits that need not wait for the disk.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy import Connection, Engine, select

from newsletter.errors import ConfigError, StoreError, StoreUnavailable

#: The SQLAlchemy dialect module whose ``insert`` offers ``ON CONFLICT``, by database: resolved by name, from the
#: module the engine itself loaded (a SQLite store never loads PostgreSQL's, a fifth of SQLAlchemy's import).
_INSERTS = {"postgresql": "sqlalchemy.dialects.postgresql", "sqlite": "sqlalchemy.dialects.sqlite"}


def name(bind: Engine | Connection) -> str:
    """``"sqlite"`` or ``"postgresql"``: the databases the store runs on."""
    return bind.dialect.name


def is_sqlite(bind: Engine | Connection) -> bool:
    return name(bind) == "sqlite"


def is_postgresql(bind: Engine | Connection) -> bool:
    return name(bind) == "postgresql"


def insert(bind: Engine | Connection, table: Any) -> Any:
    """An INSERT that offers ``on_conflict_do_nothing``/``on_conflict_do_update`` on this database.

    :raises ConfigError: for a database other than SQLite or PostgreSQL.
    """
    try:
        return importlib.import_module(_INSERTS[name(bind)]).insert(table)
    except KeyError:
        raise ConfigError(f"newsletter.toml: [store] url names a {name(bind)} database; the store runs on "
                          "SQLite and PostgreSQL only", hint='use e.g. "sqlite:///state/newsletter.db"') from None


def rows_to_claim(bind: Engine | Connection, query: Any) -> Any:
    """The ids ``query`` (a SELECT of one id column, with its LIMIT) picks, for ``id IN (…)`` of a claim.

    PostgreSQL: picked ``FOR UPDATE SKIP LOCKED`` in a CTE evaluated once (``MATERIALIZED``), so that
    workers claiming at once each get other rows instead of queueing on the same ones, and the LIMIT
    holds (a subquery under ``IN`` may be run again and pick more rows). SQLite has one writer at a
    time: the query as it is.
    """
    if not is_postgresql(bind):
        return query.scalar_subquery()
    due = query.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
    return select(due.c[0])


def commit_without_flush(cursor: Any, conn: Connection) -> None:
    """Let the transaction under way on ``conn`` commit without waiting for the disk (PostgreSQL:
    ``synchronous_commit = off`` for it alone; SQLite in WAL mode with ``synchronous=NORMAL`` never waits).

    The commit is seen by every session at once and survives a crash of the process that made it
    (the sender's ``kill -9``): the server holds it. Only a crash of the database server itself, or of
    the machine, may lose the last such commits (PostgreSQL: at most three ``wal_writer_delay``, 0.6 s
    by default); the next commit that waits for the disk makes them durable too.

    :param cursor: from :func:`driver_cursor` on ``conn``.
    """
    if is_postgresql(conn):
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """The driver's own cursor on ``conn``'s connection, for :class:`Prepared` statements; on PostgreSQL
    in pipeline mode, so that the statements of the block go to the server together (one round trip,
    not one each). The driver's errors come out as :class:`StoreError`; a connection they show lost
    is dropped from the pool, as SQLAlchemy's own execution does."""
    driver = conn.connection.driver_connection
    pipeline = driver.pipeline() if is_postgresql(conn) else nullcontext()  # type: ignore[union-attr]
    try:
        with pipeline:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                yield cursor
            finally:
                cursor.close()
    except conn.dialect.loaded_dbapi.Error as err:
        if conn.dialect.is_disconnect(err, conn.connection.dbapi_connection, None):
            conn.invalidate(err)
            raise StoreUnavailable(f"the database cannot be reached: {(str(err).strip().splitlines() or [err.__class__.__name__])[0]}",
                                   hint="start the database server (or fix the network to it)") from err
        raise StoreError(f"the database refused an operation: {err.__class__.__name__}: {err}") from err


def rows_changed(conn: Connection, cursor: Any) -> int:
    """How many rows the last statement run on ``cursor`` changed, once the server has answered (in
    PostgreSQL's pipeline mode the answers come at a sync: one more round trip)."""
    if is_postgresql(conn):
        with conn.connection.driver_connection.pipeline() as pipeline:  # type: ignore[union-attr]
            pipeline.sync()
    return max(int(cursor.rowcount), 0)


class Prepared:
    """A statement compiled once per database and run on the driver's own cursor (:func:`driver_cursor`).

    The send writes the ledger before every message (its mark, the outcome before it); through
    SQLAlchemy's execution each statement costs several times what the driver takes to run it.
    Values go through the statement's column types as SQLAlchemy would pass them (aware UTC
    datetimes stored naive, SQLite's datetime text).
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, list[str] | None, dict[str, Any], dict[str, Callable[[Any], Any]]]] = {}

    def _for(self, conn: Connection) -> tuple[str, list[str] | None, dict[str, Any], dict[str, Callable[[Any], Any]]]:
        found = self._compiled.get(name(conn))
        if found is None:
            dialect = conn.dialect
            compiled = self.statement.compile(dialect=dialect)
            binds = {compiled.bind_names[bind]: bind for bind in compiled.binds.values()}
            processors = {key: process for key, bind in binds.items()
                          if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
            order = list(compiled.positiontup or ()) if compiled.positional else None
            found = (compiled.string, order, {key: bind.value for key, bind in binds.items()}, processors)
            self._compiled[name(conn)] = found
        return found

    def run(self, conn: Connection, cursor: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row of parameters (one executemany)."""
        if not rows:
            return
        sql, order, fixed, processors = self._for(conn)
        args: list[Any] = []
        for row in rows:
            values = {**fixed, **row}
            for key, process in processors.items():
                values[key] = process(values[key])
            args.append(values if order is None else [values[key] for key in order])
        cursor.executemany(sql, args)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Set up each new SQLite connection (the ``connect`` event)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the sender
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash, fast commits
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")  # wait for another process instead of failing
    cursor.close()


@contextmanager
def planned_each_time(conn: Connection) -> Iterator[None]:
    """Plan every statement on ``conn`` afresh while the block runs (PostgreSQL; nothing to do on SQLite).

    psycopg prepares a statement run five times, and PostgreSQL may then keep one generic plan for
    it. A transaction that grows a table by a million rows must not keep a plan made while the
    table was empty: the import's lookup of a chunk's addresses became a scan of the whole table,
    each row compared with the thousand addresses (a 1,000,000-row import took most of an hour).
    """
    if not is_postgresql(conn):
        yield
        return
    raw = conn.connection.dbapi_connection
    before = raw.prepare_threshold  # type: ignore[union-attr]
    raw.prepare_threshold = None  # type: ignore[union-attr]
    try:
        yield
    finally:
        raw.prepare_threshold = before  # type: ignore[union-attr]
