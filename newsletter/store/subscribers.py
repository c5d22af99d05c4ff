"""Subscriber queries: import, add, remove, list, export.

An import runs in **one transaction**: it either lands whole or not at all, and ``dry_run``
is the same import rolled back, so its summary is exact. Rows are read and written in chunks
with Core statements (no ORM objects pile up), so memory stays flat for a million rows.
An unsubscribed, bounced or complained address is never reactivated by an import or ``add``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, cast

from sqlalchemy import Connection, Select, Table, func, insert, select, update

from newsletter.core import addresses
from newsletter.errors import NewsletterError
from newsletter.core.names import clean_name
from newsletter.store import dialect, nonces, outbox
from newsletter.store.database import Store
from newsletter.store.models import SUPPRESSED, Subscriber, SubscriberStatus

CHUNK = 1000
#: How many rejected rows an import keeps for its report (all are counted).
KEEP_REJECTIONS = 1000
_SUPPRESSED = {s.value for s in SUPPRESSED}
_TABLE = cast(Table, Subscriber.__table__)
#: The source under which used confirmation links are remembered (store/nonces.py).
CONFIRM_LINKS = "confirm"
#: Links carry the second they were made: a change within that second is not known to come after.
_LINK_TIME_STEP = timedelta(seconds=1)


@dataclass(frozen=True)
class CandidateRow:
    """A row that can be imported (the CSV reader makes them; so may any other source)."""

    line: int
    email: str
    first_name: str
    last_name: str
    consent_at: datetime | None
    consent_source: str
    status: str = ""  # "" when the file has no status column: the row is a subscription
    consent_ip: str = ""
    created_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    #: The reader's consent to per-reader click counts: when (set it; GIVEN: at the import's time),
    #: WITHDRAWN (clear it), None (as it is).
    click_consent_at: datetime | None = None
    frequency: str = ""  # "" when the file does not say: daily for a new address, unchanged for a known one
    paused_until: datetime | None = None


#: A row's ``click_consent_at`` that withdraws the consent (a "no" in the file's column).
WITHDRAWN = datetime.min.replace(tzinfo=timezone.utc)
#: A row's ``click_consent_at`` that gives it without a date (a "yes"): recorded at the import's time.
GIVEN = datetime.max.replace(tzinfo=timezone.utc)


def _click_consent(row: CandidateRow, now: datetime) -> datetime | None:
    """What the row sets ``click_consent_at`` to (None: withdrawn); only for a row that has the column."""
    return None if row.click_consent_at == WITHDRAWN else now if row.click_consent_at == GIVEN \
        else row.click_consent_at


@dataclass(frozen=True)
class RejectedRow:
    """A row that cannot be imported, and why."""

    line: int
    reason: str  # in English
    raw_email: str
    why: Any = field(default=None, compare=False)  # the reason kept translatable (i18n.Message, NewsletterError)

    def text(self, gettext: Callable[[str], str]) -> str:
        """The reason in the language of ``gettext``."""
        return str(self.why.text(gettext)) if self.why is not None else self.reason


@dataclass
class ImportSummary:
    """What an import did, or would do with ``dry_run``."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    kept_out: int = 0  # unsubscribed, bounced or complained: left as they are
    suppressed: int = 0  # rows whose status column says unsubscribed, bounced or complained: recorded as such
    rejected: int = 0
    rejections: list[RejectedRow] = field(default_factory=list)
    dry_run: bool = False
    added_emails: list[str] | None = None  # the active addresses added, when the caller asked (welcome mails)

    @property
    def read(self) -> int:
        return (self.added + self.updated + self.unchanged + self.duplicates + self.kept_out + self.suppressed
                + self.rejected)


def _chunks(rows: Iterable[CandidateRow | RejectedRow], summary: ImportSummary) -> Iterator[list[CandidateRow]]:
    chunk: list[CandidateRow] = []
    for row in rows:
        if isinstance(row, RejectedRow):
            summary.rejected += 1
            if len(summary.rejections) < KEEP_REJECTIONS:
                summary.rejections.append(row)
            continue
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _apply_chunk(conn: Connection, chunk: Sequence[CandidateRow], now: datetime, source: str,
                 summary: ImportSummary, digest: Callable[[str], str] | None) -> None:
    emails = {row.email for row in chunk}
    existing = {
        r.email: dict(r._mapping)
        for r in conn.execute(select(_TABLE).where(_TABLE.c.email.in_(emails)))
    }
    erased: set[str] = set()
    if digest is not None:
        from newsletter.store.readers import erased_among

        digests = {email: digest(email) for email in emails - existing.keys()}
        found = erased_among(None, digests.values(), conn=conn)
        erased = {email for email, hashed in digests.items() if hashed in found}
    inserts: dict[str, dict[str, object]] = {}
    for row in chunk:
        if row.email in erased:  # a reader who erased their data: only the form brings them back
            summary.kept_out += 1
            continue
        if row.email in inserts:  # twice in this chunk
            summary.duplicates += 1
            _merge_into(inserts[row.email], row)
            continue
        current = existing.get(row.email)
        if current is None:
            inserts[row.email] = _new_record(row, now, source)
            continue
        touched_by_this_import = current["updated_at"] == now
        if current["status"] in _SUPPRESSED:
            if touched_by_this_import:
                summary.duplicates += 1
            else:
                summary.kept_out += 1
            continue
        if row.status in _SUPPRESSED:  # a suppression from the file wins over an active record
            changes: dict[str, object] = {"status": row.status, "unsubscribed_at": row.unsubscribed_at or now,
                                          "updated_at": now}
            conn.execute(update(_TABLE).where(_TABLE.c.id == current["id"]).values(**changes))
            current.update(changes)
            if touched_by_this_import:
                summary.duplicates += 1
            else:
                summary.suppressed += 1
            continue
        changes = _changes(current, row, now)
        if changes:
            changes["updated_at"] = now
            conn.execute(update(_TABLE).where(_TABLE.c.id == current["id"]).values(**changes))
            current.update(changes)
        if touched_by_this_import:
            summary.duplicates += 1
        elif changes:
            summary.updated += 1
        else:
            summary.unchanged += 1
    if inserts:
        conn.execute(insert(_TABLE), list(inserts.values()))
        suppressions = sum(record["status"] in _SUPPRESSED for record in inserts.values())
        summary.suppressed += suppressions
        summary.added += len(inserts) - suppressions
        if summary.added_emails is not None:
            summary.added_emails.extend(email for email, record in inserts.items()
                                        if record["status"] == SubscriberStatus.ACTIVE.value)


def _new_record(row: CandidateRow, now: datetime, source: str) -> dict[str, object]:
    """The record of an address new to the store.

    A row with a status (a file written by ``subscribers export``) is restored as it was: its
    status, consent and dates, so that a person who left stays a suppression. Any other row is
    a subscription vouched for by the operator: active, consented now unless the file says when.
    """
    record: dict[str, object] = {"email": row.email, "first_name": row.first_name, "last_name": row.last_name,
                                 "consent_ip": row.consent_ip, "updated_at": now,
                                 "frequency": row.frequency or "daily", "paused_until": row.paused_until}
    if row.status:
        record.update(status=row.status, consent_at=row.consent_at, consent_source=row.consent_source,
                      created_at=row.created_at or now,
                      unsubscribed_at=row.unsubscribed_at)
    else:
        record.update(status=SubscriberStatus.ACTIVE.value, consent_at=row.consent_at or now,
                      consent_source=row.consent_source or source, created_at=now)
    if row.click_consent_at is not None:
        record["click_consent_at"] = _click_consent(row, now)
    return record


def _merge_into(pending: dict[str, object], row: CandidateRow) -> None:
    for key in ("first_name", "last_name", "consent_source", "consent_ip"):
        value = getattr(row, key)
        if value:
            pending[key] = value
    if row.consent_at:
        pending["consent_at"] = row.consent_at
    if row.click_consent_at is not None:
        pending["click_consent_at"] = _click_consent(row, cast(datetime, pending["updated_at"]))
    if row.frequency:
        pending["frequency"] = row.frequency
    if row.paused_until:
        pending["paused_until"] = row.paused_until
    if row.status in _SUPPRESSED:  # the same address twice: a suppression is never undone by the other row
        pending["status"] = row.status
        pending["unsubscribed_at"] = row.unsubscribed_at or pending.get("unsubscribed_at") or pending["updated_at"]


def _changes(current: Mapping[str, object], row: CandidateRow, now: datetime) -> dict[str, object]:
    changes: dict[str, object] = {}
    for key in ("first_name", "last_name", "consent_source", "consent_ip"):
        value = getattr(row, key)
        if value and value != current[key]:
            changes[key] = value
    if row.consent_at and row.consent_at != current["consent_at"]:
        changes["consent_at"] = row.consent_at
    if row.click_consent_at is not None and (row.click_consent_at == WITHDRAWN) != (current["click_consent_at"] is None):
        changes["click_consent_at"] = _click_consent(row, now)
    if row.frequency and row.frequency != current["frequency"]:
        changes["frequency"] = row.frequency
    if row.paused_until and row.paused_until != current["paused_until"]:
        changes["paused_until"] = row.paused_until
    if current["status"] == SubscriberStatus.PENDING.value and row.status != SubscriberStatus.PENDING.value:
        changes["status"] = SubscriberStatus.ACTIVE.value  # the operator vouches for the consent
    return changes


def import_rows(store: Store, rows: Iterable[CandidateRow | RejectedRow], *, now: datetime,
                source: str = "import", dry_run: bool = False, digest: Callable[[str], str] | None = None,
                keep_added: bool = False) -> ImportSummary:
    """Add or update subscribers from ``rows`` in one transaction.

    :param now: the import's time; every row it writes gets exactly this ``updated_at``, which
        is how a later duplicate in the same file is recognized without holding the file in memory.
    :param source: consent source for rows that do not say theirs.
    :param dry_run: compute the summary, then roll everything back.
    :param digest: the keyed hash of an address under which an erased one is remembered: such rows are
        kept out (counted in ``kept_out``).
    :param keep_added: list the active addresses added in ``added_emails``.
    """
    summary = ImportSummary(dry_run=dry_run, added_emails=[] if keep_added else None)
    with store.engine.connect() as conn, dialect.planned_each_time(conn):
        transaction = conn.begin()
        try:
            for chunk in _chunks(rows, summary):
                _apply_chunk(conn, chunk, now, source, summary, digest)
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()
    return summary


def add_subscriber(store: Store, email: str, *, now: datetime, first_name: str = "", last_name: str = "",
                   source: str = "cli") -> tuple[Subscriber, bool]:
    """Add one active subscriber (or update their names).

    :return: the subscriber and whether they were created.
    :raises NewsletterError: for an invalid address, or one that left the list.
    """
    address = addresses.canonical(email)
    first_name, last_name = clean_name(first_name), clean_name(last_name)  # they go into a To: header
    with store.session() as session:
        current = session.scalar(select(Subscriber).where(Subscriber.email == address))
        if current is not None and current.status in _SUPPRESSED:
            raise NewsletterError(
                f"{address} is {current.status} and is not added back",
                hint="a person who left can come back only through the subscribe form's confirmation",
            )
        if current is None:
            current = Subscriber(email=address, first_name=first_name, last_name=last_name,
                                 status=SubscriberStatus.ACTIVE.value, consent_at=now, consent_source=source,
                                 created_at=now, updated_at=now)
            session.add(current)
            outbox.add_event(session, store.hooks, "subscriber.created", {"email": address, "source": source}, now)
            return current, True
        current.first_name = first_name or current.first_name
        current.last_name = last_name or current.last_name
        if current.status != SubscriberStatus.ACTIVE.value:  # a pending request the operator confirms
            outbox.add_event(session, store.hooks, "subscriber.created", {"email": address, "source": source}, now)
        current.status = SubscriberStatus.ACTIVE.value
        current.updated_at = now
        return current, False


def rename_subscriber(store: Store, email: str, *, now: datetime, first_name: str | None = None,
                      last_name: str | None = None) -> bool:
    """Change the names of a subscriber, whatever their status (never the status); False when there is none."""
    values: dict[str, object] = {"updated_at": now}
    if first_name is not None:
        values["first_name"] = clean_name(first_name)
    if last_name is not None:
        values["last_name"] = clean_name(last_name)
    with store.session() as session:
        result: Any = session.execute(update(Subscriber).where(Subscriber.email == addresses.canonical(email))
                                      .values(**values))
        return bool(result.rowcount)


def unsubscribe(store: Store, email: str, *, now: datetime) -> Subscriber:
    """Mark a subscriber unsubscribed, keeping the record as proof (and as a suppression).

    :raises NewsletterError: when the address is not in the store.
    """
    address = addresses.canonical(email)
    with store.session() as session:
        current = session.scalar(select(Subscriber).where(Subscriber.email == address))
        if current is None:
            raise NewsletterError(f"{address} is not in the subscriber list")
        if current.status != SubscriberStatus.UNSUBSCRIBED.value:
            current.status = SubscriberStatus.UNSUBSCRIBED.value
            current.unsubscribed_at = now
            current.updated_at = now
            outbox.add_event(session, store.hooks, "subscriber.unsubscribed", {"email": address}, now)
        return current


def find_subscriber(store: Store, email: str) -> "SubscriberRecord | None":
    """The subscriber with this address, or None."""
    with store.engine.connect() as conn:
        row = conn.execute(select(*_RECORD_COLUMNS).where(_TABLE.c.email == email)).first()
    return SubscriberRecord(*row) if row is not None else None


def request_subscription(store: Store, email: str, *, now: datetime, first_name: str = "", source: str = "web",
                         ip: str = "") -> None:
    """Record a subscription request from the web form, before its confirmation.

    A new address is stored as ``pending`` with its first name; an existing record is left as it
    is (a person who left stays out until they confirm). One and the same statement runs for
    every address, so the request takes the same time whether the address was known or not.
    """
    statement = store.insert(_TABLE).values(
        email=email, first_name=first_name, last_name="", status=SubscriberStatus.PENDING.value,
        consent_source=source, consent_ip=ip, created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=["email"])
    with store.session() as session:
        session.execute(statement)


def confirm_subscription(store: Store, email: str, *, now: datetime, link: str, issued_at: datetime,
                         keep: timedelta, first_name: str = "", source: str = "web", ip: str = "") -> bool:
    """Make the address active: the person clicked their confirmation link (double opt-in).

    This is the only way back for someone who unsubscribed, and each link works once: ``link``
    (a digest of it) is claimed in the same transaction (:mod:`newsletter.store.nonces`, kept for
    ``keep``, the links' lifetime). A link made at ``issued_at`` never outranks an unsubscribe,
    a bounce or a complaint recorded after it.

    :return: whether the address is active now (False: the link was used already and the address is
        not active, or it left the list after the link was made).
    """
    with store.session() as session:
        current = session.scalar(select(Subscriber).where(Subscriber.email == email).with_for_update())
        if not nonces.claim_in(session, store, CONFIRM_LINKS, link, now=now, keep=keep):
            return current is not None and current.status == SubscriberStatus.ACTIVE.value
        if current is None:
            current = Subscriber(email=email, created_at=now)
            session.add(current)
        elif current.status == SubscriberStatus.ACTIVE.value:
            return True
        elif current.status in _SUPPRESSED and current.updated_at >= issued_at + _LINK_TIME_STEP:
            return False  # it left the list after the link was made
        current.first_name = first_name or current.first_name or ""
        current.last_name = current.last_name or ""
        current.status = SubscriberStatus.ACTIVE.value
        current.consent_at = now
        current.consent_source = f"{source} (double opt-in)"
        current.consent_ip = ip
        current.unsubscribed_at = None
        current.updated_at = now
        outbox.add_event(session, store.hooks, "subscriber.created",
                         {"email": email, "source": current.consent_source}, now)
        return True


@dataclass(frozen=True)
class SubscriberRecord:
    """A subscriber as read from the store (a plain value, usable after the session ends)."""

    email: str
    first_name: str
    last_name: str
    status: str
    consent_at: datetime | None
    consent_source: str
    created_at: datetime
    unsubscribed_at: datetime | None
    consent_ip: str
    frequency: str = "daily"
    paused_until: datetime | None = None


_RECORD_COLUMNS = [getattr(_TABLE.c, name) for name in SubscriberRecord.__dataclass_fields__]


def _filtered(query: Select[Any], status: str | None, search: str | None) -> Select[Any]:
    if status:
        query = query.where(_TABLE.c.status == status)
    if search:
        # Addresses are stored in canonical form; the search text is matched literally (no wildcards).
        text = addresses.stored_form(search.strip())
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(_TABLE.c.email.like(pattern, escape="\\"))
    return query


def list_subscribers(store: Store, *, status: str | None = None, limit: int | None = None,
                     search: str | None = None, after: str | None = None) -> Iterator[SubscriberRecord]:
    """Subscribers in address order, streamed in pages (flat memory for any list size).

    :param search: only addresses containing this text (case-insensitive).
    :param after: only addresses after this one (the next page of a keyset pagination).
    """
    query = _filtered(select(*_RECORD_COLUMNS).order_by(_TABLE.c.email), status, search)
    if after is not None:
        query = query.where(_TABLE.c.email > after)
    if limit:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query):
            yield SubscriberRecord(*row)


def count_subscribers(store: Store, *, status: str | None = None, search: str | None = None) -> int:
    """How many subscribers :func:`list_subscribers` would give without a limit."""
    with store.engine.connect() as conn:
        return int(conn.execute(_filtered(select(func.count()).select_from(_TABLE), status, search)).scalar() or 0)


def count_by_status(store: Store, *, search: str | None = None) -> dict[str, int]:
    """How many subscribers have each status; only addresses containing ``search`` when it is given."""
    query = _filtered(select(_TABLE.c.status, func.count()).group_by(_TABLE.c.status), None, search)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {status: count for status, count in rows}


def count_active_without(store: Store, field: str) -> int:
    """How many active subscribers have an empty ``field`` (``first_name`` or ``last_name``)."""
    column = {"first_name": Subscriber.first_name, "last_name": Subscriber.last_name}[field]
    with store.session() as session:
        query = select(func.count()).where(Subscriber.status == SubscriberStatus.ACTIVE.value,
                                           func.coalesce(func.trim(column), "") == "")
        return int(session.execute(query).scalar_one())
