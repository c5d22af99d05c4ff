"""The HTTP API's keys (``newsletter api-keys``): made here, shown once, kept as a hash.

A key is ``nlk_`` and 32 random bytes in URL-safe base64; the store keeps its SHA-256, so a
copy of the database gives no usable key. A request names its key in ``Authorization: Bearer``;
:meth:`ApiKeys.authenticate` finds it, refuses a revoked one and records the use.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

from newsletter.core.i18n import Quoted
from newsletter.errors import N_, UsageError
from newsletter.library.accounts import checked_user_name
from newsletter.store import api_keys as table
from newsletter.store.database import Store

#: What a key may be allowed to do.
SCOPES = ("subscribers:read", "subscribers:write", "issues:read")
PREFIX = "nlk_"


@dataclass(frozen=True)
class ApiKey:
    """A key as ``api-keys list`` and the API see it (never the key itself)."""

    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return self.active and scope in self.scopes


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def checked_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, each one of :data:`SCOPES`, at least one, without repeats, in :data:`SCOPES`' order.

    :raises UsageError: naming the unknown scope.
    """
    given = [s.strip() for s in scopes]
    for scope in given:
        if scope not in SCOPES:
            raise UsageError(N_("%(scope)s is not a scope"), hint=N_("choose among %(scopes)s"),
                             values={"scope": Quoted(scope), "scopes": ", ".join(SCOPES)})
    if not given:
        raise UsageError(N_("a key needs at least one scope"), hint=N_("add --scope with one of %(scopes)s"),
                         values={"scopes": ", ".join(SCOPES)})
    return tuple(s for s in SCOPES if s in given)


def _key(record: table.KeyRecord) -> ApiKey:
    return ApiKey(record.name, record.scopes, record.created_at, record.last_used_at, record.revoked_at)


class ApiKeys:
    """The API keys of one project's store (``Newsletter.api_keys``)."""

    def __init__(self, store: Callable[[], Store], clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def add(self, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        """Make a key; returns it and the secret, which nothing keeps: show it once.

        :raises UsageError: for a bad name or scope, or a name an active key has.
        """
        name, allowed = checked_user_name(name), checked_scopes(scopes)
        secret = PREFIX + secrets.token_urlsafe(32)
        if not table.save_key(self._store(), name, allowed, _digest(secret), now=self._clock()):
            raise UsageError(N_("an API key called %(name)s already exists"),
                             hint=N_("choose another name, or revoke it first with `newsletter api-keys revoke "
                                     "%(key)s`"), values={"name": Quoted(name), "key": name})
        key = next(k for k in self.list() if k.name == name)
        return key, secret

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, by name."""
        return [_key(record) for record in table.list_keys(self._store())]

    def revoke(self, name: str) -> None:
        """Revoke the key: the next request with it gets a 401.

        :raises UsageError: when no active key has that name.
        """
        if not table.revoke_key(self._store(), name.strip().lower(), now=self._clock()):
            raise UsageError(N_("no active API key called %(name)s"), hint=N_("see `newsletter api-keys list`"),
                             values={"name": Quoted(name)})

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is (its use recorded), or None."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        record = table.use_key(self._store(), _digest(secret), now=self._clock())
        return _key(record) if record is not None else None
