"""Returned mail in a test: a project with a bounce mailbox, the messages sent to one subscriber per
case, the mailbox's files, the subscribers' statuses and `newsletter bounces process` (fixture ``run``)."""

from __future__ import annotations

import email
import io
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import select

from newsletter.config import load_settings
from newsletter.delivery.engine import Policy, send_issue
from newsletter.frontends.cli import main
from newsletter.store.database import Store
from newsletter.store.models import Subscriber
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW


#: When the mailbox is read: the reports of 23 to 25 November lie inside the soft-bounce window.
READ = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
BOUNCES = "bounces@bounce.example.org"
UNSUB = "unsubscribe@bounce.example.org"
PEOPLE = ("dsn", "qmail", "delayed", "yahoo", "microsoft", "mailto", "innocent")


def configure(project: Path, *, maildir: bool = True) -> Path:
    box = project / "state" / "bounces"
    table = f'\n[bounces]\naddress = "{BOUNCES}"\nunsubscribe_address = "{UNSUB}"\n'
    if maildir:
        table += 'maildir = "state/bounces"\n'
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + table, encoding="utf-8")
    return box


def sent(project: Path, store: Store) -> dict[str, Message]:
    """Send the issue through the outbox to one subscriber per case; each one's message as received."""
    for name in PEOPLE:
        add_subscriber(store, f"{name}@destinataire.example", now=NOW)
    send_issue(load_settings(project), store, DAY, secret_key=SECRET, policy=Policy(max_attempts=1), clock=lambda: NOW)
    out: dict[str, Message] = {}
    for file in (project / "out" / "outbox" / "new").iterdir():
        msg = email.message_from_bytes(file.read_bytes())
        out[str(msg["To"]).split("@")[0]] = msg
    assert set(out) == set(PEOPLE)
    return out


def return_path(msg: Message) -> str:
    return str(msg["Return-Path"]).strip("<>")


def statuses(store: Store) -> dict[str, str]:
    with store.session() as session:
        return {row.email.split("@")[0]: row.status for row in session.execute(select(Subscriber)).scalars()}


def drop(box: Path, name: str, data: bytes) -> None:
    (box / "new" / name).write_bytes(data)


@pytest.fixture
def run(project: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)

    def go(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(["--project", str(project), "bounces", "process", *args], clock=lambda: READ)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return go
