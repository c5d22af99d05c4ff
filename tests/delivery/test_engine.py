"""The send engine's writes to the ledger: grouped, so that a message costs one commit, not two."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from newsletter.config import load_settings
from newsletter.store.database import Store
from tests.sink import Sink
from tests.test_dispatch import add_people, send, smtp_config

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
    batches = -(-PEOPLE // 20)  # the SMTP adapter's batches of 20: one claim each
    # Per batch: its claim, one write per message (its mark + the outcome before), the last outcome;
    # then the claim that finds nothing left. Without grouping: two per message, plus the claims (83).
    assert commits <= batches * (1 + 20 + 1) + 1, commits


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
