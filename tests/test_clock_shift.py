"""`pytest --clock-shift DAYS` moves the clock of the tests and of the Python processes they start.

`make test` runs the suite that way, so a test that reads the real date instead of an injected clock
fails on the day it is written rather than weeks later, when its fixtures have aged.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from tests.helpers.clock import real_now
from tests.helpers.children import python_env


@pytest.fixture
def shift_days(request: pytest.FixtureRequest) -> float:
    days = request.config.getoption("--clock-shift")
    if not days:
        pytest.skip("the suite runs on the real clock (`make test` shifts it; see --clock-shift)")
    return float(days)


def test_the_shift_moves_this_process_clock(shift_days: float) -> None:
    moved = (datetime.now(timezone.utc) - real_now()).total_seconds() / 86400
    assert abs(moved - shift_days) < 0.01


def test_a_python_child_reads_the_same_moved_clock(shift_days: float) -> None:
    out = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], env=python_env(),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    moved = (float(out) - real_now().timestamp()) / 86400
    assert abs(moved - shift_days) < 0.01


def test_a_child_that_reads_the_clock_late_is_shifted_by_exactly_the_same_amount(shift_days: float) -> None:
    """time-machine's ticking clock starts at its first reading, not when the travel starts: a child that
    first read the time a second after it started ran a second behind its parent. A worker's lease, ended
    at the worker's "now", then looked live to the test that started it (the SIGTERM workers test)."""
    code = "import time, time_machine; time.sleep(1.0); print(time.time() - time_machine.escape_hatch.time.time())"
    out = subprocess.run([sys.executable, "-c", code], env=python_env(), capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert abs(float(out) - shift_days * 86400) < 0.5
