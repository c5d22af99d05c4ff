"""Leases against real SQLite (and PostgreSQL when installed), with an injected clock: a run owns what it
claimed until its lease expires, and not a moment longer."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import text

from newsletter.store import leases
from newsletter.store.database import Store, open_store
from tests.pg import PostgreSQL, binaries

T0 = datetime(2026, 11, 24, 5, 30, tzinfo=timezone.utc)
LEASE = timedelta(seconds=60)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = open_store("sqlite:///state/db.sqlite", tmp_path)
        yield store
        store.close()
        return
    if binaries() is None:
        pytest.skip("PostgreSQL server binaries not installed (`make test` installs them)")
    server = PostgreSQL()
    try:
        store = open_store(server.start(), tmp_path)
        yield store
        store.close()
    finally:
        server.stop()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_renewed_lease_keeps_its_rows_and_a_lapsed_one_loses_them(any_store: Store) -> None:
    clock = Clock()
    holder = leases.Heartbeat(any_store, "holder", duration=LEASE, clock=clock)
    touched = {"holder": T0}
    clock.now = T0 + timedelta(seconds=50)
    assert holder.beat() and holder.expires_at == T0 + timedelta(seconds=110)
    assert leases.take_over(any_store, touched, T0 + timedelta(seconds=109), LEASE) == set()
    assert leases.alive(any_store, "holder", T0 + timedelta(seconds=109), T0, LEASE)
    assert leases.take_over(any_store, touched, T0 + timedelta(seconds=110), LEASE, taker="settler") == {"holder"}
    assert not leases.alive(any_store, "holder", T0 + timedelta(seconds=110), T0, LEASE)
    # The holder was only frozen: it learns at its next beat that its rows are no longer its own.
    clock.now = T0 + timedelta(seconds=111)
    assert not holder.beat() and holder.lost.is_set() and not holder.holds(clock.now)


def test_a_holder_stops_handing_over_before_its_lease_runs_out(any_store: Store) -> None:
    clock = Clock()
    holder = leases.Heartbeat(any_store, "holder", duration=LEASE, clock=clock)
    assert holder.holds(T0 + timedelta(seconds=49))
    assert not holder.holds(T0 + timedelta(seconds=50))  # a sixth of the lease kept for clock skew


def test_only_one_of_many_settlers_takes_a_dead_run_over(any_store: Store) -> None:
    leases.acquire(any_store, "dead", T0, LEASE)
    winners: list[set[str]] = []
    start = threading.Barrier(6)

    def settle(i: int) -> None:
        start.wait(timeout=10)
        winners.append(leases.take_over(any_store, {"dead": T0}, T0 + LEASE, LEASE, taker=f"settler{i}"))

    threads = [threading.Thread(target=settle, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(len(w) for w in winners) == [0, 0, 0, 0, 0, 1]


def test_a_taker_that_dies_too_is_taken_over_after_its_own_lease(any_store: Store) -> None:
    leases.acquire(any_store, "dead", T0, LEASE)
    assert leases.take_over(any_store, {"dead": T0}, T0 + LEASE, LEASE) == {"dead"}
    assert leases.take_over(any_store, {"dead": T0}, T0 + 2 * LEASE - timedelta(seconds=1), LEASE) == set()
    assert leases.take_over(any_store, {"dead": T0}, T0 + 2 * LEASE, LEASE) == {"dead"}


def test_the_heartbeat_thread_renews_and_ending_frees_at_once(tmp_path: Path) -> None:
    store = open_store("sqlite:///state/db.sqlite", tmp_path)
    clock = Clock()
    holder = leases.Heartbeat(store, "holder", duration=timedelta(seconds=3), clock=clock)  # taken at T0
    clock.now = T0 + timedelta(seconds=2)  # before the thread starts: its first renewal reads this, however late
    with holder:
        assert holder.renewed.wait(timeout=60)  # every second (a third of the lease), on its own thread
        assert holder.expires_at == T0 + timedelta(seconds=5)
    assert not leases.alive(store, "holder", T0 + timedelta(seconds=2), T0, timedelta(seconds=3))
    with store.engine.connect() as conn:
        assert conn.execute(text("select taken_by from leases where run_id = 'holder'")).scalar() == ""


def test_a_run_from_before_leases_is_taken_over_by_one_settler_only(any_store: Store) -> None:
    """No lease row at all (a run of the previous version): its last touch stands for a lease."""
    assert leases.take_over(any_store, {"old": T0}, T0 + LEASE - timedelta(seconds=1), LEASE) == set()
    assert leases.take_over(any_store, {"old": T0}, T0 + LEASE, LEASE) == {"old"}
    assert leases.take_over(any_store, {"old": T0}, T0 + LEASE, LEASE) == set()
