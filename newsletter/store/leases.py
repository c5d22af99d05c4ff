"""Leases: how long a run owns what it claimed, whatever its process id says.

A run (a send, a scheduler process) takes a lease in the store when it starts and renews it
by heartbeat (:class:`Heartbeat`, every third of the lease). What the run claimed (ledger rows,
a day's claim) is its own while the lease is valid; once it has expired, another run
*takes it over* (:func:`take_over`) and only then settles what the dead run held. A process id
would not do: in a container every sender is PID 1 and the host name survives a restart.

Taking over marks the lease in the same statement that finds it expired, so two runs never
settle the same rows, and a holder that was only frozen (not dead) learns at its next renewal
that it lost its rows (:attr:`Heartbeat.lost`) and stops before handing anything over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from sqlalchemy import CursorResult, delete, select, update

from newsletter.core.clock import Clock
from newsletter.errors import StoreError
from newsletter.store.database import Store
from newsletter.store.models import Lease

log = logging.getLogger(__name__)

#: The lease of a run unless ``[delivery] lease_seconds`` says otherwise.
DEFAULT_LEASE = timedelta(seconds=60)
#: The window of the rate a live worker shows (messages per second over its last renewals).
RATE_WINDOW = 30.0
#: Seconds between two writes of a run's settled messages on its lease, between renewals (progress displays).
PROGRESS_EVERY = 1.0
#: Expired leases are kept this long (for ``status`` and post-mortems), then pruned.
KEEP_EXPIRED = timedelta(days=2)


def acquire(store: Store, run_id: str, now: datetime, duration: timedelta = DEFAULT_LEASE, *,
            send_id: int | None = None) -> datetime:
    """Start the lease of ``run_id`` (working on ``send_id``, if a send); return when it expires unless renewed."""
    expires = now + duration
    with store.session() as session:
        session.execute(delete(Lease).where(Lease.expires_at < now - KEEP_EXPIRED))
        session.add(Lease(run_id=run_id, holder=f"{socket.gethostname()}:{os.getpid()}"[:200], expires_at=expires,
                          renewed_at=now, send_id=send_id, messages=0, rate=0.0))
    return expires


def renew(store: Store, run_id: str, now: datetime, duration: timedelta = DEFAULT_LEASE, *,
          messages: int | None = None, rate: float | None = None) -> datetime | None:
    """Extend the lease; None when another run has taken it over (what it held is no longer the run's).

    :param messages: the run's messages settled so far, and ``rate`` its recent messages per second,
        written on the lease for ``status`` (left as they were when None).
    """
    expires = now + duration
    shown: dict[str, object] = {}
    if messages is not None:
        shown["messages"] = messages
    if rate is not None:
        shown["rate"] = rate
    with store.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Lease).where(Lease.run_id == run_id, Lease.taken_by == "")
            .values(expires_at=expires, renewed_at=now, **shown))
        return expires if result.rowcount else None


def note_progress(store: Store, run_id: str, messages: int) -> None:
    """Write the run's messages settled so far on its lease (one row by its key), without renewing it."""
    with store.session() as session:
        session.execute(update(Lease).where(Lease.run_id == run_id, Lease.taken_by == "").values(messages=messages))


def end(store: Store, run_id: str, now: datetime, *, messages: int | None = None) -> None:
    """End the lease now: anything the run still holds (rows in doubt after an error) can be settled at once.

    :param messages: the run's final count of settled messages, written on the lease (when given).
    """
    shown = {} if messages is None else {"messages": messages}
    with store.session() as session:
        session.execute(update(Lease).where(Lease.run_id == run_id, Lease.taken_by == "", Lease.expires_at > now)
                        .values(expires_at=now, **shown))


def alive(store: Store, run_id: str, now: datetime, last_touch: datetime | None,
          duration: timedelta = DEFAULT_LEASE) -> bool:
    """Whether ``run_id`` still owns what it claimed: its lease is valid and nobody took it over.

    A run without a lease row (one from before leases, or whose lease was pruned) owns nothing
    once ``duration`` has passed since it last touched what it claimed.
    """
    with store.session() as session:
        row = session.execute(select(Lease.expires_at, Lease.taken_by).where(Lease.run_id == run_id)).first()
    if row is not None:
        return not row.taken_by and now < row.expires_at
    return last_touch is not None and now - last_touch < duration


def take_over(store: Store, last_touch: Mapping[str, datetime | None], now: datetime,
              duration: timedelta = DEFAULT_LEASE, *, taker: str = "another run") -> set[str]:
    """The runs among ``last_touch``'s keys whose lease has expired, now taken over by ``taker``.

    Taking over is one conditional statement per run, so of two callers only one gets it, and
    the run itself can no longer renew. The taker holds the dead run's lease for ``duration``
    while it settles what the run held; if the taker dies too, a third run takes over after that.
    """
    taker = taker[:64] or "another run"
    dead: set[str] = set()
    with store.session() as session:
        for run_id, touched in last_touch.items():
            if session.scalar(select(Lease.run_id).where(Lease.run_id == run_id)) is None:
                if touched is not None and now - touched < duration:
                    continue  # no lease (a run from before leases): its last touch stands for one
                won = session.execute(
                    store.insert(Lease).values(run_id=run_id, holder="", expires_at=now + duration, renewed_at=now,
                                         taken_by=taker).on_conflict_do_nothing(index_elements=["run_id"])
                    .returning(Lease.run_id)).first()
            else:
                won = session.execute(
                    update(Lease).where(Lease.run_id == run_id, Lease.expires_at <= now)
                    .values(taken_by=taker, expires_at=now + duration).returning(Lease.run_id)).first()
            if won is not None:
                dead.add(run_id)
    return dead


class Heartbeat:
    """Holds a run's lease: takes it, renews it every third of its duration on a thread, ends it.

    :param clock: the time written into the store (tests inject one); the thread's pace
        between renewals is real time.
    :param on_lost: called once (from the thread) if another run took the lease over.
    :param send_id: the send the run works on, and ``progress`` the messages it settled so far: each
        renewal writes them, with the rate over :data:`RATE_WINDOW`, on the lease (``status``'s workers).
    """

    def __init__(self, store: Store, run_id: str, *, duration: timedelta = DEFAULT_LEASE, clock: Clock,
                 on_lost: Callable[[], None] | None = None, send_id: int | None = None,
                 progress: Callable[[], int] | None = None) -> None:
        self.store, self.run_id, self.duration, self.clock = store, run_id, duration, clock
        self.on_lost = on_lost
        self.progress = progress
        self._seen: deque[tuple[float, int]] = deque()  # (monotonic, messages) at the recent renewals
        if progress is not None:
            self._seen.append((time.monotonic(), 0))
        self.lost = threading.Event()
        self.renewed = threading.Event()  # set at each renewal (tests wait on it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.expires_at = acquire(store, run_id, clock(), duration, send_id=send_id)

    def start(self) -> "Heartbeat":
        """Renew the lease from a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name=f"lease-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def beat(self) -> bool:
        """Renew now; False (and :attr:`lost` set) when the lease was taken over."""
        if self.lost.is_set():
            return False
        messages, rate = self._pace()
        expires = renew(self.store, self.run_id, self.clock(), self.duration, messages=messages, rate=rate)
        if expires is None:
            self.lost.set()
            log.error("run %s: its lease was taken over by another run; it stops handing messages over",
                      self.run_id)
            if self.on_lost is not None:
                self.on_lost()
            return False
        self.expires_at = expires
        self.renewed.set()
        return True

    def _pace(self) -> tuple[int | None, float | None]:
        """Messages settled so far and their rate since the oldest renewal within :data:`RATE_WINDOW`."""
        if self.progress is None:
            return None, None
        now, messages = time.monotonic(), self.progress()
        self._seen.append((now, messages))
        while len(self._seen) > 2 and now - self._seen[0][0] > RATE_WINDOW:
            self._seen.popleft()
        then, before = self._seen[0]
        return messages, (messages - before) / (now - then) if now > then else 0.0

    def holds(self, now: datetime) -> bool:
        """Whether the run may still act on what it claimed: its lease is its own and not about to expire.

        A sixth of the lease is kept as a margin for clocks that differ between hosts.
        """
        return not self.lost.is_set() and now < self.expires_at - self.duration / 6

    def _loop(self) -> None:
        every = self.duration.total_seconds() / 3
        last = time.monotonic()
        while not self._stop.wait(min(every, PROGRESS_EVERY) if self.progress else every):
            try:
                if time.monotonic() - last < every:
                    if self.progress is not None:  # between renewals, the progress only: one row by its key
                        note_progress(self.store, self.run_id, self.progress())
                    continue
                last = time.monotonic()
                if not self.beat():
                    return
            except Exception as err:  # a store hiccup: try again at the next beat; holds() tells if it lasts
                log.warning("run %s: could not renew its lease: %s", self.run_id, err)

    def stop(self) -> None:
        """Stop renewing and end the lease."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if not self.lost.is_set():
            try:
                end(self.store, self.run_id, self.clock(), messages=None if self.progress is None else self.progress())
            except StoreError as err:  # the store is down: the lease expires by itself
                log.warning("run %s: could not end its lease: %s", self.run_id, err)

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
