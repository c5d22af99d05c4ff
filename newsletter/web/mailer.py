"""The confirmation mails of the web service, sent from one background thread.

A request only queues the address, whatever the address is (new, pending, active,
unsubscribed): the answer takes the same time in every case and tells nothing about who is
subscribed. The thread then decides whether a mail goes out (not to an active address) and
enforces the limit per address, so nobody can use the service to flood a mailbox.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)


class RateGate:
    """``"3 per hour; 5 per day"`` for each key, in memory (one process serves the site)."""

    def __init__(self, rule: str) -> None:
        self.items: list[RateLimitItem] = parse_many(rule)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, namespace: str, key: str) -> bool:
        """Count one use of ``key``; False (and nothing counted) once any window is full."""
        if not all(self.limiter.test(item, namespace, key) for item in self.items):
            return False
        for item in self.items:
            self.limiter.hit(item, namespace, key)
        return True


class MailQueue:
    """Addresses waiting for their confirmation mail; ``deliver`` runs for each, in a daemon thread."""

    def __init__(self, *, size: int = 1000, start: bool = True) -> None:
        self._jobs: queue.Queue[str] = queue.Queue(maxsize=size)
        self._deliver: Callable[[str], None] | None = None
        self._thread: threading.Thread | None = None
        self._start = start

    def bind(self, deliver: Callable[[str], None]) -> None:
        """Set what to do with each address (the app does this); start the thread unless told not to."""
        self._deliver = deliver
        if self._start:
            self.start()

    def start(self) -> None:
        """Start the background thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="newsletter-mail", daemon=True)
            self._thread.start()

    def submit(self, address: str) -> None:
        """Queue ``address``; never blocks the request (a full queue drops it, with a warning)."""
        try:
            self._jobs.put_nowait(address)
        except queue.Full:
            log.warning("the confirmation queue is full; a request was dropped")

    def pending(self) -> int:
        """How many addresses wait for their mail."""
        return self._jobs.qsize()

    def join(self) -> None:
        """Wait until every queued address was handled (tests, and a clean stop)."""
        self._jobs.join()

    def _run(self) -> None:
        while True:
            address = self._jobs.get()
            try:
                if self._deliver is not None:
                    self._deliver(address)
            except Exception:  # one failed mail must not stop the thread
                log.exception("a confirmation mail could not be handled")
            finally:
                self._jobs.task_done()
