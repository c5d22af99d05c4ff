"""A send left with uncertain rows, built through the engine's and the store's own functions: what a
run killed in the middle of an SMTP send leaves once the next run has settled its rows in flight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter.config import Settings
from newsletter.delivery.engine import start_send
from newsletter.store import leases, ledger
from newsletter.store.database import Store
from newsletter.store.models import DeliveryStatus
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.ledger import mark_sending


@dataclass(frozen=True)
class LeftUncertain:
    """The send of :data:`~tests.conftest.DAY` as a killed run left it."""

    send_id: int
    sent: list[str]  # addresses recorded sent
    uncertain: list[str]  # addresses in doubt, in the ledger's order


def leave_uncertain(settings: Settings, store: Store, *, sent: int, uncertain: int, now: datetime) -> LeftUncertain:
    """Subscribe ``sent + uncertain`` people, start the send (render stored, rows queued), have a run claim
    them all and mark them sending, record ``sent`` of them sent, then die; the next run takes its rows
    over once its lease is over and settles the others as SMTP does (it cannot look them up): uncertain."""
    addresses = [f"abonne{i:04d}@example.org" for i in range(sent + uncertain)]
    for address in addresses:
        add_subscriber(store, address, now=now, first_name="Camille")
    send_id = start_send(settings, store, DAY, secret_key=SECRET, clock=lambda: now).send_id
    dead = ledger.new_run_id()
    claimed = ledger.claim(store, send_id, dead, len(addresses), now)
    mark_sending(store, [c.delivery_id for c in claimed], now)
    ledger.record(store, [ledger.Outcome(c.delivery_id, DeliveryStatus.SENT) for c in claimed[:sent]], now)
    later = now + 2 * leases.DEFAULT_LEASE + timedelta(seconds=1)
    queued, in_doubt = ledger.orphans(store, send_id, later, taker="the next run")
    assert not queued and len(in_doubt) == uncertain
    ledger.settle_in_doubt(store, {key: None for key, _ in in_doubt}, later)
    ledger.finish(store, send_id, later)
    return LeftUncertain(send_id, addresses[:sent], addresses[sent:])
