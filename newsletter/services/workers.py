"""Workers: processes that help one send together, on one host or many, through a PostgreSQL store.

A send is started by ``newsletter send`` or the scheduler (the approval gate, the check, the render
stored with the send); a worker never starts one. ``newsletter worker`` loops: it finds the open
sends (started, not finished, not paused), helps each until nothing is left to claim, then waits a
bounded poll for the next one. ``newsletter send DATE --workers N`` starts the send, then runs N such
workers as local processes (``newsletter worker --once --day DATE``) and reports the totals.

Workers share what a single run already has: claims (``FOR UPDATE SKIP LOCKED``), a lease per
worker renewed by its heartbeat (a dead worker's rows are taken over once it has expired, its
rows in flight settled as in doubt), and one pace for the whole send (:mod:`newsletter.store.pacing`).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Mapping, Sequence

from newsletter.config import Settings
from newsletter.core.clock import Clock, utc_now
from newsletter.delivery import reasons
from newsletter.delivery.engine import SendReport, help_send, start_send, tally
from newsletter.errors import ConfigError, NewsletterError, StoreUnavailable
from newsletter.store import ledger
from newsletter.store import workers as stored
from newsletter.store.database import Store, patiently
from newsletter.store.models import DeliveryStatus

log = logging.getLogger(__name__)

#: Seconds between two looks for open sends when a worker has nothing to do.
POLL_SECONDS = 5.0
#: How many new runs in a row a worker starts on a send after its run lost its lease.
LEASE_RETRIES = 3
#: How often the parent of local workers reads the ledger for its progress display.
PROGRESS_EVERY = 0.5
#: What a worker says on SQLite.
NEEDS_POSTGRESQL = ("workers need a PostgreSQL store: set [store] url = \"postgresql://…\" in newsletter.toml; "
                    "on SQLite a send runs as one process (`newsletter send DATE` without --workers)")


def require_shared_store(store: Store | str) -> None:
    """:raises ConfigError: when the store (or the one a ``[store] url`` names) cannot coordinate workers."""
    if not (stored.supported_url(store) if isinstance(store, str) else stored.supported(store)):
        raise ConfigError(NEEDS_POSTGRESQL, hint='e.g. url = "postgresql://newsletter@db.example.org/newsletter"')


def work(settings: Settings, store: Store, *, secret_key: str, stop: threading.Event, once: bool = False,
         day: date | None = None, poll: float = POLL_SECONDS, clock: Clock = utc_now,
         on_report: Callable[[SendReport], None] | None = None) -> list[SendReport]:
    """Help the open sends (only ``day``'s when given) until ``stop`` is set, or once with ``once``.

    :raises ConfigError: on SQLite, or when the transport refuses the configuration.
    """
    require_shared_store(store)
    reports: list[SendReport] = []
    patience = settings.delivery.lease_seconds  # a database restart is waited out, as a run does
    while not stop.is_set():
        for send in patiently(lambda: stored.open_sends(store, day), patience=patience):
            if stop.is_set():
                break
            # A run that lost its lease (a busy machine kept it from renewing in time) hands nothing more over:
            # another run may own its rows. The worker helps again as a new run, which settles what the old
            # one held, rather than leave the send to the others (they may all have lost theirs).
            for attempt in range(LEASE_RETRIES + 1):
                try:
                    report = help_send(settings, store, send.send_id, secret_key=secret_key, clock=clock, stop=stop)
                except ConfigError:
                    raise
                except NewsletterError as err:
                    if once:
                        raise
                    log.error("issue %s: this worker could not help: %s; it looks again in %.0f s", send.day, err,
                              poll)
                    break
                reports.append(report)
                if on_report is not None:
                    on_report(report)
                if not report.lease_lost or report.complete or stop.is_set() or attempt == LEASE_RETRIES:
                    break
                log.warning("issue %s: this worker's run lost its lease (%s); it helps again as a new run",
                            send.day, report.stopped)
        if once:
            break
        stop.wait(poll)
    return reports


def left_undone(reports: Sequence[SendReport], *, stopped: bool) -> bool:
    """Whether a send that :func:`work` helped has failures, or recipients left that no stop explains.

    Only the last run of each send says whether it is complete: a run that lost its lease is followed
    by a new one, which may have finished the send.
    """
    last = {report.day: report for report in reports}
    return any(r.failed_now for r in reports) or (not stopped and any(not r.complete for r in last.values()))


def send_with_workers(settings: Settings, store: Store, day: date, count: int, *, secret_key: str,
                      environ: Mapping[str, str], stop: threading.Event, clock: Clock = utc_now,
                      progress: Callable[[int], None] | None = None) -> SendReport:
    """Start the send of ``day``, run ``count`` local worker processes on it, report the totals.

    :raises ConfigError: on SQLite, or when a worker stopped on a configuration error.
    """
    require_shared_store(store)
    started = time.monotonic()
    opened = start_send(settings, store, day, secret_key=secret_key, clock=clock)
    before = ledger.counts(store, opened.send_id)
    codes = _run_local(settings.root, day, count, environ={**environ, "NEWSLETTER_SECRET_KEY": secret_key},
                       stop=stop, on_tick=_progress_reader(store, opened.send_id, clock(), progress))
    if any(code == 2 for code in codes):
        raise ConfigError(f"a worker of the send stopped on a configuration error (exit codes {codes}); its "
                          "message is above")
    report = opened.report
    patiently(lambda: tally(store, opened.send_id, report, clock()), patience=settings.delivery.lease_seconds)
    report.sent_now = report.count(DeliveryStatus.SENT) - before.get(DeliveryStatus.SENT.value, 0)
    report.failed_now = report.count(DeliveryStatus.FAILED) - before.get(DeliveryStatus.FAILED.value, 0)
    if stop.is_set():
        report.stopped = reasons.STOP_REQUESTED
    elif not report.complete:
        report.stopped = reasons.WORKERS_ENDED % {"codes": codes}
    report.elapsed = time.monotonic() - started
    return report


def _progress_reader(store: Store, send_id: int, since: datetime,
                     progress: Callable[[int], None] | None) -> Callable[[], None]:
    """A tick that passes the messages the workers settled since the last tick to ``progress``.

    Read from the workers' leases (:func:`~newsletter.store.workers.settled_by_runs`), not by counting
    the ledger: the tick runs twice a second for the whole send, and a count of a large send's rows
    took the database's CPU from the very workers it watched.
    """
    done = 0

    def tick() -> None:
        nonlocal done
        if progress is None:
            return
        try:
            now = stored.settled_by_runs(store, send_id, since)
        except StoreUnavailable:  # a database restart: the workers wait it out, the display skips a tick
            return
        if now > done:
            progress(now - done)
            done = now
    return tick


def worker_command(root: Path, day: date) -> list[str]:
    """The command line of one local worker of ``day``'s send."""
    return [sys.executable, "-m", "newsletter", "--project", str(root), "worker", "--once", "--day", day.isoformat()]


def _run_local(root: Path, day: date, count: int, *, environ: Mapping[str, str], stop: threading.Event,
               on_tick: Callable[[], None]) -> list[int]:
    """Run ``count`` workers until they all end; a stop request is passed on to them as SIGTERM."""
    children = [subprocess.Popen(worker_command(root, day), env=dict(environ), stdout=subprocess.DEVNULL)
                for _ in range(count)]
    log.info("issue %s: %d workers started (pids %s)", day, count, ", ".join(str(c.pid) for c in children))
    told = False
    try:
        while any(child.poll() is None for child in children):
            if stop.is_set() and not told:
                told = True
                for child in children:
                    if child.poll() is None:
                        child.send_signal(signal.SIGTERM)
            if stop.is_set():
                time.sleep(PROGRESS_EVERY)  # the children finish the messages in hand
            else:
                stop.wait(PROGRESS_EVERY)
            on_tick()
    except BaseException:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait()
        raise
    on_tick()
    return [child.returncode for child in children]


__all__ = ["NEEDS_POSTGRESQL", "POLL_SECONDS", "left_undone", "require_shared_store", "send_with_workers", "work",
           "worker_command"]
