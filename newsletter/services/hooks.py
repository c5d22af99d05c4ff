"""Posting the outbox's events to the ``[[hooks]]`` receivers, signed as Standard Webhooks says.

Each request carries ``webhook-id`` (the event's id, the same on every retry, so a receiver can
drop a repeat), ``webhook-timestamp`` (seconds since 1970) and ``webhook-signature: v1,BASE64``:
the HMAC-SHA256 of ``id.timestamp.body`` keyed with the bytes that follow ``whsec_`` in the
secret, base64-decoded (https://www.standardwebhooks.com/). A receiver answers 2xx to take it;
anything else, no answer within the timeout, or a redirect to a private address is a failed
attempt, tried again later (:data:`RETRY_DELAYS`) for a day.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

from newsletter.errors import ConfigError, FetchError
from newsletter.services.fetch import post

#: The waits after the 1st, 2nd… failed attempt (the last one repeats), as Standard Webhooks' senders do.
RETRY_DELAYS = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                timedelta(hours=5), timedelta(hours=10))
#: How long an event is tried before it is given up (``hooks retry`` starts a new day).
RETRY_WINDOW = timedelta(days=1)
#: Seconds to connect, and to wait for each part of the answer.
TIMEOUT = 10.0
SECRET_PREFIX = "whsec_"


def secret_bytes(secret: str, variable: str) -> bytes:
    """The key of a ``whsec_…`` secret.

    :raises ConfigError: naming the variable, when the secret is not ``whsec_`` and base64.
    """
    try:
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX).strip(), validate=True)
    except (ValueError, binascii.Error) as err:
        raise ConfigError(f"the environment variable {variable} does not hold a Standard Webhooks secret "
                          "(whsec_ followed by base64)",
                          hint=f'make one with: export {variable}="whsec_$(openssl rand -base64 32)"') from err
    if len(key) < 16:
        raise ConfigError(f"the secret in {variable} is too short ({len(key)} bytes); use at least 24 random bytes",
                          hint=f'make one with: export {variable}="whsec_$(openssl rand -base64 32)"')
    return key


def signature(key: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def deliver(url: str, key: bytes, event_id: str, body: bytes, now: datetime, *,
            allow_private_redirects: bool = False, timeout: float = TIMEOUT) -> str:
    """Post one event; "" when the receiver took it, else why not (for ``hooks list``; never the secret)."""
    timestamp = int(now.timestamp())
    headers = {"Content-Type": "application/json", "webhook-id": event_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": signature(key, event_id, timestamp, body)}
    try:
        answer = post(url, body, headers, timeout=timeout, allow_private_redirects=allow_private_redirects)
    except FetchError as err:
        return str(err)
    if 200 <= answer.status < 300:
        return ""
    return f"{answer.url}: answered {answer.status}"


def next_attempt(created_at: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts; None once the day of retries is over."""
    end = created_at + RETRY_WINDOW
    if now >= end:
        return None
    return min(now + RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1], end)
