"""The desk's accounts: who may sign in, with which role, and the check of a password.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
set); a hash made with older parameters is replaced at the next successful sign-in. Signing in
with an unknown or disabled name costs the same hash as a wrong password, so the time taken
does not tell which names exist.

Two-factor sign-in: an account enrolled (``users totp NAME``, or at the desk when its role is in
``[desk] require_2fa``) has a TOTP secret (RFC 6238: 6 digits, 30 s) and ten recovery codes, kept
as SHA-256 hashes (they are random, 50 bits each: nothing to stretch) and shown once. A code is
accepted once: the time step of the last one used is stored, and a code of that step or an
earlier one is refused. A new password never touches the factor; only ``users totp NAME --reset``
(or an operator at the desk's accounts page) removes it. The TOTP secret is stored encrypted with a key
derived from ``NEWSLETTER_SECRET_KEY`` and the account's name (AES-SIV, as the links' tokens:
:func:`newsletter.core.tokens.seal`), marked by :data:`SEALED`; one stored plain by an older version
is read, and encrypted when next used. Nothing here prints or prompts: ``users`` commands and the
desk call :class:`Accounts` through ``Newsletter.users``.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from newsletter.core import tokens
from newsletter.core.addresses import canonical
from newsletter.core.i18n import Count, Quoted
from newsletter.errors import N_, ConfigError, NewsletterError, UsageError
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

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper

log = logging.getLogger(__name__)
#: What a stored TOTP secret encrypted by this version starts with (a plain base32 one never does).
SEALED = "sealed:"

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
    #: Whether signing in needs a code from an authenticator app after the password.
    two_factor: bool = False

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
        raise UsageError(N_("%(name)s is not a usable account name"), values={"name": Quoted(name)},
                         hint=N_("use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter "
                                 "or digit, e.g. camille.martin"))
    return cleaned


def checked_role(role: str) -> str:
    """One of :data:`ROLES`.

    :raises UsageError: for anything else.
    """
    if role not in ROLES:
        raise UsageError(N_("%(role)s is not a role"), hint=N_("choose one of %(roles)s"),
                         values={"role": Quoted(role), "roles": ", ".join(ROLES)})
    return role


def checked_password(password: str) -> str:
    """A password long enough to resist guessing (NIST SP 800-63B: length, not composition rules).

    :raises UsageError: when it is too short or too long.
    """
    password = unicodedata.normalize("NFC", password)
    if len(password) < MIN_PASSWORD:
        raise UsageError(N_("the password is too short (%(length)s)"),
                         hint=N_("use at least %(minimum)d characters, e.g. four unrelated words"),
                         values={"length": Count("%(num)d character", "%(num)d characters", len(password)),
                                 "minimum": MIN_PASSWORD})
    if len(password) > MAX_PASSWORD:
        raise UsageError(N_("the password is longer than %(maximum)d characters"), values={"maximum": MAX_PASSWORD})
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
    return Account(record.name, record.role, record.email, record.created_at, record.disabled_at, stamp,
                   record.two_factor)


@dataclass(frozen=True)
class Enrolment:
    """A TOTP secret for an authenticator app: its ``otpauth://`` URI (what the QR code holds)."""

    secret: str
    uri: str
    #: Shown once, stored only as hashes; empty while the enrolment awaits its first code.
    recovery_codes: tuple[str, ...] = ()


def _recovery_codes() -> tuple[str, ...]:
    return tuple("-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
                 for _ in range(RECOVERY_CODES))


def _recovery_hash(code: str) -> str:
    cleaned = "".join(c for c in code.lower() if c.isalnum())
    return hashlib.sha256(f"newsletter.desk.recovery\0{cleaned}".encode()).hexdigest()


def _sealing_purpose(name: str) -> str:
    """The key of an account's TOTP secret is its own: a sealed secret copied onto another row does not open."""
    return f"desk.totp\0{name}"


def _code_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is (this one, the one before or after: clocks drift), or None."""
    cleaned = "".join(code.split())
    if not (len(cleaned) == 6 and cleaned.isascii() and cleaned.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), cleaned):
            return candidate
    return None


class Accounts:
    """The accounts of one project's store (``Newsletter.users``)."""

    def __init__(self, store: Callable[[], Store], clock: Callable[[], datetime], *, issuer: str = "newsletter",
                 secret_key: Callable[[], str] | None = None) -> None:
        """:param secret_key: gives ``NEWSLETTER_SECRET_KEY`` (raising ConfigError when it is missing), which
        the TOTP secrets are encrypted with."""
        self._store = store
        self._clock = clock
        self._issuer = issuer
        self._secret_key = secret_key

    def _key(self) -> str:
        """The key of the TOTP secrets.

        :raises ConfigError: when ``NEWSLETTER_SECRET_KEY`` is not set (nor given).
        """
        try:
            if self._secret_key is None:
                raise ConfigError("no secret key was given")
            return self._secret_key()
        except ConfigError as err:
            raise ConfigError("the two-factor secrets are encrypted with NEWSLETTER_SECRET_KEY, which is not "
                              f"usable here: {err.message}",
                              hint="export NEWSLETTER_SECRET_KEY=… with the same value as the desk's") from None

    def _sealed(self, name: str, secret: str) -> str:
        return SEALED + tokens.seal(self._key(), _sealing_purpose(name), secret.encode("ascii"))

    def _secret(self, record: table.UserRecord) -> str | None:
        """The account's TOTP secret in clear (an old plain one is encrypted now, when the key is at hand).

        :raises ConfigError: when the stored secret does not open with this ``NEWSLETTER_SECRET_KEY``.
        """
        stored = record.totp_secret
        if stored is None:
            return None
        if not stored.startswith(SEALED):
            try:
                table.replace_totp_secret(self._store(), record.name, stored, self._sealed(record.name, stored))
            except ConfigError:
                pass  # no key in this process (a command run without it): encrypted by the next that has it
            return stored
        opened = tokens.unseal(self._key(), _sealing_purpose(record.name), stored.removeprefix(SEALED))
        if opened is None:
            raise ConfigError(f"the two-factor secret of {record.name} does not open with this "
                              "NEWSLETTER_SECRET_KEY: was the key changed since the account enrolled?",
                              hint=f"start with the key used then, or run `newsletter users totp {record.name} "
                                   "--reset` and enrol the account again")
        return opened.decode("ascii")

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
                                     "%(login)s`"), values={"name": Quoted(name), "login": name})
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
                             values={"name": Quoted(name)})

    def set_password(self, name: str, password: str) -> None:
        """Give the account a new password (its sessions end).

        :raises UsageError: when there is no such account or the password is not usable.
        """
        digest = _hasher.hash(checked_password(password))
        if not table.set_password_hash(self._store(), checked_user_name(name), digest):
            raise UsageError(N_("there is no account called %(name)s"), hint=N_("see `newsletter users list`"),
                             values={"name": Quoted(name)})

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

    def _enabled(self, name: str) -> table.UserRecord:
        record = table.find_user(self._store(), checked_user_name(name))
        if record is None or not record.active:
            raise UsageError(N_("there is no account called %(name)s"), hint=N_("see `newsletter users list`"),
                             values={"name": Quoted(name)})
        return record

    def _enrolment(self, name: str, secret: str, codes: tuple[str, ...] = ()) -> Enrolment:
        uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=self._issuer)
        return Enrolment(secret, uri, codes)

    def enrol(self, name: str) -> Enrolment:
        """Enrol the account in two-factor sign-in at once (``users totp NAME``); its sessions end.

        :raises UsageError: when there is no such account, or it is enrolled already (reset it first).
        """
        record = self._enabled(name)
        if record.two_factor:
            raise UsageError(N_("%(name)s already signs in with a code"),
                             hint=N_("to enrol a new authenticator, first run `newsletter users totp %(login)s "
                                     "--reset`"), values={"name": Quoted(record.name), "login": record.name})
        secret, codes = pyotp.random_base32(), _recovery_codes()
        table.set_totp(self._store(), record.name, self._sealed(record.name, secret), confirmed_at=self._clock(),
                       recovery_hashes=tuple(map(_recovery_hash, codes)), end_sessions=True)
        return self._enrolment(record.name, secret, codes)

    def propose(self, name: str) -> Enrolment:
        """A pending secret for the account's enrolment at the desk (the same one until confirmed), no codes yet.

        :raises UsageError: when there is no such account, or it is enrolled already.
        """
        record = self._enabled(name)
        if record.two_factor:
            raise UsageError(N_("%(name)s already signs in with a code"), values={"name": Quoted(record.name)})
        secret = self._secret(record)
        if secret is None:
            secret = pyotp.random_base32()
            table.set_totp(self._store(), record.name, self._sealed(record.name, secret))
        return self._enrolment(record.name, secret)

    def confirm(self, name: str, code: str) -> Enrolment | None:
        """Finish the desk's enrolment with a first ``code`` of the pending secret: the enrolment with its
        recovery codes (to show once), or None when the code is wrong."""
        record = self._enabled(name)
        secret = self._secret(record)
        if record.two_factor or secret is None:
            return None
        step = _code_step(secret, code, self._clock())
        codes = _recovery_codes()
        stored = table.find_user(self._store(), record.name)  # as it is now: sealed just above, if it was plain
        if step is None or stored is None or stored.totp_secret is None or not table.confirm_totp(
                self._store(), record.name, stored.totp_secret, step, tuple(map(_recovery_hash, codes)),
                now=self._clock()):
            return None
        return self._enrolment(record.name, secret, codes)

    def second_factor(self, name: str, code: str) -> bool:
        """Whether ``code`` is a current code of the account's authenticator not used before, or one of its
        unused recovery codes; either is used up by this check."""
        record = table.find_user(self._store(), name.strip().lower()) if NAME.fullmatch(name.strip().lower()) else None
        if record is None or not record.active or not record.two_factor or record.totp_secret is None:
            return False
        code = code.strip()[:64]
        secret = self._secret(record)
        assert secret is not None
        step = _code_step(secret, code, self._clock())
        if step is not None:
            return table.use_totp_step(self._store(), record.name, step)
        return bool(code) and table.use_recovery_hash(self._store(), record.name, _recovery_hash(code))

    def reset_second_factor(self, name: str, *, by: str = "") -> None:
        """Remove the account's second factor (a lost phone): its sessions end; it enrols again.

        :param by: the desk account that asked (written in the log with the account reset).
        :raises UsageError: when there is no such account.
        """
        record = self._enabled(name)
        table.set_totp(self._store(), record.name, None, end_sessions=True)
        log.warning("desk account %s: second factor removed%s; its sessions ended", record.name,
                    f" by {by} at the desk" if by else " (users totp --reset)")

    def record_edit(self, day: date, path: str, name: str) -> None:
        """Remember that ``name`` saved ``path`` of the issue of ``day`` (for the separate approver rule)."""
        table.record_edit(self._store(), day, path, name, now=self._clock())

    def editors(self, day: date, *, since: datetime | None = None) -> tuple[str, ...]:
        """Every account that saved a file of the issue through the desk (at ``since`` or later), by name."""
        return tuple(table.editors(self._store(), day, since=since))
