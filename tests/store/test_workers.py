"""The store's part of workers: claims that skip locked rows, one pace per send kept by the database's
clock, the live workers a lease shows, and the sends open for workers."""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from newsletter.delivery.engine import SharedRateLimiter
from newsletter.store import leases, ledger, pacing, pauses, snapshots, workers
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY
from tests.helpers.store import populate

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
#: Bound on a wait for another thread (a loaded machine is slow, never this slow).
BOUND = 60.0


def postgresql_only(db: Store) -> None:
    if not workers.supported(db):
        pytest.skip("workers coordinate through PostgreSQL only")


def test_a_claim_takes_other_rows_than_those_another_transaction_holds_locked(db: Store) -> None:
    postgresql_only(db)
    send_id = populate(db, 10)
    claimed: list[ledger.Claimed] = []
    done = threading.Event()
    with db.engine.connect() as holder:
        with holder.begin():
            # Another worker's claim in progress: the first four pending rows locked, not committed yet.
            locked = {r[0] for r in holder.execute(text(
                "SELECT id FROM deliveries WHERE status = 'pending' ORDER BY id LIMIT 4 FOR UPDATE")).all()}

            def claim() -> None:
                claimed.extend(ledger.claim(db, send_id, "second", 4, NOW))
                done.set()

            thread = threading.Thread(target=claim, daemon=True)
            thread.start()
            # Without SKIP LOCKED the claim waits on the locked rows until this transaction ends.
            assert done.wait(BOUND), "the claim waited for rows another transaction holds"
        thread.join(BOUND)
    assert len(claimed) == 4 and not {c.delivery_id for c in claimed} & locked


def test_reservations_of_the_send_pace_follow_each_other_without_overlap(db: Store) -> None:
    postgresql_only(db)
    send_id = populate(db, 1)
    rate, n = 50.0, 5
    slots: list[pacing.Slot] = []
    lock = threading.Lock()

    def reserve_many() -> None:
        for _ in range(10):
            slot = pacing.reserve(db, send_id, n, rate)
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=reserve_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND)
    ordered = sorted(slots, key=lambda s: s.reserved)
    assert [s.reserved for s in ordered] == [n * (i + 1) for i in range(30)]
    # Each reservation begins no sooner than the one before it ends: 30 × 5 messages take 3 s of the pace.
    for before, after in zip(ordered, ordered[1:]):
        assert after.start - before.start >= timedelta(seconds=n / rate)
    assert ordered[-1].start - ordered[0].start >= timedelta(seconds=29 * n / rate)
    total, next_at = pacing.reserved(db, send_id)
    assert total == 150 and next_at == ordered[-1].start + timedelta(seconds=n / rate)


def test_the_shared_limiter_waits_for_the_slots_the_database_gives() -> None:
    now = [100.0]
    slept: list[float] = []
    asked: list[int] = []
    starts = iter([2.0, 0.0, 0.5])  # seconds from now at which each reservation begins (the database says)

    def reserve(n: int) -> float:
        asked.append(n)
        return next(starts)

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    limiter = SharedRateLimiter(reserve, 20.0, monotonic=lambda: now[0], sleep=sleep)
    limiter.acquire(1)  # reserves a chunk (a quarter second: 5) beginning in 2 s
    limiter.acquire(4)  # the rest of the chunk: 1/20 s after the first
    limiter.acquire(10)  # a batch larger than a chunk: reserved whole
    assert asked == [5, 10]
    assert slept == [2.0, 0.05, 0.2]


def test_a_live_worker_shows_its_host_pid_messages_and_lease(db: Store) -> None:
    send_id = populate(db, 1)
    done = [0]
    clock = [NOW]
    beat = leases.Heartbeat(db, "host-a:4242:beef", duration=timedelta(seconds=30), clock=lambda: clock[0],
                            send_id=send_id, progress=lambda: done[0])
    done[0] = 120
    clock[0] = NOW + timedelta(seconds=10)
    assert beat.beat()
    leases.acquire(db, "elsewhere", NOW, send_id=None)  # a scheduler's lease: no send, not a worker
    [shown] = workers.live_workers(db, send_id, NOW + timedelta(seconds=11))
    assert (shown.host, shown.pid) == (socket.gethostname(), os.getpid())
    assert (shown.messages, shown.expires_at) == (120, NOW + timedelta(seconds=40))
    assert shown.rate > 0 and shown.run_id == "host-a:4242:beef"
    assert workers.live_workers(db, send_id, NOW + timedelta(seconds=41)) == []  # expired: not live


def test_only_started_unfinished_unpaused_sends_are_open_to_workers(db: Store) -> None:
    send_id = populate(db, 1)
    assert workers.open_sends(db) == []  # no stored render: not started by `send` (or by an older version)
    snapshots.save(db, send_id, "d" * 64, "{}", NOW)
    assert [s.day for s in workers.open_sends(db)] == [DAY]
    pause = pauses.record_pause(db, send_id, reason="bounces", bounces=1, messages=1, now=NOW)
    assert pause and workers.open_sends(db) == []
    pauses.resume(db, send_id, NOW)
    assert [s.send_id for s in workers.open_sends(db, DAY)] == [send_id]
    assert workers.open_sends(db, DAY + timedelta(days=1)) == []
    ledger.record(db, [ledger.Outcome(c.delivery_id, ledger.DeliveryStatus.SENT)
                       for c in ledger.claim(db, send_id, "run", 10, NOW)], NOW)
    ledger.finish(db, send_id, NOW)
    assert workers.open_sends(db) == []  # finished
    add_subscriber(db, "new@example.org", now=NOW)  # someone joined, and `send` started the issue again
    ledger.enqueue(db, send_id, NOW)
    assert [s.send_id for s in workers.open_sends(db)] == [send_id]


@pytest.mark.parametrize("url, shared", [("postgresql+psycopg://u@db/n", True), ("postgresql://db/n", True),
                                         ("sqlite:///state/newsletter.db", False), ("not a url", False)])
def test_workers_are_for_a_postgresql_store_url(url: str, shared: bool, tmp_path: Path) -> None:
    assert workers.supported_url(url) is shared
