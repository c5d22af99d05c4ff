"""store/status.py: the send summary behind ``status``, and what a project without a database reads as."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.history import record_override
from newsletter.store.models import DeliveryStatus
from newsletter.store.status import ReasonCount, empty_store, no_database_yet, send_summary, waiting_rows
from newsletter.store.subscribers import add_subscriber, count_by_status
from tests.conftest import DAY

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


def test_a_send_not_started_has_no_record_and_no_rows(store: Store) -> None:
    summary = send_summary(store, DAY)
    assert not summary.started and summary.counts == {} and summary.problems == []
    assert waiting_rows(store, DAY) == 0


def test_the_summary_counts_rows_per_state_and_groups_reasons(store: Store) -> None:
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        add_subscriber(store, address, now=NOW)
    record_override(store, DAY, "Sujet", by="Camille Martin", reason="test", now=NOW)  # makes the send
    send_id = ledger.find_send(store, DAY)
    assert send_id is not None
    assert ledger.enqueue(store, send_id, NOW) == 3
    [first, *_] = ledger.claim(store, send_id, "run-1", 1, NOW)
    ledger.record(store, [ledger.Outcome(first.delivery_id, DeliveryStatus.FAILED, "550 no such user")], NOW)
    summary = send_summary(store, DAY)
    assert summary.started and summary.record is not None and summary.record.subject == "Sujet"
    assert summary.counts.get("failed") == 1 and sum(summary.counts.values()) == 3
    assert ReasonCount("failed", "550 no such user", 1) in summary.problems
    assert waiting_rows(store, DAY) == 2


@pytest.mark.parametrize(("url", "file", "expected"), [
    ("sqlite:///state/newsletter.db", None, True),
    ("sqlite:///state/newsletter.db", "state/newsletter.db", False),
    ("sqlite://", None, False),
    ("postgresql+psycopg://newsletter@db.example.org/newsletter", None, False),  # unreachable: an error, not empty
    ("not a url", None, False),
])
def test_only_a_missing_sqlite_file_counts_as_no_database_yet(tmp_path: Path, url: str, file: str | None,
                                                              expected: bool) -> None:
    if file:
        (tmp_path / file).parent.mkdir(parents=True)
        (tmp_path / file).write_bytes(b"")
    assert no_database_yet(url, tmp_path) is expected


def test_the_empty_store_reads_as_a_fresh_one_from_any_thread() -> None:
    import threading

    store = empty_store()
    seen: list[dict[str, int]] = []
    thread = threading.Thread(target=lambda: seen.append(count_by_status(store)))
    thread.start()
    thread.join(timeout=10)
    assert seen == [{}] and send_summary(store, DAY).counts == {}
    store.close()
