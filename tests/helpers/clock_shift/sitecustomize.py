"""Run a Python child process of the tests under the suite's shifted clock.

``tests/helpers/clock.py`` puts this folder first on ``PYTHONPATH`` and sets
``TESTS_CLOCK_SHIFT`` (seconds) when the suite runs under ``--clock-shift``: a
``newsletter`` command the tests start (crash tests, ``kill -9``) then reads the same shifted
clock as the test that started it.
"""

import os

_SHIFT = os.environ.get("TESTS_CLOCK_SHIFT")
if _SHIFT:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_SHIFT), tick=True).start()
    time.time()  # a ticking travel counts from its first reading: read now, or the clock lags behind the parent's
