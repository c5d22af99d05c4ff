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


FAST = Policy(max_attempts=3, backoff_seconds=0.05)


def smtp_config(project: Path, port: int, **extra: object) -> None:
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8").replace('adapter = "outbox"', 'adapter = "smtp"')
    text = text.replace("rate_per_second = 20", "rate_per_second = 5000")
    # Generous: a loaded machine must never turn a normal answer into a timeout (a test about timeouts sets its own).
    timeout = extra.pop("timeout", 60)
    options = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in extra.items())
    text = text.replace('host = "smtp.example.org"\nport = 587\nsecurity = "starttls"\nusername = "newsletter"\n',
                        f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = {timeout}\n{options}')
    config.write_text(text, encoding="utf-8")


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
