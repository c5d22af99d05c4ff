"""The scheduler reads the bounce mailbox when [bounces] names one: at start, then every check_minutes."""

from __future__ import annotations

import time
from pathlib import Path

from newsletter import Newsletter
from newsletter.config import load_settings
from newsletter.frontends.scheduler import Scheduler
from newsletter.store.database import Store
from tests.bounces import mails
from tests.helpers.bounces import configure, drop, return_path, sent, statuses
from tests.conftest import SECRET
from tests.helpers.clock import NOW


def test_a_running_scheduler_records_a_bounce_dropped_in_the_maildir(project: Path, store: Store) -> None:
    box = configure(project)
    msgs = sent(project, store)
    drop(box, "1.dsn", mails.dsn(return_path(msgs["dsn"]), "dsn@destinataire.example"))
    settings = load_settings(project)
    scheduler = Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: NOW))
    assert settings.bounces is not None and settings.bounces.check_minutes == 10
    scheduler.start()
    try:
        job = scheduler.scheduler.get_job("bounces")
        assert job is not None and job.trigger.interval.total_seconds() == 600
        deadline = time.monotonic() + 120  # ends when the bounce is recorded
        while statuses(store)["dsn"] != "bounced" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert statuses(store)["dsn"] == "bounced"
    assert list((box / ".Processed" / "cur").iterdir())


def test_no_mailbox_no_job(project: Path, store: Store) -> None:
    configure(project, maildir=False)  # [bounces] for VERP only: the mail comes through a pipe
    scheduler = Scheduler(Newsletter(load_settings(project), store=store, secret_key=SECRET, clock=lambda: NOW))
    scheduler.start()
    try:
        assert scheduler.scheduler.get_job("bounces") is None
    finally:
        scheduler.shutdown()
