"""The core every operation and part of the library reaches: one project's settings, its store
(opened on first use), its secret key and its clock.

:class:`Project` is the base of :class:`~newsletter.library.Newsletter`; the parts
(:mod:`newsletter.library.subscribers`, :mod:`~newsletter.library.archive`…) hold the project
they work on, never a store or a key of their own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Self, TypeVar

from newsletter.core.clock import Clock, utc_now
from newsletter.config import SECRET_KEY_ENV, Settings, secret_from_env
from newsletter.errors import N_, ContentError
from newsletter.library.results import refusal_for

if TYPE_CHECKING:
    from newsletter.core.i18n import Message
    from newsletter.content.approval import ApprovalState
    from newsletter.store.database import Store

R = TypeVar("R")

#: A SQLite URL naming a file (``sqlite:///state/newsletter.db``, ``sqlite+pysqlite:////abs/path.db?mode=rw``).
_SQLITE_FILE = re.compile(r"sqlite(?:\+\w+)?:///([^?%]+)(?:\?.*)?", re.DOTALL)


def _no_sqlite_file(url: str, root: Path) -> bool:
    """True when ``url`` plainly names a SQLite file that does not exist (relative paths from ``root``); any
    other URL is left to :func:`newsletter.store.database.open_existing_store` to read."""
    match = _SQLITE_FILE.fullmatch(url)
    if match is None or match.group(1) == ":memory:":
        return False
    path = Path(match.group(1))
    return not (path if path.is_absolute() else root / path).is_file()


#: Where ``Newsletter.open()`` looks for the project when no path is given (as ``--project`` does).
PROJECT_ENV = "NEWSLETTER_PROJECT"


@dataclass(frozen=True)
class SecretKey:
    """The key that signs unsubscribe and confirmation links, with the warning a weak one deserves."""

    value: str = field(repr=False)
    warning: "Message | None" = None  # set when a weak key is accepted only because nothing leaves the machine


class Project:
    """One newsletter project: settings, store (opened on first use), secret key and clock.

    :param settings: the project's validated settings.
    :param store: an open store; by default the one ``[store] url`` names, opened when first needed.
    :param secret_key: the signing key; by default ``NEWSLETTER_SECRET_KEY`` read when first needed.
    :param environ: where secrets and names are read (default: the process environment).
    :param clock: the time now, aware (tests pin it).
    """

    def __init__(self, settings: Settings, *, store: "Store | None" = None, secret_key: str | None = None,
                 environ: Mapping[str, str] | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.clock: Clock = clock or utc_now
        self._store = store
        if store is not None:
            store.hooks = settings.hook_routes
        self._owns_store = False
        self._empty: "Store | None" = None  # what reading a project without a database sees
        self._secret_key = secret_key

    @property
    def store(self) -> "Store":
        """The store, created and migrated on first use."""
        from newsletter.store.database import open_store

        if self._store is None:
            self._store = open_store(self.settings.store.url, self.settings.root)
            self._store.hooks = self.settings.hook_routes
            self._owns_store = True
        return self._store

    def existing_store(self) -> "Store | None":
        """The store if the project has one already (reading never creates a database)."""
        if self._store is None and _no_sqlite_file(self.settings.store.url, self.settings.root):
            return None  # said without importing SQLAlchemy (a fifth of a second): `check` needs no store then
        from newsletter.store.database import open_existing_store

        if self._store is None:
            self._store = open_existing_store(self.settings.store.url, self.settings.root)
            self._owns_store = self._store is not None
            if self._store is not None:
                self._store.hooks = self.settings.hook_routes
        return self._store

    def reading_store(self) -> "Store":
        """The store for an operation that only reads: the project's, or, while its SQLite file does
        not exist yet, an empty one in memory (reading never creates a database)."""
        from newsletter.store.status import empty_store, no_database_yet

        if self._store is None and no_database_yet(self.settings.store.url, self.settings.root):
            if self._empty is None:
                self._empty = empty_store()
            return self._empty
        return self.store

    def secret_key(self, *, listen: str | None = None) -> SecretKey:
        """``NEWSLETTER_SECRET_KEY`` (or the key given), refused when short, repetitive or published.

        Only the demo's local outbox (nothing leaves the machine) accepts such a key, with a
        warning, and for the web service only while it listens on a loopback address (``listen``).

        :raises ConfigError: when the key is missing or weak.
        """
        from newsletter.delivery.base import is_loopback
        from newsletter.core.i18n import Message
        from newsletter.core.tokens import check_secret_key, weakness

        if self._secret_key is None:
            self._secret_key = secret_from_env(SECRET_KEY_ENV, purpose=N_("key that signs unsubscribe links"),
                                               environ=self.environ)
        key = self._secret_key
        local_demo = self.settings.delivery.adapter == "outbox" and (listen is None or is_loopback(listen))
        check_secret_key(key, SECRET_KEY_ENV, local_demo=local_demo)
        found = weakness(key) if local_demo else None
        warning = None if found is None else Message(
            N_("%(variable)s %(weakness)s; accepted only because the outbox adapter delivers nothing"),
            {"variable": SECRET_KEY_ENV, "weakness": found})
        return SecretKey(key, warning)

    def today(self) -> date:
        """Today in the newsletter's time zone: the default issue date."""
        return self.settings.today(self.clock())

    def close(self) -> None:
        """Close the store this object opened (a store passed in stays open)."""
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None
        if self._empty is not None:
            self._empty.close()
            self._empty = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _day(self, day: date | str | None) -> date:
        """The issue asked for: a date or :class:`~newsletter.core.issue_id.IssueId`, an id as typed
        (``"2026-12-07-speciale"``), or today's daily issue."""
        from newsletter.core.issue_id import IssueId

        if isinstance(day, str):
            return IssueId.parse(day)
        return day or self.today()

    def edition(self, day: date | None, slug: str) -> date:
        """The special edition ``slug`` of ``day`` (default today): ``issues/DATE-SLUG/``.

        :raises UsageError: for a slug that is not lowercase ASCII letters, digits and hyphens.
        """
        from newsletter.core.issue_id import IssueId, checked_slug, day_of, edition_of

        base = self._day(day)
        if edition_of(base):
            from newsletter.errors import UsageError

            raise UsageError(f"{base.isoformat()} is already an edition; give the date alone with --edition",
                             hint=f"e.g. newsletter new {day_of(base).isoformat()} --edition {slug}")
        return IssueId(base, slug=checked_slug(slug))

    def _checked(self, action: Callable[[], R]) -> R:
        """Run ``action``; a check failing on a broken template ends as a configuration error."""
        try:
            return action()
        except ContentError as err:
            raise refusal_for(self.settings, err) from None

    def approval(self, day: date | None = None) -> "ApprovalState":
        """Where the issue's approval stands (missing, current, stale, unreadable)."""
        from newsletter.content.approval import approval_state
        from newsletter.content.load import issue_folder

        return approval_state(issue_folder(self.settings.issues_dir, self._day(day)))
