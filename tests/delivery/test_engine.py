"""The send engine's writes to the ledger: grouped, so that a message costs one commit, not two."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from newsletter.config import load_settings
from newsletter.delivery.smtp import SMTPAdapter
from newsletter.store.database import Store
from tests.sink import Sink
from tests.helpers.sending import add_people, send, smtp_config

PEOPLE = 40


def test_the_ledger_is_written_once_per_message_not_twice(store: Store, project: Path) -> None:
    """Each message is marked sending in the transaction that writes the outcome of the one before."""
    commits = 0
    touched = {"open": False}  # whether the transaction under way has written to the ledger

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES"):
            touched["open"] = True

    def on_commit(_conn: Any) -> None:
        nonlocal commits
        commits += touched["open"]
        touched["open"] = False

    event.listen(store.engine, "before_cursor_execute", on_statement)
    event.listen(store.engine, "commit", on_commit)
    with Sink(pipelining=True) as sink:
        smtp_config(project, sink.port, connections=1)
        add_people(store, PEOPLE)
        report = send(load_settings(project), store)
    assert report.counts == {"sent": PEOPLE}
    claims = -(-PEOPLE // SMTPAdapter.batch_size)  # the SMTP adapter's claims of 100 rows
    slices = -(-PEOPLE // SMTPAdapter.take)  # of which one connection takes 5 at a time (faults' shared pool)
    # Per claim one write; per slice one write per message (its mark + the outcome before: smtp's marking)
    # and the slice's last outcome; then the claim that finds nothing left, and the run's release of what it
    # still holds unmarked (nothing, here). Without grouping: two per message, plus the claims (83).
    assert commits <= claims + slices * (SMTPAdapter.take + 1) + 2, commits


def test_the_progress_counts_each_recipient_once_whatever_its_retries(store: Store, project: Path) -> None:
    """A greylisted message comes back for another try: settled once, when its outcome is final (the
    fault trial's "360 recipients settled" for 300 counted each retry as one more recipient)."""
    settled: list[int] = []
    with Sink() as sink:
        smtp_config(project, sink.port)
        people = add_people(store, 30)
        for address in people[::3]:
            sink.recorder.faults.rcpt_transient_once[address] = "451 4.7.1 Greylisted, try again later"
        report = send(load_settings(project), store, progress=settled.append)
    assert report.counts == {"sent": 30}
    assert sum(settled) == 30, settled


def test_the_engine_does_not_promise_that_a_kill_loses_nobody() -> None:
    """A row in doubt after a kill may never have reached anyone: the docstring says so, and names the lever."""
    from newsletter.delivery import engine

    doc = " ".join((engine.__doc__ or "").split())
    assert "loses nobody" not in doc
    assert "may have arrived or not" in doc and "--resend-uncertain" in doc
