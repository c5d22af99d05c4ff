"""The suite under a shifted clock: ``pytest --clock-shift DAYS`` moves the real clock.

A test that reads the real date or time (``date.today()``, ``datetime.now()`` or a command's
default clock) instead of an injected one passes on the day it was written and fails weeks later,
when its fixtures have aged. Shifting the clock by months makes such a test fail today. The shift
applies to this process (time-machine moves ``time.time``, ``datetime.now`` and ``date.today``;
the clock keeps ticking, monotonic clocks are untouched) and to the Python processes the tests
start (through :mod:`tests.helpers.clock_shift.sitecustomize`).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import time_machine

ENV = "TESTS_CLOCK_SHIFT"
#: The time the tests pin when they need one: 06:00 UTC on the fixture issue's day (``tests.conftest.DAY``).
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
_CHILDREN = Path(__file__).resolve().parent / "clock_shift"


def shift_clock(days: float) -> time_machine.travel | None:
    """Move this process's clock and its Python children's by ``days`` (negative: into the past)."""
    seconds = days * 86400.0
    if os.environ.get(ENV) == repr(seconds) and time_machine.escape_hatch.is_travelling():
        return None  # a child of a shifted suite (an xdist worker): sitecustomize has moved its clock already
    os.environ[ENV] = repr(seconds)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(_CHILDREN), os.environ.get("PYTHONPATH"))))
    traveller = time_machine.travel(time.time() + seconds, tick=True)
    traveller.start()
    time.time()  # a ticking travel counts from its first reading, not from its start: read it at once
    return traveller


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock that reads ``start`` now and runs on from there (the monotonic clock drives it)."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def real_now() -> datetime:
    """The machine's own time, even under ``--clock-shift``: for what OpenSSL checks (certificate dates),
    which reads the system clock and not Python's."""
    if not time_machine.escape_hatch.is_travelling():  # time-machine 3.6 raises when asked outside travel
        return datetime.now(timezone.utc)
    return datetime.fromtimestamp(time_machine.escape_hatch.time.time(), timezone.utc)
