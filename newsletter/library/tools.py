"""The operations that need no open project: ``doctor``, a new DKIM key, the service's JSON logs."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, TextIO

from newsletter.config import find_project
from newsletter.library.project import PROJECT_ENV

if TYPE_CHECKING:
    from newsletter.delivery.dkim import NewKey
    from newsletter.doctor import Finding


def diagnose(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
             nameservers: Iterable[str] = (), timeout: float = 5.0, ca_file: Path | None = None) -> list["Finding"]:
    """``newsletter doctor``: the project's setup as receivers see it (DNS, https, one-click, secrets).

    The project need not load: a configuration error is the first finding, not an exception.
    """
    from newsletter.doctor import Network, diagnose as run

    root = Path(path) if path is not None else Path(os.environ.get(PROJECT_ENV) or find_project(Path.cwd()))
    return run(root, environ=os.environ if environ is None else environ,
               network=Network(nameservers=tuple(nameservers), timeout=timeout, ca_file=ca_file))


def make_dkim_key(selector: str, domain: str, kind: str, path: Path) -> "NewKey":
    """Create a DKIM private key at ``path`` (mode 0600, never overwritten) and the DNS record to publish."""
    from newsletter.delivery.dkim import keygen

    return keygen(selector, domain, kind, path)


def log_events_as_json(stream: TextIO) -> None:
    """Log as a long-running service does: one JSON object per line on ``stream`` (journald adds the
    time), the scheduler's and APScheduler's events at INFO, and a crashed thread as an error line."""
    from newsletter.core.logs import JsonLines, QuietJobs, log_thread_crashes
    from newsletter.schedule.jobs import HEARTBEAT_JOB

    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    # Two lines of APScheduler's every 30 s would bury what happens; the heartbeat says it is alive hourly.
    handler.addFilter(QuietJobs(HEARTBEAT_JOB))
    for root_handler in logging.getLogger().handlers:  # anything else that logs: JSON too
        root_handler.setFormatter(JsonLines())
    log_thread_crashes()
    for name in ("newsletter", "apscheduler"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
