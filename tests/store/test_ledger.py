"""The ledger against real SQLite: claims are exclusive across processes, orphans are settled."""

from __future__ import annotations

import multiprocessing
from queue import Empty
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text, update

from newsletter.store import leases, ledger
from newsletter.store.database import Store, open_store
from newsletter.store.models import Delivery, DeliveryStatus, Subscriber
from tests.conftest import DAY
from tests.pg import analyzed, rows_read
from tests.helpers.ledger import mark_sending
from tests.helpers.store import populate

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


def _claim_all(root: str, send_id: int, queue: "multiprocessing.Queue[list[int] | str]") -> None:
    try:
        store = open_store("sqlite:///state/db.sqlite", Path(root))
        run = ledger.new_run_id()
        mine: list[int] = []
        while batch := ledger.claim(store, send_id, run, 7, NOW):
            mine.extend(c.delivery_id for c in batch)
        queue.put(mine)
    except BaseException as err:  # said to the test, which would otherwise only see a silent child
        queue.put(f"{err.__class__.__name__}: {err}")
        raise


def test_two_processes_never_claim_the_same_row(tmp_path: Path) -> None:
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 500)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[int] | str] = context.Queue()
    workers = [context.Process(target=_claim_all, args=(str(tmp_path), send_id, queue)) for _ in range(3)]
    for w in workers:
        w.start()
    results: list[list[int] | str] = []
    for _ in workers:
        try:
            results.append(queue.get(timeout=120))
        except Empty:
            break
    for w in workers:
        w.join(timeout=30)
    # A child that ends without a word (a signal, os._exit) shows by its exit code.
    assert len(results) == len(workers) and not [r for r in results if isinstance(r, str)], \
        (results, [w.exitcode for w in workers])
    claimed = [i for r in results if not isinstance(r, str) for i in r]
    assert len(claimed) == len(set(claimed)) == 500


def test_enqueue_counts_the_rows_it_adds_is_idempotent_and_skips_inactive(db: Store) -> None:
    populate(db, 10)
    with db.engine.begin() as conn:
        conn.execute(insert(Subscriber.__table__).values(  # type: ignore[arg-type]
            email="gone@example.org", first_name="", last_name="", status="unsubscribed", consent_source="test",
            created_at=NOW, updated_at=NOW))
    send_id = ledger.get_or_create_send(db, DAY + timedelta(days=1), "Objet", NOW)
    assert ledger.enqueue(db, send_id, NOW) == 10
    assert ledger.enqueue(db, send_id, NOW) == 0
    assert ledger.counts(db, send_id) == {"pending": 10}
    assert ledger.get_or_create_send(db, DAY + timedelta(days=1), "Objet", NOW) == send_id


LEASE = timedelta(seconds=60)


def test_rows_of_a_dead_run_are_released_or_in_doubt_once_its_lease_expires(tmp_path: Path) -> None:
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 4)
    dead = "elsewhere.example:4242:dead"
    leases.acquire(store, dead, NOW, LEASE)
    claimed = ledger.claim(store, send_id, dead, 3, NOW)
    mark_sending(store, [claimed[0].delivery_id], NOW)
    assert ledger.orphans(store, send_id, NOW + LEASE - timedelta(seconds=1), LEASE) == ([], [])  # still its own
    queued, in_doubt = ledger.orphans(store, send_id, NOW + LEASE, LEASE)
    assert sorted(queued) == [c.delivery_id for c in claimed[1:]]
    assert in_doubt == [(claimed[0].delivery_id, claimed[0].email)]
    # Taken over once: a second settler gets nothing, the late holder cannot renew.
    assert ledger.orphans(store, send_id, NOW + LEASE, LEASE) == ([], [])
    assert leases.renew(store, dead, NOW + LEASE, LEASE) is None
    ledger.release(store, queued, NOW)
    ledger.settle_in_doubt(store, {claimed[0].delivery_id: None}, NOW)
    assert ledger.counts(store, send_id) == {"pending": 3, "uncertain": 1}


@pytest.mark.parametrize("pid", ["own", "pid 1"])
def test_a_run_that_looks_alive_by_its_pid_is_settled_once_its_lease_is_gone(tmp_path: Path, pid: str) -> None:
    """Host and PID prove nothing: in a container every sender is PID 1, and PIDs are reused."""
    import os
    import socket

    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 2)
    run = f"{socket.gethostname()}:{os.getpid() if pid == 'own' else 1}:gone"
    ledger.claim(store, send_id, run, 2, NOW)  # no lease at all: a run from before leases
    assert ledger.orphans(store, send_id, NOW + timedelta(seconds=59), LEASE) == ([], [])
    queued, _ = ledger.orphans(store, send_id, NOW + timedelta(seconds=60), LEASE)
    assert len(queued) == 2


def test_migrations_run_once_and_reopen_cleanly(tmp_path: Path) -> None:
    open_store("sqlite:///state/db.sqlite", tmp_path).close()
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from newsletter.store.database import _alembic_config

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head


@pytest.mark.parametrize("url", ["nonsense://", "sqlite:////proc/forbidden/db.sqlite"])
def test_bad_store_url_is_a_clear_error(tmp_path: Path, url: str) -> None:
    from newsletter.errors import NewsletterError

    with pytest.raises(NewsletterError) as caught:
        open_store(url, tmp_path)
    assert "store" in str(caught.value)


#: The statuses of a row someone still has to serve: while one is left, the send is not over.
OPEN = {DeliveryStatus.PENDING, DeliveryStatus.QUEUED, DeliveryStatus.SENDING}


@pytest.mark.parametrize("status", list(DeliveryStatus), ids=lambda s: s.value)
def test_a_send_is_finished_only_once_no_row_is_left_to_serve(tmp_path: Path, status: DeliveryStatus) -> None:
    """Every status the ledger can hold is counted under its name and either keeps the send open or closes it."""
    from sqlalchemy import update

    from newsletter.store.history import is_sent
    from newsletter.store.models import Delivery

    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 1)
    with store.engine.begin() as conn:
        conn.execute(update(Delivery.__table__).values(status=status.value))  # type: ignore[arg-type]
    ledger.finish(store, send_id, NOW)
    assert ledger.counts(store, send_id) == {status.value: 1}
    assert is_sent(store, DAY) is (status not in OPEN)


def _attempts(store: Store) -> list[int]:
    with store.session() as session:
        return list(session.scalars(select(Delivery.attempts).order_by(Delivery.id)))


@pytest.mark.parametrize("passed_point_of_no_return", [False, True])
@pytest.mark.parametrize("status", [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN,
                                    DeliveryStatus.PENDING])
def test_a_try_counts_once_when_its_outcome_is_written_wherever_it_ended(
        tmp_path: Path, status: DeliveryStatus, passed_point_of_no_return: bool) -> None:
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 1)
    for n in (1, 2):
        [row] = ledger.claim(store, send_id, "run", 1, NOW)
        assert row.attempts == n - 1 and row.attempt == n  # the number the try in hand will have
        if passed_point_of_no_return:
            mark_sending(store, [row.delivery_id], NOW)
            assert _attempts(store) == [n - 1]  # in flight: not counted until its outcome is known
        ledger.record(store, [ledger.Outcome(row.delivery_id, status)], NOW)
        assert _attempts(store) == [n]
        if status is not DeliveryStatus.PENDING:
            break


@pytest.mark.parametrize("delivered", [True, False, None])
def test_a_try_left_in_flight_by_a_dead_run_counts_once_when_settled(tmp_path: Path, delivered: bool | None) -> None:
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 1)
    [row] = ledger.claim(store, send_id, "dead", 1, NOW)
    mark_sending(store, [row.delivery_id], NOW)
    ledger.settle_in_doubt(store, {row.delivery_id: delivered}, NOW)
    assert _attempts(store) == [1]


@pytest.mark.parametrize("marked", [False, True])
def test_a_row_given_back_without_an_outcome_is_not_counted(tmp_path: Path, marked: bool) -> None:
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 1)
    [row] = ledger.claim(store, send_id, "run", 1, NOW)
    if marked:
        mark_sending(store, [row.delivery_id], NOW)
    ledger.release(store, [row.delivery_id], NOW, sending_too=True)
    assert _attempts(store) == [0] and ledger.counts(store, send_id) == {"pending": 1}


def test_coverage_counts_active_subscribers_and_those_the_issue_has_served(tmp_path: Path) -> None:
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 3)
    first, second, _ = ledger.claim(store, send_id, "run", 3, NOW)
    ledger.record(store, [ledger.Outcome(first.delivery_id, DeliveryStatus.SENT),
                          ledger.Outcome(second.delivery_id, DeliveryStatus.PENDING)], NOW)
    assert ledger.coverage(store, DAY, NOW) == ledger.Coverage(active=3, served=1)
    assert ledger.coverage(store, DAY + timedelta(days=1), NOW) == ledger.Coverage(active=3, served=0)


def test_one_record_writes_every_kind_of_outcome_the_bounces_and_the_next_rows_in_flight(db: Store) -> None:
    """The group commit of the send engine: one call, one transaction, on SQLite and PostgreSQL alike."""
    send_id = populate(db, 6)
    sent, failed, bounced, later, doubt, next_up = ledger.claim(db, send_id, "run", 6, NOW)
    retry_at = NOW + timedelta(minutes=5)
    ledger.record(db, [ledger.Outcome(sent.delivery_id, DeliveryStatus.SENT, provider_id="q1"),
                       ledger.Outcome(failed.delivery_id, DeliveryStatus.FAILED, "554 refused"),
                       ledger.Outcome(bounced.delivery_id, DeliveryStatus.FAILED, "550 5.1.1 unknown"),
                       ledger.Outcome(later.delivery_id, DeliveryStatus.PENDING, "451 later", retry_at=retry_at),
                       ledger.Outcome(doubt.delivery_id, DeliveryStatus.UNCERTAIN, "lost after the dot")],
                  NOW, bounced=[bounced.subscriber_id], then_sending=[next_up.delivery_id])
    with db.session() as session:
        rows = {r.id: r for r in session.execute(select(Delivery).order_by(Delivery.id)).scalars()}
        statuses = {s.id: s.status for s in session.execute(select(Subscriber)).scalars()}
    assert [(rows[c.delivery_id].status, rows[c.delivery_id].last_error, rows[c.delivery_id].attempts)
            for c in (sent, failed, bounced, later, doubt, next_up)] == [
        ("sent", "", 1), ("failed", "554 refused", 1), ("failed", "550 5.1.1 unknown", 1),
        ("pending", "451 later", 1), ("uncertain", "lost after the dot", 1), ("sending", "", 0)]
    assert rows[sent.delivery_id].provider_id == "q1" and rows[sent.delivery_id].sent_at == NOW
    assert {r.updated_at for r in rows.values()} == {NOW}  # written on the driver's cursor, read back the same
    assert rows[later.delivery_id].run_id == "" and rows[later.delivery_id].next_attempt_at is not None
    assert ledger.next_due(db, send_id) == retry_at
    assert statuses[bounced.subscriber_id] == "bounced" and statuses[failed.subscriber_id] == "active"


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_claim_reads_only_the_rows_it_takes_however_many_were_sent_before(db: Store) -> None:
    """The next due rows are found in id order through the (send, state, id) index: neither the rows
    already sent nor the earlier sends' rows are walked past (on 1,000,000 rows that was 120 ms a claim)."""
    earlier = populate(db, 3000)
    send_id = ledger.get_or_create_send(db, DAY + timedelta(days=1), "Objet", NOW)
    ledger.enqueue(db, send_id, NOW)
    with db.session() as session:
        for day_send in (earlier, send_id):
            session.execute(update(Delivery).where(Delivery.send_id == day_send, Delivery.id % 10 != 0)
                            .values(status=DeliveryStatus.SENT.value))
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE deliveries"))
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "UPDATE deliveries" in statement:  # the claim (its row choice may sit in a WITH before it)
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        assert len(ledger.claim(db, send_id, "run", 20, NOW)) == 20
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    with db.engine.connect() as conn:
        with conn.begin():
            read = rows_read(analyzed(conn, *statements[0]), "deliveries", filtered_too=True)
            conn.rollback()
    assert read <= 2 * 20 + 1  # the rows taken (found, then updated), and the row that ends the scan


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_queueing_a_send_writes_nothing_into_the_provider_id_index(db: Store) -> None:
    """Rows get a provider's id once sent: the index of those ids holds no entry for the rows just queued
    (a million entries of '' made queueing a 1,000,000-row send a quarter slower)."""
    populate(db, 3000)
    with db.engine.connect() as conn:
        size = conn.execute(text("SELECT pg_relation_size('ix_deliveries_provider_id')")).scalar_one()
        page = conn.execute(text("SELECT current_setting('block_size')::int")).scalar_one()
    assert size == page  # the index's metapage alone


def test_rows_in_doubt_are_listed_for_their_own_transport_and_settled_without_counting_again(tmp_path: Path) -> None:
    """A lookup asks only the transport a row was claimed for (another one's records prove nothing), and what it
    proves about ``uncertain`` rows is written without counting their try a second time."""
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    send_id = populate(store, 4)
    rows = ledger.claim(store, send_id, "run", 3, NOW, transport="mailgun")
    other = ledger.claim(store, send_id, "run", 1, NOW, transport="smtp")
    later = NOW + timedelta(minutes=1)
    ledger.record(store, [ledger.Outcome(r.delivery_id, DeliveryStatus.UNCERTAIN, "no answer") for r in rows + other],
                  later)
    listed = ledger.in_doubt(store, send_id, transport="mailgun")
    assert [r.delivery_id for r in listed] == [r.delivery_id for r in rows]
    assert listed[0].changed_at == later and listed[0].send_created_at == NOW and listed[0].email == rows[0].email
    assert ledger.in_doubt(store, send_id, transport="mailgun", ids=[rows[1].delivery_id], limit=5)[0].delivery_id \
        == rows[1].delivery_id
    ledger.settle_uncertain(store, {rows[0].delivery_id: "<id@mg>"}, {rows[1].delivery_id: "never arrived"}, later)
    with store.session() as session:
        found = {d.id: d for d in session.scalars(select(Delivery))}
    assert found[rows[0].delivery_id].status == "sent" and found[rows[0].delivery_id].provider_id == "<id@mg>"
    assert found[rows[1].delivery_id].status == "pending" and found[rows[1].delivery_id].last_error == "never arrived"
    assert found[rows[2].delivery_id].status == "uncertain" and found[other[0].delivery_id].status == "uncertain"
    assert {d.attempts for d in found.values()} == {1}
