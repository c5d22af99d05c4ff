"""Signed, URL-safe tokens for unsubscribe and confirmation links.

A token binds an address to a purpose (``unsubscribe``, ``confirm``) with an HMAC keyed by
``NEWSLETTER_SECRET_KEY``; the purpose is the signer's salt, so a token made for one purpose
never validates for another. Tokens carry no secret and are safe to put in a URL.
"""

from __future__ import annotations

from itsdangerous import URLSafeSerializer

UNSUBSCRIBE = "unsubscribe"


def make_token(secret_key: str, purpose: str, address: str) -> str:
    """Sign ``address`` for ``purpose``; the same inputs always give the same token."""
    return URLSafeSerializer(secret_key, salt=f"newsletter.{purpose}").dumps(address)


def read_token(secret_key: str, purpose: str, token: str) -> str | None:
    """Return the address a valid token was made for, or ``None`` for a forged or altered one."""
    ok, value = URLSafeSerializer(secret_key, salt=f"newsletter.{purpose}").loads_unsafe(token)
    return value if ok and isinstance(value, str) else None
