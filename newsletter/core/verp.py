"""Per-recipient return addresses: ``bounces+TOKEN@bounce.example.org`` (VERP) and ``unsubscribe+TOKEN@…``.

The token says which subscriber and which issue a message was for, so that a bounce, a
complaint or an unsubscribe request sent back to that address is attributed without guessing
from the bounce's text. It is sealed with a key derived from ``NEWSLETTER_SECRET_KEY`` and its
purpose (AES-SIV, :func:`newsletter.core.tokens.seal_fixed`): nobody can forge one to unsubscribe or
bounce someone else, and nothing in it is readable. It is written in lower-case base32
(``a-z2-7``), so a mail server that lower-cases local parts, as many do, leaves it intact; at 36
characters (40 for a special edition's) it keeps the local part well under the 64 that SMTP allows.

A special edition (``2026-12-07-speciale``) goes out on the day of a daily issue, often to the same
readers, so its token names the edition too: an edition's slug can be 40 characters, too long for a
local part, so the token holds a 3-byte digest of it, and the reader of the token tells which of the
day's editions it is (:func:`read_token`'s ``editions``: those the store sent that day). The daily's
token is what it always was, and a token of mail sent before editions had their own (bounces keep
coming back for days) still reads as the daily issue of its date.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import date
from typing import Callable, Iterable

from newsletter.core.issue_id import IssueId, edition_of
from newsletter.core.tokens import seal_fixed, unseal_fixed

#: The purposes: a VERP token never opens as an unsubscribe request, and the other way round.
BOUNCE = "verp.bounce.v1"
UNSUBSCRIBE = "verp.unsubscribe.v1"

_EPOCH = date(2000, 1, 1)
_PAYLOAD = struct.Struct(">IH")  # subscriber id, issue as days since 2000-01-01
_EDITION = struct.Struct(">IH3s")  # the same, and a digest of the edition's slug
_TOKEN = re.compile(r"[a-z2-7]{36}|[a-z2-7]{40}")


@dataclass(frozen=True)
class Tag:
    """What a token names: the subscriber (store id) and the issue (its date, or an edition's
    :class:`~newsletter.core.issue_id.IssueId`; ``None`` when the token names an edition of the date that
    the reader of the token does not know)."""

    subscriber_id: int
    issue: date | None


def _digest(slug: str) -> bytes:
    return hashlib.sha256(slug.encode("ascii")).digest()[:3]


def make_token(secret_key: str, purpose: str, tag: Tag) -> str | None:
    """The token for ``tag``; ``None`` when it does not fit (an id beyond 2³²: the plain address is used)."""
    if tag.issue is None:
        return None
    days = (tag.issue - _EPOCH).days
    if not (0 <= tag.subscriber_id < 2**32 and 0 <= days < 2**16):
        return None
    slug = edition_of(tag.issue)
    data = _EDITION.pack(tag.subscriber_id, days, _digest(slug)) if slug else _PAYLOAD.pack(tag.subscriber_id, days)
    raw = seal_fixed(secret_key, purpose, data)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def read_token(secret_key: str, purpose: str, token: str,
               editions: Callable[[date], Iterable[str]] = lambda day: ()) -> Tag | None:
    """The tag a genuine token holds, or ``None`` when it is forged, altered or made for another purpose.

    :param editions: the slugs of the special editions of a date (those sent that day): the one whose digest
        an edition's token holds is the tag's issue (when none is, the tag names the subscriber, and no issue).
    """
    token = token.lower()
    if not _TOKEN.fullmatch(token):
        return None
    try:
        raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    except (binascii.Error, ValueError):
        return None
    data = unseal_fixed(secret_key, purpose, raw)
    if data is None or len(data) not in (_PAYLOAD.size, _EDITION.size):
        return None
    if len(data) == _PAYLOAD.size:
        subscriber_id, days = _PAYLOAD.unpack(data)
        return Tag(subscriber_id, date.fromordinal(_EPOCH.toordinal() + days))
    subscriber_id, days, digest = _EDITION.unpack(data)
    day = date.fromordinal(_EPOCH.toordinal() + days)
    slug = next((slug for slug in editions(day) if slug and _digest(slug) == digest), None)
    return Tag(subscriber_id, IssueId(day, slug=slug) if slug else None)


def tagged(base: str, token: str) -> str:
    """``local+token@domain`` for the configured ``local@domain``."""
    local, _, domain = base.rpartition("@")
    return f"{local}+{token}@{domain}"


def token_in(address: str, base: str) -> str | None:
    """The token of ``address`` when it is ``base`` with ``+token`` (compared without regard to case)."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    base_local, _, base_domain = base.rpartition("@")
    head, plus, token = local.partition("+")
    if not plus or head.lower() != base_local.lower() or domain.lower().rstrip(".") != base_domain.lower():
        return None
    return token.lower()


def return_path(base: str, secret_key: str, tag: Tag, purpose: str = BOUNCE) -> str:
    """``base`` tagged for ``tag``, or ``base`` itself when no token fits."""
    token = make_token(secret_key, purpose, tag)
    return tagged(base, token) if token else base
