"""Opaque, authenticated, URL-safe tokens for unsubscribe, confirmation and "come back" links.

A token is the address (or a small JSON payload) encrypted and authenticated with keys derived
from ``NEWSLETTER_SECRET_KEY`` and the token's purpose, so a token made for one purpose never
opens for another, and nothing in it (address, name) can be read by whoever sees the URL: a
proxy log, a link scanner, a forwarded mail. The cipher is AES-SIV (RFC 5297, from the
``cryptography`` package): deterministic authenticated encryption, so the same address always
gives the same unsubscribe token, for under a microsecond and no database write per recipient.
Plaintexts are padded to 32-byte blocks so that a token's length says little about the address.

Links in issues sent before this format (itsdangerous: base64 JSON, a dot, a signature) keep
working: a token with a dot is read the old way.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from newsletter.errors import N_, ConfigError

if TYPE_CHECKING:  # both load with the first token made or read: checking the key at start-up needs neither
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    from newsletter.core.i18n import Message

UNSUBSCRIBE = "unsubscribe"
CONFIRM = "confirm"
PREFERENCES = "preferences"  # the reader's own page, /p/TOKEN
ERASE = "erase"  # the second, confirming step of an erasure (short-lived)
ERASED = "erased"  # the keyed digest under which an erased address is remembered (keyed_digest)

_IV = 16  # bytes of AES-SIV's synthetic IV, which is also its authentication tag
_BLOCK = 32  # plaintexts are padded to a multiple of this, so the length says little about the address
_PREFIX = "n"  # new-format tokens start with this; old ones hold a dot


@lru_cache(maxsize=64)
def _cipher(secret_key: str, purpose: str) -> AESSIV:
    """The AES-256-SIV cipher of one purpose, its key derived (HKDF-SHA256) once per process."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
               info=f"newsletter.tokens.v2\0{purpose}".encode()).derive(secret_key.encode("utf-8"))
    return AESSIV(key)


def seal(secret_key: str, purpose: str, data: bytes) -> str:
    """Encrypt and authenticate ``data`` (which must not end with NUL bytes) into a URL-safe token."""
    padded = data + b"\0" * (-len(data) % _BLOCK or (0 if data else _BLOCK))
    sealed = _cipher(secret_key, purpose).encrypt(padded, None)
    return _PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def unseal(secret_key: str, purpose: str, token: str) -> bytes | None:
    """The data a token made by :func:`seal` for ``purpose`` holds, or ``None`` if it is forged or altered."""
    if not token.startswith(_PREFIX) or len(token) > 2048:
        return None
    try:
        raw = base64.urlsafe_b64decode(token[1:] + "=" * (-len(token[1:]) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= _IV or (len(raw) - _IV) % _BLOCK:
        return None
    from cryptography.exceptions import InvalidTag

    try:
        padded = _cipher(secret_key, purpose).decrypt(raw, None)
    except InvalidTag:
        return None
    return padded.rstrip(b"\0")


def seal_fixed(secret_key: str, purpose: str, data: bytes) -> bytes:
    """Encrypt and authenticate ``data`` without padding, as raw bytes (16 bytes longer than ``data``).

    For payloads of one fixed length only (their length says nothing), where every character
    counts: the tokens in VERP and mailto addresses (:mod:`newsletter.core.verp`).
    """
    return _cipher(secret_key, purpose).encrypt(data, None)


def unseal_fixed(secret_key: str, purpose: str, raw: bytes) -> bytes | None:
    """The data :func:`seal_fixed` sealed for ``purpose``, or ``None`` if it is forged or altered."""
    if len(raw) <= _IV:
        return None
    from cryptography.exceptions import InvalidTag

    try:
        return _cipher(secret_key, purpose).decrypt(raw, None)
    except InvalidTag:
        return None


def make_token(secret_key: str, purpose: str, address: str) -> str:
    """An opaque token for ``address`` and ``purpose``; the same inputs always give the same token."""
    return seal(secret_key, purpose, address.encode("utf-8"))


def read_token(secret_key: str, purpose: str, token: str) -> str | None:
    """Return the address a valid token was made for, or ``None`` for a forged or altered one."""
    if "." in token:  # the format of issues sent before opaque tokens
        from itsdangerous import URLSafeSerializer

        ok, value = URLSafeSerializer(secret_key, salt=f"newsletter.{purpose}").loads_unsafe(token)
        return value if ok and isinstance(value, str) else None
    data = unseal(secret_key, purpose, token)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def make_timed_token(secret_key: str, purpose: str, payload: Any, *, now: int | None = None) -> str:
    """An opaque token for the JSON ``payload`` and the signing time, for :func:`read_timed_token`.

    :param now: the signing time as a Unix timestamp (tests make tokens that have expired).
    """
    issued = int(time.time()) if now is None else now
    data = json.dumps([issued, payload], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return seal(secret_key, purpose, data)


def read_timed_token(secret_key: str, purpose: str, token: str, *, max_age: int) -> tuple[Any, str]:
    """Return ``(payload, "")`` for a valid token, else ``(None, "expired" | "invalid")``."""
    payload, _issued, problem = read_dated_token(secret_key, purpose, token, max_age=max_age)
    return payload, problem


def read_dated_token(secret_key: str, purpose: str, token: str, *, max_age: int,
                     now: float | None = None) -> tuple[Any, int, str]:
    """Like :func:`read_timed_token`, with the signing time (a Unix timestamp; 0 for an invalid token).

    :param now: the time to judge the age by, as a Unix timestamp (the library's clock; the real one by default).
    """
    if "." in token:  # made before opaque tokens (a confirmation link still in someone's mailbox)
        from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

        try:
            value, signed = URLSafeTimedSerializer(secret_key, salt=f"newsletter.{purpose}").loads(
                token, max_age=max_age, return_timestamp=True)
            return value, int(signed.timestamp()), ""
        except SignatureExpired:
            return None, 0, "expired"
        except (BadSignature, UnicodeError, ValueError):
            return None, 0, "invalid"
    data = unseal(secret_key, purpose, token)
    try:
        issued, payload = json.loads(data) if data is not None else (None, None)
    except (ValueError, TypeError):
        return None, 0, "invalid"
    if not isinstance(issued, int) or isinstance(issued, bool):
        return None, 0, "invalid"
    if (time.time() if now is None else now) - issued > max_age:
        return None, 0, "expired"
    return payload, issued, ""


def keyed_digest(secret_key: str, purpose: str, text: str) -> str:
    """HMAC-SHA256 of ``text`` with a key derived from the secret key for ``purpose`` (hex).

    What the store keeps instead of an address it must recognize without holding it (an erased
    reader's): nobody without the secret key can tell which address a digest stands for.
    """
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=f"newsletter.digest.v1\0{purpose}".encode()).derive(secret_key.encode("utf-8"))
    return hmac.new(key, text.encode("utf-8"), "sha256").hexdigest()


# -- the secret key itself ---------------------------------------------------------------------

#: Keys published in this repository (demo, sample, example file): anyone can forge tokens with them.
KNOWN_KEYS = frozenset({"demo-only-not-secret", "sample-only-not-a-secret", "change-me-to-64-random-characters",
                        "change-me", "secret", "changeme"})
MIN_KEY_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 10
GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def weakness(secret_key: str) -> Message | None:
    """Why ``secret_key`` cannot protect public links, said after the variable's name (None when it can)."""
    from newsletter.core.i18n import Count, Message

    lowered = secret_key.strip().lower()
    if lowered in KNOWN_KEYS or any(known in lowered for known in KNOWN_KEYS if len(known) >= 16):
        return Message(N_("is a published example key: anyone can forge unsubscribe and confirmation links with it"))
    if len(secret_key) < MIN_KEY_LENGTH:
        return Message(N_("is %(length)s long; at least %(minimum)d random characters are needed"),
                       {"length": Count("%(num)d character", "%(num)d characters", len(secret_key)),
                        "minimum": MIN_KEY_LENGTH})
    if len(set(secret_key)) < MIN_DISTINCT_CHARACTERS:
        distinct = Count("%(num)d different character", "%(num)d different characters", len(set(secret_key)))
        return Message(N_("uses only %(count)s; it is not random enough to be guessed only with difficulty"),
                       {"count": distinct})
    return None


def key_weakness(secret_key: str) -> str:
    """Why ``secret_key`` cannot protect public links, in English ("" when it can)."""
    found = weakness(secret_key)
    return str(found) if found is not None else ""


def check_secret_key(secret_key: str, variable: str, *, local_demo: bool) -> None:
    """Refuse a short, repetitive or published key unless nothing leaves the machine (the demo's outbox).

    :raises ConfigError: naming the variable and saying how to generate a good key.
    """
    found = weakness(secret_key)
    if found is not None and not local_demo:
        raise ConfigError(N_("%(variable)s %(weakness)s"),
                          values={"variable": variable, "weakness": found, "command": GENERATE},
                          hint=N_("generate one with: %(command)s (and use the same value for send, schedule run "
                                  "and serve)"))
