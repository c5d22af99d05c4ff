"""Signed, URL-safe tokens for unsubscribe and confirmation links.

A token binds an address to a purpose (``unsubscribe``, ``confirm``) with an HMAC keyed by
``NEWSLETTER_SECRET_KEY``; the purpose is the signer's salt, so a token made for one purpose
never validates for another. Tokens carry no secret and are safe to put in a URL.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

UNSUBSCRIBE = "unsubscribe"
CONFIRM = "confirm"


def make_token(secret_key: str, purpose: str, address: str) -> str:
    """Sign ``address`` for ``purpose``; the same inputs always give the same token."""
    return URLSafeSerializer(secret_key, salt=f"newsletter.{purpose}").dumps(address)


def read_token(secret_key: str, purpose: str, token: str) -> str | None:
    """Return the address a valid token was made for, or ``None`` for a forged or altered one."""
    ok, value = URLSafeSerializer(secret_key, salt=f"newsletter.{purpose}").loads_unsafe(token)
    return value if ok and isinstance(value, str) else None


def make_timed_token(secret_key: str, purpose: str, payload: Any, *, now: int | None = None) -> str:
    """Sign ``payload`` for ``purpose`` with the time, so that :func:`read_timed_token` can refuse old ones.

    :param now: the signing time as a Unix timestamp (tests make tokens that have expired).
    """
    serializer = URLSafeTimedSerializer(secret_key, salt=f"newsletter.{purpose}")
    if now is not None:
        signer = serializer.make_signer(serializer.salt)
        signer.get_timestamp = lambda: now  # type: ignore[attr-defined]
        return signer.sign(serializer.dump_payload(payload)).decode()
    return str(serializer.dumps(payload))


def read_timed_token(secret_key: str, purpose: str, token: str, *, max_age: int) -> tuple[Any, str]:
    """Return ``(payload, "")`` for a valid token, else ``(None, "expired" | "invalid")``."""
    try:
        return URLSafeTimedSerializer(secret_key, salt=f"newsletter.{purpose}").loads(token, max_age=max_age), ""
    except SignatureExpired:
        return None, "expired"
    except (BadSignature, UnicodeError, ValueError):
        return None, "invalid"
