"""Sending an issue in a test: the project on the SMTP sink, people to send to, the engine's send with a
short retry policy."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from newsletter.config import Settings
from newsletter.delivery.engine import Policy, send_issue
from newsletter.store.database import Store
from newsletter.store.models import Delivery
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW
from tests.helpers.config import remove_option, set_options


FAST = Policy(max_attempts=3, backoff_seconds=0.05)


def smtp_config(project: Path, port: int, **extra: object) -> None:
    """Send through the SMTP sink on ``port`` (no TLS, no login), fast; ``extra``: more [delivery.smtp] options."""
    set_options(project, "delivery", adapter="smtp", rate_per_second=5000)
    # Generous: a loaded machine must never turn a normal answer into a timeout (a test about timeouts sets its own).
    timeout = extra.pop("timeout", 60)
    remove_option(project, "delivery.smtp", "username", missing_ok=True)  # no login, unless ``extra`` asks for one
    set_options(project, "delivery.smtp", host="127.0.0.1", port=port, security="none", timeout=timeout, **extra)


def add_people(store: Store, n: int) -> list[str]:
    addresses = [f"lecteur{i:04d}@example.org" for i in range(n)]
    for i, address in enumerate(addresses):
        add_subscriber(store, address, now=NOW, first_name=f"Prénom{i}", last_name="Nom")
    return addresses


def send(settings: Settings, store: Store, **kwargs: object):  # type: ignore[no-untyped-def]
    return send_issue(settings, store, DAY, secret_key=SECRET, policy=FAST, **kwargs)  # type: ignore[arg-type]


def attempts_of(store: Store) -> dict[str, int]:
    with store.session() as session:
        return {row.email: row.attempts for row in session.execute(select(Delivery.email, Delivery.attempts))}
