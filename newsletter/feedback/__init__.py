"""Mail-API events (bounces, complaints, unsubscribes) turned into :class:`~newsletter.store.feedback.Feedback`.

Each provider's ``events`` module (``newsletter/providers/NAME/events.py``) holds its webhook, a
:class:`~newsletter.feedback.webhooks.Webhook` that knows nothing of Flask: it authenticates a
request the provider's way (or raises :class:`WebhookRefused`) and turns its documented payload into
:class:`Parsed` feedback. The library (:mod:`newsletter.library.web`) calls it and records the
feedback. This module holds what they share: the result types and the readers of payload values.

Every message the API adapters send carries our own id (:data:`~newsletter.render.mime.OWN_ID`:
the issue date and a digest of the address, the local part of our Message-ID) in the provider's
custom-variable field, and providers return it with each event: an event names its issue even when the
provider's message id is not in the ledger yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

from newsletter.feedback.mail import reasons
from newsletter.core.issue_id import IssueId
from newsletter.errors import UsageError, WebhookRefused
from newsletter.render.mime import OWN_ID as OWN_ID, own_id as own_id  # where the API adapters set it

if TYPE_CHECKING:
    from newsletter.store.feedback import Feedback, FeedbackKind

#: How far ahead of our clock a signed timestamp may be (clock skew between the provider and us).
FUTURE_SKEW = 60
#: ISSUE.digest, or ISSUE.correctionN.digest for a correction mail (about its issue, as its VERP token is).
_OWN = re.compile(r"<?(\d{4}-\d{2}-\d{2}(?:-[a-z0-9-]+)?)(?:\.correction\d{1,6})?\.([0-9a-f]{24})(?:@[^>]*)?>?")


@dataclass
class Parsed:
    """What a request held: the feedback to record, and the event types left aside."""

    feedback: list[Feedback] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # known types that change nothing (delivered, opened…)
    unknown: list[str] = field(default_factory=list)  # types this code does not know (logged)


def issue_of(value: Any) -> date | None:
    """The issue named by our own id, or None (absent, a test copy, or not ours)."""
    if not isinstance(value, str):
        return None
    match = _OWN.fullmatch(value.strip())
    if match is None:
        return None
    try:
        return IssueId.parse(match.group(1))
    except UsageError:
        return None


def load_json(body: bytes) -> Any:
    """The JSON document of a request body; a :class:`WebhookRefused` (400) when it is not one, or is
    nested deeper than the parser goes (``[`` × 60,000: no provider sends that)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRefused(400, "the body is not JSON") from None


def text(value: Any, limit: int = 500) -> str:
    """A payload value as a short single-line string ("" for anything that is not a string or a number)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return " ".join(str(value).split())[:limit]


def epoch(value: Any, *, millis: bool = False) -> datetime | None:
    """An aware UTC datetime from a Unix timestamp (seconds, or milliseconds), or None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value) / (1000 if millis else 1)
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def digest(*parts: Any) -> str:
    """A stable event id made from an event's own fields, for providers that give none."""
    return hashlib.sha256("\0".join(text(p, 1000) for p in parts).encode()).hexdigest()[:40]


def bounce_reason(kind: FeedbackKind, reply: str, named: str = "") -> str:
    """The reasons table's word for a provider's bounce ("" for other events): the one its event type
    ``named``, else what its SMTP ``reply`` says (:mod:`newsletter.feedback.mail.reasons`), consistent with the
    provider's own verdict, hard or soft."""
    hard = kind.value == "hard_bounce"
    if not hard and kind.value != "soft_bounce":
        return ""
    if named:
        return named
    found = [r for r in reasons.read_reply(reply).reasons if not r.generic]
    chosen = reasons.best([r for r in found if r.hard == hard]) or reasons.best(found)
    return (chosen or (reasons.PERMANENT if hard else reasons.TEMPORARY)).word


def basic_credentials(headers: Mapping[str, str]) -> tuple[bytes, bytes] | None:
    """The (user, password) of an ``Authorization: Basic`` header, or None (for providers that sign
    nothing and put credentials in the webhook URL)."""
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(value.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if colon else None


def same(given: bytes, expected: bytes) -> bool:
    """Constant-time equality (the time does not depend on where the values differ)."""
    return hmac.compare_digest(given, expected)
