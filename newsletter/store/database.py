"""Open the store: an SQLAlchemy engine on the configured URL, migrated to the current schema.

SQLite is the embedded default (``sqlite:///state/newsletter.db``, relative to the project);
the same code runs on PostgreSQL (``postgresql+psycopg://…``). Migrations (Alembic, in
``newsletter/store/migrations``) are applied when the store is opened, inside a transaction,
so an interrupted upgrade leaves the previous schema intact.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import ConfigError, StoreError, StoreUnavailable
from newsletter.store import dialect

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)


class _DroppedConnection(logging.Filter):
    """SQLAlchemy's pool logs a traceback when it cannot reset a connection the server has just closed (a
    database restarting or stopped): the connection is discarded and the run says what happened in its
    own words, so the pool's record becomes one line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage().startswith("Exception during reset"):
            error = record.exc_info[1]
            lines = str(error).strip().splitlines() if error is not None else []
            record.msg, record.args = "a database connection closed by the server was dropped: %s", (
                lines[0] if lines else type(error).__name__,)
            record.exc_info, record.exc_text, record.levelno, record.levelname = None, None, logging.WARNING, "WARNING"
        return True


for _pool in ("QueuePool", "AsyncAdaptedQueuePool", "NullPool", "SingletonThreadPool", "StaticPool"):
    logging.getLogger(f"sqlalchemy.pool.impl.{_pool}").addFilter(_DroppedConnection())  # a record's own logger

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Store:
    """The database of one project: an engine and a session factory. Pass it explicitly."""

    def __init__(self, engine: Engine, *, guard: "FileGuard | None" = None) -> None:
        self.engine = engine
        self.guard = guard
        #: Which ``[[hooks]]`` receivers (urls) want each event type; set when the project opens the store.
        self.hooks: Mapping[str, tuple[str, ...]] = {}
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a thread that finds the database locked sleeps
        # in its busy handler for milliseconds; taking turns on a lock inside the process
        # hands the database over at once (measured: 2.5x faster sends with three connections).
        self._turn: AbstractContextManager[Any] = threading.RLock() if self.is_sqlite else nullcontext()
        #: SQLite: the connection every :meth:`transaction` uses in turn (under ``_turn``), and the process that opened it.
        self._kept: tuple[Connection, int] | None = None

    @property
    def is_sqlite(self) -> bool:
        return dialect.is_sqlite(self.engine)

    def insert(self, table: Any) -> Any:
        """An INSERT in this database's dialect, the one that offers ``ON CONFLICT`` on PostgreSQL and
        SQLite alike (``on_conflict_do_nothing``/``_do_update``); see :mod:`newsletter.store.dialect`."""
        return dialect.insert(self.engine, table)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on error."""
        with self._turn:
            session = self._sessions()
            try:
                yield session
                opened = self.guard.opened_by(session) if self.guard and session.in_transaction() else None
                session.commit()
                if opened is not None and self.guard is not None:
                    self.guard.committed(opened)
            except SQLAlchemyError as err:
                session.rollback()
                raise self._refused(err) from err
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def _unreachable(self, err: SQLAlchemyError) -> bool:
        """Whether ``err`` says the server cannot be reached now (restarting, a cut connection), not that it
        refused the statement. SQLite has no server: its operational errors (a lock, a full disk) are not that."""
        if self.is_sqlite or not isinstance(err, DBAPIError):
            return False
        return err.connection_invalidated or isinstance(err, (OperationalError, InterfaceError))

    def _refused(self, err: SQLAlchemyError) -> StoreError:
        """The error to raise for ``err``: :class:`StoreUnavailable` when the server cannot be reached (which
        :func:`patiently` waits out), a :class:`StoreError` when it refused the operation."""
        if self._unreachable(err):
            return StoreUnavailable(f"the database cannot be reached: {_first_line(err)}",
                                    hint="start the database server (or fix the network to it)")
        return StoreError(f"the database refused an operation: {err.__class__.__name__}: "
                          f"{err.orig if hasattr(err, 'orig') else err}")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction on a plain connection, as :meth:`session` (committed when the block ends, rolled
        back on error, the same checks), without the ORM's bookkeeping: the send's writes of each message
        (its mark, its outcome) go through it, several times cheaper than a session.

        On SQLite, which has one writer at a time, the transactions take turns on one kept connection
        (:meth:`_keep`) instead of taking one from the pool each time: a checkout cost more than the
        write of a message's mark. A connection that failed is dropped; the next transaction opens another.
        """
        with self._turn:
            kept = self._keep() if self.is_sqlite else None
            connection = kept or self._connect()
            try:
                connection.begin()  # also for statements run on the driver's cursor (dialect.Prepared)
                yield connection
                opened = connection.connection.info.get("files") if self.guard else None
                connection.commit()
                if opened is not None and self.guard is not None:
                    self.guard.committed(opened)
            except SQLAlchemyError as err:
                self._give_up(connection, kept)
                raise self._refused(err) from err
            except BaseException:
                self._give_up(connection, kept)
                raise
            finally:
                if kept is None:
                    connection.close()

    def _keep(self) -> Connection | None:
        """The kept SQLite connection, checked as a checkout from the pool is (:class:`FileGuard`); None while a
        transaction of this thread is already under way on it (a nested one takes its own from the pool)."""
        if self._kept is not None and (self._kept[1] != os.getpid() or self._kept[0].invalidated):
            self._kept = None  # a forked child never writes through its parent's handle
        if self._kept is None:
            self._kept = (self._connect(), os.getpid())
            return self._kept[0]
        connection = self._kept[0]
        if connection.in_transaction():
            return None
        if self.guard is not None:
            try:
                self.guard.verify(connection.connection.info)
            except StoreError:
                self._drop_kept()
                raise
        return connection

    def _give_up(self, connection: Connection, kept: Connection | None) -> None:
        """Roll back after an error; a kept connection is dropped with it (the next transaction opens another)."""
        try:
            connection.rollback()
        finally:
            if kept is not None:
                self._drop_kept()

    def _drop_kept(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            try:
                kept[0].invalidate()
            finally:
                kept[0].close()

    def _connect(self) -> Connection:
        """A connection from the pool; the server being unreachable is :class:`StoreUnavailable`, as in a session."""
        try:
            return self.engine.connect()
        except SQLAlchemyError as err:
            raise self._refused(err) from err

    def close(self) -> None:
        with self._turn:
            if self._kept is not None and self._kept[1] == os.getpid():
                self._kept[0].close()
            self._kept = None
        self.engine.dispose()


T = TypeVar("T")
#: The longest pause between two tries of :func:`patiently`.
MAX_PAUSE = 5.0


def patiently(call: Callable[[], T], *, patience: float) -> T:
    """``call()``, tried again with a growing pause (0.2 s, doubling up to :data:`MAX_PAUSE`) while the store
    cannot be reached, for at most ``patience`` seconds: a database restart does not end a send.

    A try whose commit was cut may have been written: the callers' writes are conditional, so that
    writing them twice changes nothing (see :func:`newsletter.store.ledger.record`).

    :raises StoreUnavailable: when the store is still unreachable after ``patience`` seconds.
    """
    deadline = time.monotonic() + patience
    pause = 0.2
    while True:
        try:
            return call()
        except StoreUnavailable as err:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreUnavailable(f"{err} (still after {patience:.0f} s)", hint=err.hint) from err
            log.warning("%s; trying again in %.1f s", err, min(pause, left))
            time.sleep(min(pause, left))
            pause = min(pause * 2, MAX_PAUSE)


def _first_line(err: SQLAlchemyError) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else err.__class__.__name__


class FileGuard:
    """Keeps an SQLite store on the files it opened: a write never goes into a deleted or replaced file.

    SQLite writes through its open handles after the database file or its ``-wal`` was deleted
    or replaced (a restore over a running service, a careless cleanup, another process that
    wrongly believed it was the last one): the writes land in a file nobody will read again,
    and a web unsubscribe would be acknowledged and lost. Each connection remembers the files
    (device, inode) it opened. A checkout that finds other files at those paths fails with a
    :class:`StoreError` (the request gets an error, never a false "done"), and the pool closes
    that connection, so the next one opens what is there now; a database file that is gone is
    refused rather than recreated empty. A commit is checked the same way once it is done.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wal = path.with_name(path.name + "-wal")
        self.shm = path.with_name(path.name + "-shm")

    def writable(self) -> None:
        """Refuse to let SQLite use a ``-wal`` or ``-shm`` file it cannot write (immutable, read-only, a
        read-only mount) or a folder where it cannot make them: it maps the ``-shm`` file into memory,
        and one it cannot extend kills the process with SIGBUS, or fails with a message naming no file.

        :raises StoreError: naming the file and what to do.
        """
        for path in (self.wal, self.shm):
            # Asked with access(2), never by opening the file: closing any descriptor of it would drop the
            # POSIX locks SQLite's own connections in this process hold on it, and another process could
            # then reset the -shm file under their mapping (SIGBUS).
            if not os.path.lexists(path) or os.access(path, os.W_OK):
                continue
            raise StoreError(f"the database's {path.name.rsplit('-', 1)[1]} file {path} cannot be written; nothing "
                             "was done", hint="make it writable again (`lsattr` shows an immutable flag, removed with "
                             "`chattr -i`; check its owner and mode, and that its disk is not mounted read-only), "
                             "then try again")
        if not os.access(self.path.parent, os.W_OK):
            raise StoreError(f"the folder of the database {self.path.parent} cannot be written; SQLite keeps its "
                             "write-ahead log there; nothing was done",
                             hint="make the folder writable (owner, mode, `chattr -i`, a read-only mount)")

    def _files(self) -> tuple[tuple[int, int], tuple[int, int] | None]:
        try:
            db = os.stat(self.path)
        except FileNotFoundError:
            raise StoreError(f"the database file {self.path} has disappeared while the store was open; nothing "
                             "was written", hint="restore the file (or its backup) there, then restart the service") \
                from None
        try:
            wal = os.stat(self.wal)
        except FileNotFoundError:
            return (db.st_dev, db.st_ino), None
        return (db.st_dev, db.st_ino), (wal.st_dev, wal.st_ino)

    def install(self, engine: Engine) -> None:
        event.listen(engine, "do_connect", self._before_connect)
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "checkout", self._on_checkout)

    def _before_connect(self, _dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        self._files()  # never let SQLite create an empty database where the real one was
        self.writable()  # before SQLite maps the -shm file

    def _on_connect(self, _dbapi_connection: Any, record: Any) -> None:
        record.info["files"] = self._files()

    def _on_checkout(self, _dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        self.verify(record.info)

    def verify(self, info: dict[str, Any]) -> None:
        """Before a connection is used: its files are still the ones at the paths, and writable (made unwritable
        while the store is open: chattr +i on a running service). ``info``: the connection's own."""
        info["files"] = self.check(info.get("files"))
        self.writable()

    def check(self, opened: tuple[tuple[int, int], tuple[int, int] | None] | None
              ) -> tuple[tuple[int, int], tuple[int, int] | None]:
        """The files now at the paths; a :class:`StoreError` if they are not the ones ``opened``."""
        now = self._files()
        if opened is None:
            return now
        if now[0] != opened[0]:
            raise StoreError(f"the database file {self.path} was replaced while the store was open; this operation "
                             "was not recorded", hint="try again (the new file is opened); to restore a backup, "
                                                      "stop the services first")
        if opened[1] is not None and now[1] != opened[1]:
            raise StoreError(f"the write-ahead log {self.wal} was deleted or replaced while the store was open; "
                             "this operation was not recorded", hint="try again; make sure nothing deletes the "
                                                                     "-wal and -shm files of a database in use")
        return opened if opened[1] is not None else now

    def opened_by(self, session: Session) -> Any:
        """The files the session's connection opened (call before the commit)."""
        return session.connection().connection.info.get("files")

    def committed(self, opened: Any) -> None:
        """Fail when the files that took the commit are no longer the ones at the paths."""
        self.check(opened)


def _resolve(url: str, root: Path) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise ConfigError(f"newsletter.toml: [store] url {url!r} is not a database URL; "
                          'use e.g. "sqlite:///state/newsletter.db"') from err
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            path = root / path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create the folder of the store {path.parent}: {err.strerror}",
                             hint="check [store] url in newsletter.toml") from err
        return str(parsed.set(database=str(path)))
    return url


def _alembic_config() -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


_REVISION_LINE = re.compile(r'^(revision|down_revision)\s*=\s*(?:"([^"]*)"|None)\s*$', re.MULTILINE)


def _plain_head() -> str | None:
    """The newest revision, read from the migration files' ``revision``/``down_revision`` lines
    (None when they do not name exactly one head plainly; Alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        found = dict((key, value) for key, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if not found.get("revision"):
            return None
        revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _is_current(engine: Engine) -> bool:
    """Whether the database already holds the newest schema, asked without Alembic (whose import
    costs a fifth of a second to every command on a store that is up to date)."""
    head = _plain_head()
    if head is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is current)."""
    if _is_current(engine):
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return
    log.info("migrating the store from %s to %s", current or "an empty database", head)
    with engine.connect() as connection:
        sqlite = dialect.is_sqlite(engine)
        enforced = sqlite and bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())
        if enforced:  # SQLite rebuilds a table to change its constraints: with foreign keys on, dropping
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # `sends` would delete its ledger
        connection.commit()  # PRAGMA foreign_keys is a no-op inside a transaction: it ends here
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise StoreError("the migration left rows pointing at nothing; nothing was changed")
        finally:
            if enforced:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def open_store(url: str, root: Path) -> Store:
    """Open (creating and migrating if needed) the store at ``url``.

    :param root: the project folder; relative SQLite paths are taken from it.
    :raises ConfigError: for a malformed URL or a missing database driver.
    :raises StoreError: when the database cannot be reached or migrated.
    """
    resolved = _resolve(url, root)
    try:
        engine = create_engine(resolved, future=True)
    except (ArgumentError, ImportError) as err:
        raise ConfigError(f"newsletter.toml: [store] url {url!r} cannot be used: {err}",
                          hint="for PostgreSQL install the driver: pip install 'psycopg[binary]'") from err
    guard = None
    if dialect.is_sqlite(engine):
        event.listen(engine, "connect", dialect.sqlite_pragmas)
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            guard = FileGuard(Path(database))
    try:
        migrate(engine)
    except OperationalError as err:
        # Two processes creating a new database at once: the loser finds the schema made.
        try:
            migrate(engine)
        except SQLAlchemyError:
            raise StoreError(f"cannot open the store {url}: {err.orig}") from err
    except SQLAlchemyError as err:
        raise StoreError(f"cannot open the store {url}: {err}") from err
    if guard is not None:
        engine.dispose()  # the migration's connections predate the guard
        guard.install(engine)  # after the migration, which creates the file of a new store
    return Store(engine, guard=guard)


def open_existing_store(url: str, root: Path) -> Store | None:
    """The store at ``url`` when one already exists, else ``None``; never creates a database.

    Read-only callers (``check`` counting subscribers) use it: a project without subscribers
    yet has no SQLite file, and must not get one from a check. A server database that
    cannot be reached is ``None`` too (logged), since the caller can do without it.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # reported by the commands that need the store
    if parsed.drivername.startswith("sqlite"):
        if not parsed.database or parsed.database == ":memory:":
            return None
        path = Path(parsed.database)
        if not (path if path.is_absolute() else root / path).is_file():
            return None
    try:
        return open_store(url, root)
    except (StoreError, ConfigError) as err:
        log.warning("the store could not be opened, so subscribers are not counted: %s", err)
        return None
