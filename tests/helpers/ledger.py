"""Ledger rows put in a state a test needs, through the store's own writes."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from newsletter.store import ledger
from newsletter.store.database import Store


def mark_sending(store: Store, delivery_ids: Sequence[int], now: datetime, *, run_id: str | None = None) -> int:
    """Rows past the point of no return, as the engine leaves them when the transport takes them and no
    outcome came back (a crash, a lost answer). :return: how many rows were marked."""
    return ledger.record(store, (), now, then_sending=delivery_ids, run_id=run_id)
