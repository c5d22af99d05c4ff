"""The send engine's writes to the ledger: grouped, so that a message costs a fraction of a commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from newsletter.config import load_settings
from newsletter.delivery.engine import MARK_AHEAD
from newsletter.delivery.smtp import SMTPAdapter
from newsletter.store.database import Store
from tests.sink import Sink
from tests.test_dispatch import add_people, send, smtp_config

PEOPLE = 40


def test_the_ledger_is_written_once_per_few_messages_not_twice_per_message(store: Store, project: Path) -> None:
    """Rows are marked sending MARK_AHEAD at a time, in the transaction that writes the outcomes known by then."""
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
    claims = -(-PEOPLE // SMTPAdapter.batch_size)  # the SMTP adapter's claims of 20 rows
    slices = -(-PEOPLE // SMTPAdapter.take)  # of which one connection takes 5 at a time
    # Per claim one write; per slice, one write per MARK_AHEAD messages (marks + outcomes so far) and the
    # last outcomes; then the claim that finds nothing left, and the run's release of what it still holds
    # unmarked (nothing, here). Before grouping: two per message, plus the claims (83).
    assert commits <= claims + slices * (-(-SMTPAdapter.take // MARK_AHEAD) + 1) + 2, commits
