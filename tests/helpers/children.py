"""The environment of a Python process a test starts (``python -m newsletter …``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def python_env(**extra: str) -> dict[str, str]:
    """This process's environment with the repository first on ``PYTHONPATH``, ``extra`` added.

    What ``PYTHONPATH`` held stays after it: under ``pytest --clock-shift`` it carries the folder
    that moves the child's clock with the suite's (:mod:`tests.helpers.clock`).
    """
    path = os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))
    return {**os.environ, "PYTHONPATH": path, **extra}
