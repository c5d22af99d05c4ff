"""Where one issue's send stands in the store: the queries behind ``newsletter status`` and the
send's progress display, named so that no front end reads the ledger itself; and what a project
that has no database yet reads as (an empty store in memory, so that reading creates no file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

from sqlalchemy import Table, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from newsletter.store import ledger
from newsletter.store.database import Store, migrate
from newsletter.store.models import Delivery, DeliveryStatus

if TYPE_CHECKING:  # the history's tables load with ``status``, not with a send (:func:`send_started`)
    from newsletter.store.history import SendRecord

_D = cast(Table, Delivery.__table__)

#: The states whose rows are not delivered, in the order ``status`` groups their reasons.
UNDELIVERED = (DeliveryStatus.FAILED.value, DeliveryStatus.UNCERTAIN.value, DeliveryStatus.PENDING.value)
#: The states of rows that no run has handed over yet.
WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.QUEUED.value)


class ReasonCount(NamedTuple):
    """How many rows of one state share one recorded reason."""

    status: str
    reason: str
    rows: int


@dataclass(frozen=True)
class SendSummary:
    """One issue's send: its record, the count of rows per state and the reasons of those not delivered."""

    day: date
    record: SendRecord | None  # None when the send never started
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[ReasonCount] = field(default_factory=list)

    @property
    def started(self) -> bool:
        return self.record is not None


def send_summary(store: Store, day: date) -> SendSummary:
    """The ledger's view of ``day``'s send (empty when it never started)."""
    from newsletter.store.history import send_record

    send_id = ledger.find_send(store, day)
    if send_id is None:
        return SendSummary(day, None)
    return SendSummary(day, send_record(store, day), ledger.counts(store, send_id),
                       [ReasonCount(*row) for row in ledger.failures(store, send_id, UNDELIVERED)])


class UncertainRow(NamedTuple):
    """One recipient of a send whose message is in doubt, and what the ledger knows about it."""

    email: str
    reason: str
    since: datetime  # when it was recorded uncertain


def uncertain_rows(store: Store, day: date, limit: int | None = None) -> list[UncertainRow]:
    """The rows of ``day``'s send left ``uncertain``, in the ledger's order (the first ``limit`` when given)."""
    send_id = ledger.find_send(store, day)
    if send_id is None:
        return []
    query = (select(_D.c.email, _D.c.last_error, _D.c.updated_at)
             .where(_D.c.send_id == send_id, _D.c.status == DeliveryStatus.UNCERTAIN.value).order_by(_D.c.id))
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [UncertainRow(*row) for row in session.execute(query).all()]


def send_started(store: Store, day: date) -> bool:
    """Whether ``day``'s send has begun (its ledger exists)."""
    return ledger.find_send(store, day) is not None


def waiting_rows(store: Store, day: date) -> int:
    """How many recipients of ``day``'s send wait for a run (0 when the send never started)."""
    send_id = ledger.find_send(store, day)
    if send_id is None:
        return 0
    counts = ledger.counts(store, send_id)
    return sum(counts.get(state, 0) for state in WAITING)


def no_database_yet(url: str, root: Path) -> bool:
    """True when ``url`` names a SQLite file that does not exist (relative paths from ``root``).

    A server database is never "not yet": reading it goes through :func:`open_store`, so that
    one that cannot be reached is an error, not an empty list.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # reported by open_store
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return False
    path = Path(parsed.database)
    return not (path if path.is_absolute() else root / path).is_file()


def empty_store() -> Store:
    """A migrated store in memory, one connection shared by every thread: what a project without a
    database reads as (no subscriber, no send, no scheduler record), without creating one."""
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    migrate(engine)
    return Store(engine)
