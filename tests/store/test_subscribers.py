"""Subscriber import and maintenance against real SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import event

from newsletter.store.subscribers import CandidateRow, RejectedRow
from newsletter.errors import NewsletterError
from newsletter.store.database import Store, open_store
from newsletter.store.subscribers import (
    CHUNK,
    add_subscriber,
    count_by_status,
    import_rows,
    list_subscribers,
    unsubscribe,
)

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


def row(line: int, email: str, first: str = "", last: str = "", source: str = "") -> CandidateRow:
    return CandidateRow(line=line, email=email, first_name=first, last_name=last, consent_at=None,
                        consent_source=source)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store("sqlite:///db.sqlite", tmp_path)
    yield store
    store.close()


def emails(store: Store, status: str | None = None) -> list[str]:
    return [s.email for s in list_subscribers(store, status=status)]


def test_summary_counts_every_kind_of_row(store: Store) -> None:
    add_subscriber(store, "ancien@example.org", now=NOW - timedelta(days=9), first_name="Ancien")
    add_subscriber(store, "pareil@example.org", now=NOW - timedelta(days=9), first_name="Pareil")
    add_subscriber(store, "parti@example.org", now=NOW - timedelta(days=9))
    unsubscribe(store, "parti@example.org", now=NOW - timedelta(days=1))
    summary = import_rows(store, [
        row(2, "nouveau@example.org", "Nina"),
        row(3, "ancien@example.org", "Antoine"),
        row(4, "pareil@example.org", "Pareil"),
        row(5, "parti@example.org", "Revenant"),
        RejectedRow(line=6, reason="'x@' is not a valid address", raw_email="x@"),
        row(7, "nouveau@example.org", "Nina"),
    ], now=NOW)
    assert (summary.added, summary.updated, summary.unchanged, summary.kept_out, summary.rejected,
            summary.duplicates) == (1, 1, 1, 1, 1, 1)
    assert summary.rejections[0].line == 6
    assert emails(store, "unsubscribed") == ["parti@example.org"]  # never reactivated


def test_duplicates_across_chunks_are_merged(store: Store) -> None:
    rows = [row(i + 2, f"p{i}@example.org") for i in range(2500)] + [row(3000, "p5@example.org", "Cinq")]
    summary = import_rows(store, rows, now=NOW)
    assert summary.added == 2500 and summary.duplicates == 1
    assert count_by_status(store) == {"active": 2500}
    assert next(s for s in list_subscribers(store) if s.email == "p5@example.org").first_name == "Cinq"


def test_dry_run_reports_exactly_and_writes_nothing(store: Store) -> None:
    rows = [row(2, "a@example.org"), row(3, "b@example.org"), row(4, "a@example.org")]
    summary = import_rows(store, rows, now=NOW, dry_run=True)
    assert (summary.added, summary.duplicates, summary.dry_run) == (2, 1, True)
    assert emails(store) == []


def test_an_import_that_fails_midway_writes_nothing(store: Store) -> None:
    def rows() -> Iterator[CandidateRow]:
        for i in range(1500):
            yield row(i + 2, f"p{i}@example.org")
        raise OSError("the disk vanished")

    with pytest.raises(OSError):
        import_rows(store, rows(), now=NOW)
    assert emails(store) == []


def test_bounced_and_complained_stay_out(store: Store) -> None:
    from sqlalchemy import update

    from newsletter.store.models import Subscriber

    for address in ("rebond@example.org", "plainte@example.org"):
        add_subscriber(store, address, now=NOW - timedelta(days=3))
    with store.session() as session:
        session.execute(update(Subscriber).where(Subscriber.email == "rebond@example.org").values(status="bounced"))
        session.execute(update(Subscriber).where(Subscriber.email == "plainte@example.org").values(status="complained"))
    summary = import_rows(store, [row(2, "rebond@example.org"), row(3, "plainte@example.org")], now=NOW)
    assert summary.kept_out == 2
    assert count_by_status(store) == {"bounced": 1, "complained": 1}
    with pytest.raises(NewsletterError, match="is bounced and is not added back"):
        add_subscriber(store, "REBOND@example.org", now=NOW)


def test_consent_source_defaults_to_the_import_source(store: Store) -> None:
    import_rows(store, [row(2, "a@example.org"), row(3, "b@example.org", source="salon")], now=NOW, source="crm")
    sources = {s.email: s.consent_source for s in list_subscribers(store)}
    assert sources == {"a@example.org": "crm", "b@example.org": "salon"}


def test_remove_unknown_address_says_so(store: Store) -> None:
    with pytest.raises(NewsletterError, match="is not in the subscriber list"):
        unsubscribe(store, "inconnu@example.org", now=NOW)


@pytest.mark.parametrize(("search", "found"), [
    ("bücher", ["bob@bücher.example", "zoé@bücher.example"]),
    ("bob@xn--bcher-kva.example", ["bob@bücher.example"]),  # as a bounce report or a server log writes it
    ("XN--BCHER-KVA", ["bob@bücher.example", "zoé@bücher.example"]),
    ("ZOE\u0301@", ["zoé@bücher.example"]),  # typed decomposed (macOS) and in capitals
    ("xn--zzz", []),  # not a valid A-label: searched as it is
], ids=["u-label", "a-label address", "a-label capitals", "decomposed", "broken a-label"])
def test_search_finds_an_address_however_its_domain_is_written(store: Store, search: str, found: list[str]) -> None:
    for address in ("bob@xn--bcher-kva.example", "zoé@bücher.example", "ann@example.org"):
        add_subscriber(store, address, now=NOW)
    assert [s.email for s in list_subscribers(store, search=search)] == found


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_an_import_plans_each_chunks_lookup_on_the_table_as_it_has_grown(db: Store) -> None:
    """The import grows the table in one transaction; a lookup prepared on the empty table keeps a plan
    that scans the whole table for each chunk (a 1,000,000-row import took most of an hour)."""
    prepared: list[int] = []

    def count_prepared(conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        if "WHERE subscribers.email IN" in statement:
            with conn.connection.dbapi_connection.cursor() as raw:  # no event: SQLAlchemy does not see it
                raw.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%subscribers.email IN%'")
                prepared.append(raw.fetchone()[0])

    event.listen(db.engine, "before_cursor_execute", count_prepared)
    try:
        summary = import_rows(db, [row(i + 2, f"p{i}@example.org") for i in range(CHUNK * 8)], now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", count_prepared)
    assert summary.added == CHUNK * 8 and len(prepared) == 8
    assert prepared == [0] * 8
