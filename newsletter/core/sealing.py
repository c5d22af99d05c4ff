"""Small secrets kept encrypted in the database (the desk's TOTP secrets), with a key derived from
``NEWSLETTER_SECRET_KEY``.

AES-256-GCM (the ``cryptography`` package), a key per purpose derived with HKDF-SHA256, a fresh
96-bit nonce each time, and a context (the account's name) bound as associated data, so that a
sealed value copied onto another row does not open. A sealed value starts with :data:`PREFIX`; a
value without it is an older plain one, still read, and sealed again when it is next used.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: What a sealed value starts with (the format's version: a later one can be told apart).
PREFIX = "aesgcm1:"
_NONCE = 12


def _key(secret_key: str, purpose: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=f"newsletter.sealing\0{purpose}".encode()).derive(secret_key.encode("utf-8"))
    return AESGCM(derived)


def is_sealed(value: str) -> bool:
    """Whether ``value`` was made by :func:`seal` (else it is an older plain value)."""
    return value.startswith(PREFIX)


def seal(secret_key: str, value: str, *, purpose: str, context: str) -> str:
    """``value`` encrypted for the database (ASCII, :data:`PREFIX` and base64: about 1.4 times longer plus 46)."""
    nonce = os.urandom(_NONCE)
    sealed = _key(secret_key, purpose).encrypt(nonce, value.encode("utf-8"), context.encode("utf-8"))
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(secret_key: str, value: str, *, purpose: str, context: str) -> str | None:
    """The value :func:`seal` encrypted; None when this key (or this context) does not open it."""
    try:
        raw = base64.urlsafe_b64decode(value.removeprefix(PREFIX).encode("ascii"))
        opened = _key(secret_key, purpose).decrypt(raw[:_NONCE], raw[_NONCE:], context.encode("utf-8"))
        return opened.decode("utf-8")
    except (InvalidTag, ValueError, binascii.Error, UnicodeError):
        return None
