"""The desk's accounts: who may sign in, with which role, and the check of a password.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
set); a hash made with older parameters is replaced at the next successful sign-in. Signing in
with an unknown or disabled name costs the same hash as a wrong password, so the time taken
does not tell which names exist. Nothing here prints or prompts: ``users`` commands and the
desk call :class:`Accounts` through ``Newsletter.users``.
"""

from __future__ import annotations

import re
import unicodedata
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from newsletter.core.addresses import canonical
from newsletter.errors import N_, NewsletterError, UsageError
from newsletter.store.database import Store
from newsletter.store import users as table

#: The roles, from least to most: editors write, approvers also approve, operators also run the newsletter.
ROLES = ("editor", "approver", "operator")
#: What each role may do on the desk.
ABILITIES: dict[str, frozenset[str]] = {
    "editor": frozenset({"read", "write"}),
    "approver": frozenset({"read", "write", "approve"}),
    "operator": frozenset({"read", "write", "approve", "operate"}),
}
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("no such account: the same work as a real check")


@dataclass(frozen=True)
class Account:
    """An account as the desk and ``users list`` see it (never its hash)."""

    name: str
    role: str
    email: str  # where test copies go ("" when none was given)
    created_at: datetime
    disabled_at: datetime | None = None
    #: Changes at sign-out, with the password and at a removal: a session started before no longer matches.
    stamp: str = field(default="", repr=False)

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def can(self, ability: str) -> bool:
        """Whether this account's role allows ``ability`` ("read", "write", "approve", "operate")."""
        return self.active and ability in ABILITIES.get(self.role, frozenset())


def checked_user_name(name: str) -> str:
    """An account name: lower-case letters, digits, ``.``, ``_``, ``-`` (64 at most).

    :raises UsageError: naming what is wrong.
    """
    cleaned = name.strip().lower()
    if not NAME.fullmatch(cleaned):
        raise UsageError(f"{name!r} is not a usable account name",
                         hint="use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter "
                              "or digit, e.g. camille.martin")
    return cleaned


def checked_role(role: str) -> str:
    """One of :data:`ROLES`.

    :raises UsageError: for anything else.
    """
    if role not in ROLES:
        raise UsageError(f"{role!r} is not a role", hint=f"choose one of {', '.join(ROLES)}")
    return role


def checked_password(password: str) -> str:
    """A password long enough to resist guessing (NIST SP 800-63B: length, not composition rules).

    :raises UsageError: when it is too short or too long.
    """
    password = unicodedata.normalize("NFC", password)
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password is too short ({len(password)} characters)",
                         hint=f"use at least {MIN_PASSWORD} characters, e.g. four unrelated words")
    if len(password) > MAX_PASSWORD:
        raise UsageError(f"the password is longer than {MAX_PASSWORD} characters")
    return password


def checked_address(text: str, label: str) -> str:
    """An address in canonical form.

    :raises UsageError: naming ``label`` when it is not one.
    """
    try:
        return canonical(text)
    except NewsletterError as err:
        raise UsageError(N_("%(label)s %(error)s"), values={"label": label, "error": err},
                         hint=N_("write a full address, e.g. camille@example.org")) from None


def _account(record: table.UserRecord) -> Account:
    stamp = hashlib.sha256(f"newsletter.desk.session\0{record.name}\0{record.created_at.isoformat()}\0"
                           f"{record.session_generation}".encode()).hexdigest()[:32]
    return Account(record.name, record.role, record.email, record.created_at, record.disabled_at, stamp)


class Accounts:
    """The accounts of one project's store (``Newsletter.users``)."""

    def __init__(self, store: Callable[[], Store], clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def add(self, name: str, role: str, password: str, *, email: str = "") -> Account:
        """Create an account (or enable a removed one with this role and password).

        :param email: the account's own address, where the desk sends its test copies.
        :raises UsageError: for a bad name, role, address or password, or a name already in use.
        """
        name, role = checked_user_name(name), checked_role(role)
        address = checked_address(email, "--email") if email else ""
        digest = _hasher.hash(checked_password(password))
        if not table.save_user(self._store(), name, role, digest, email=address, now=self._clock()):
            raise UsageError(N_("an account called %(name)s already exists"),
                             hint=N_("choose another name, or change its password with `newsletter users passwd "
                                     "%(login)s`"), values={"name": repr(name), "login": name})
        return self._get(name)

    def list(self) -> list[Account]:
        """Every account, enabled or removed, by name."""
        return [_account(record) for record in table.list_users(self._store())]

    def get(self, name: str) -> Account | None:
        """The enabled account called ``name``, or None."""
        record = table.find_user(self._store(), name.strip().lower())
        return _account(record) if record is not None and record.active else None

    def _get(self, name: str) -> Account:
        account = self.get(name)
        assert account is not None
        return account

    def remove(self, name: str) -> None:
        """Disable the account: it can no longer sign in (its name stays in the records).

        :raises UsageError: when there is no enabled account by that name.
        """
        if not table.disable_user(self._store(), checked_user_name(name), now=self._clock()):
            raise UsageError(N_("there is no account called %(name)s"), hint=N_("see `newsletter users list`"),
                             values={"name": repr(name)})

    def set_password(self, name: str, password: str) -> None:
        """Give the account a new password (its sessions end).

        :raises UsageError: when there is no such account or the password is not usable.
        """
        digest = _hasher.hash(checked_password(password))
        if not table.set_password_hash(self._store(), checked_user_name(name), digest):
            raise UsageError(N_("there is no account called %(name)s"), hint=N_("see `newsletter users list`"),
                             values={"name": repr(name)})

    def end_sessions(self, name: str) -> None:
        """End every session of the account (signing out): their cookies, copies included, open nothing."""
        table.end_sessions(self._store(), name.strip().lower())

    def authenticate(self, name: str, password: str) -> Account | None:
        """The account when ``password`` is its password, else None (unknown, removed or wrong alike)."""
        key = name.strip().lower()
        record = table.find_user(self._store(), key) if NAME.fullmatch(key) else None
        password = unicodedata.normalize("NFC", password)[:MAX_PASSWORD]
        if record is None or not record.active:
            try:
                _hasher.verify(_DUMMY, password + "\0")
            except VerificationError:
                pass
            return None
        try:
            _hasher.verify(record.password_hash, password)
        except (VerificationError, VerifyMismatchError, InvalidHashError):
            return None
        if _hasher.check_needs_rehash(record.password_hash):  # the same password: its sessions go on
            table.set_password_hash(self._store(), record.name, _hasher.hash(password), end_sessions=False)
        return _account(record)

    def record_edit(self, day: date, path: str, name: str) -> None:
        """Remember that ``name`` saved ``path`` of the issue of ``day`` (for the separate approver rule)."""
        table.record_edit(self._store(), day, path, name, now=self._clock())

    def editors(self, day: date, *, since: datetime | None = None) -> tuple[str, ...]:
        """Every account that saved a file of the issue through the desk (at ``since`` or later), by name."""
        return tuple(table.editors(self._store(), day, since=since))
