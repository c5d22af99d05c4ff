"""The one clock: what "now" means for the whole package.

Every part that needs the time takes a :data:`Clock` (``Newsletter(..., clock=...)``, the engine,
the leases, the scheduler) and defaults to :func:`utc_now`, so that a test pins the time in one
place. ``tests/test_clock.py`` fails when another module defines its own or reads the wall clock.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

#: A source of the current time: an aware ``datetime`` (UTC unless a test says otherwise).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)
