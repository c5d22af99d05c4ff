"""Per-recipient return addresses: ``bounces+TOKEN@bounce.example.org`` (VERP) and ``unsubscribe+TOKEN@…``.

The token says which subscriber and which issue a message was for, so that a bounce, a
complaint or an unsubscribe request sent back to that address is attributed without guessing
from the bounce's text. It is sealed with a key derived from ``NEWSLETTER_SECRET_KEY`` and its
purpose (AES-SIV, :func:`newsletter.core.tokens.seal_fixed`): nobody can forge one to unsubscribe or
bounce someone else, and nothing in it is readable. It is written in lower-case base32
(``a-z2-7``), so a mail server that lower-cases local parts, as many do, leaves it intact; at 36
characters it keeps the local part well under the 64 that SMTP allows.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from datetime import date

from newsletter.core.tokens import seal_fixed, unseal_fixed

#: The purposes: a VERP token never opens as an unsubscribe request, and the other way round.
BOUNCE = "verp.bounce.v1"
UNSUBSCRIBE = "verp.unsubscribe.v1"

_EPOCH = date(2000, 1, 1)
_PAYLOAD = struct.Struct(">IH")  # subscriber id, issue as days since 2000-01-01
_TOKEN = re.compile(r"[a-z2-7]{36}")


@dataclass(frozen=True)
class Tag:
    """What a token names: the subscriber (store id) and the issue (its date)."""

    subscriber_id: int
    issue: date


def make_token(secret_key: str, purpose: str, tag: Tag) -> str | None:
    """The token for ``tag``; ``None`` when it does not fit (an id beyond 2³²: the plain address is used)."""
    days = (tag.issue - _EPOCH).days
    if not (0 <= tag.subscriber_id < 2**32 and 0 <= days < 2**16):
        return None
    raw = seal_fixed(secret_key, purpose, _PAYLOAD.pack(tag.subscriber_id, days))
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def read_token(secret_key: str, purpose: str, token: str) -> Tag | None:
    """The tag a genuine token holds, or ``None`` when it is forged, altered or made for another purpose."""
    token = token.lower()
    if not _TOKEN.fullmatch(token):
        return None
    try:
        raw = base64.b32decode(token.upper() + "====")
    except (binascii.Error, ValueError):
        return None
    data = unseal_fixed(secret_key, purpose, raw)
    if data is None or len(data) != _PAYLOAD.size:
        return None
    subscriber_id, days = _PAYLOAD.unpack(data)
    return Tag(subscriber_id, date.fromordinal(_EPOCH.toordinal() + days))


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
