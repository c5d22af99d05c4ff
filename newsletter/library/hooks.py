"""The outgoing webhooks (``[[hooks]]``): the worker that posts the outbox, ``hooks list`` and ``hooks retry``.

The events are written by the store in the transaction of their cause (:mod:`newsletter.store.outbox`);
this part only posts them, in a thread of its own (:meth:`Hooks.start`) in ``serve`` and the
scheduler, so that a receiver that is slow or down never holds up a send: the send only wrote a row.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Callable, Mapping

from newsletter.config import Settings, secret_from_env
from newsletter.core.clock import Clock
from newsletter.errors import ConfigError, NewsletterError, UsageError
from newsletter.services import hooks as posting
from newsletter.store import outbox
from newsletter.store.database import Store
from newsletter.store.outbox import HookEvent

log = logging.getLogger(__name__)

#: How long a worker holds an event it is posting (another process's worker leaves it meanwhile).
HOLD = timedelta(minutes=2)
STATES = (outbox.PENDING, outbox.DELIVERED, outbox.FAILED)


class Hooks:
    """Posting and listing the events of ``[[hooks]]``."""

    def __init__(self, settings: Settings, store: Callable[[], Store], clock: Clock,
                 environ: Mapping[str, str], *, reading: Callable[[], Store] | None = None) -> None:
        self.settings = settings
        self._store = store
        self._reading = reading or store  # what a listing reads: never a new database
        self.clock = clock
        self.environ = environ

    def _keys(self) -> dict[str, bytes | ConfigError]:
        """Each receiver's key, or why it has none (the worker writes that on its events, and goes on)."""
        keys: dict[str, bytes | ConfigError] = {}
        for hook in self.settings.hooks:
            try:
                secret = secret_from_env(hook.secret_env, purpose=f"signing secret of the hook {hook.url}",
                                         environ=self.environ)
                keys[hook.url] = posting.secret_bytes(secret, hook.secret_env)
            except ConfigError as err:
                keys[hook.url] = err
        return keys

    def deliver_due(self, *, limit: int = 20) -> int:
        """Post the events whose time has come (at most ``limit``); how many were taken."""
        if not self.settings.hooks:
            return 0
        store, keys, taken = self._store(), self._keys(), 0
        allow_private = self.settings.sourcing.allow_private_networks
        for event in outbox.due(store, self.clock(), limit):
            now = self.clock()
            if not outbox.claim(store, event.row_id, now, now + HOLD):
                continue
            key = keys.get(event.hook)
            if key is None:
                error = "no [[hooks]] table has this url any more"
            elif isinstance(key, ConfigError):
                error = key.message
            else:
                error = posting.deliver(event.hook, key, event.event_id, event.payload.encode("utf-8"), now,
                                        allow_private_redirects=allow_private)
            done = self.clock()
            if not error:
                outbox.delivered(store, event.row_id, done)
                log.info("hook %s: %s %s delivered", event.hook, event.type, event.event_id)
            else:
                retry_at = posting.next_attempt(event.created_at, event.attempts + 1, done)
                outbox.attempt_failed(store, event.row_id, error, retry_at)
                log.warning("hook %s: %s %s not delivered (%s); %s", event.hook, event.type, event.event_id, error,
                            f"tried again at {retry_at.isoformat()}" if retry_at else "given up after a day of "
                            "retries; `newsletter hooks retry` tries it again")
            taken += 1
        return taken

    def start(self, stop: threading.Event, *, poll: float = 2.0) -> threading.Thread | None:
        """Post the outbox in a background thread until ``stop`` is set; None when there are no ``[[hooks]]``."""
        if not self.settings.hooks:
            return None

        def run() -> None:
            while not stop.is_set():
                try:
                    busy = self.deliver_due()
                except NewsletterError as err:  # the database away for a while: the next round tries again
                    log.warning("hooks: %s", err)
                    busy = 0
                if not busy and stop.wait(poll):
                    break

        thread = threading.Thread(target=run, name="newsletter-hooks", daemon=True)
        thread.start()
        return thread

    def events(self, *, state: str | None = None, limit: int = 50) -> list[HookEvent]:
        """The latest events and their delivery, newest first (``hooks list``)."""
        if state is not None and state not in STATES:
            raise UsageError(f"unknown state {state!r}; choose one of {', '.join(STATES)}")
        return outbox.list_events(self._reading(), state=state, limit=limit)

    def retry(self, event_id: str | None = None) -> int:
        """Try the given-up events again (one, or all), with a new day of retries; how many."""
        return outbox.retry(self._store(), self.clock(), event_id=event_id)

