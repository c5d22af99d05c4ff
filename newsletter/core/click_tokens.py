"""The tokens of counted links, ``/c/NONCE.ISSUE.POSITION.LINK.TAG``: a nonce of one message, and which
link of which issue.

A token has two authenticated halves so that a message costs one MAC, not one per link. The link
half (issue, item position, link index, and an HMAC of them) is the same in every message and is
written once into the master; the message half is a random nonce and an HMAC of the issue and the
nonce, one more merge field (``click_nonce``) substituted into the ready bytes; it comes first, so that
in the text part it usually sits before the line's soft break (it is dropped into lines encoded once,
:mod:`newsletter.render.mime`). Altering either half
fails its MAC (a 404, never a redirect); joining the link half of one link to the nonce of another
message of the same issue is a click on that message's own link, which its reader could make anyway.

The nonce is drawn at random for every message and written nowhere, so a click says "some message
of this issue" and never whose. Only with ``[analytics] per_subscriber`` and the reader's recorded
consent is it derived from the subscriber instead (:func:`reader_nonce`), so that the reports can
recognise that reader's clicks while the reader is on the list.

Positions: 0 is the intro, 1… the items. Links: 0, 1… in order of first use within the position
(0 is the item's own URL), or ``u`` / ``n`` for the feedback links "Utile" / "Pas pour moi".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: The merge field that carries a message's nonce.
NONCE_FIELD = "click_nonce"
USEFUL = "u"
NOT_FOR_ME = "n"
FEEDBACK = (USEFUL, NOT_FOR_ME)
_NONCE_BYTES = 9  # 12 characters: random enough that two messages of an issue never share one
_TAG_BYTES = 6  # 8 characters; a forger's chance per try is 2**-48
#: Characters of the message half (nonce and its tag): fixed, so that it is substituted in encoded lines.
NONCE_CHARS = 20
_TOKEN = re.compile(r"(?P<nonce>[A-Za-z0-9_-]{12})(?P<nonce_tag>[A-Za-z0-9_-]{8})\."
                    r"(?P<issue>\d{4}-\d{2}-\d{2}(?:-[a-z0-9-]{1,40})?)\.(?P<position>\d{1,2})\."
                    r"(?P<link>\d{1,3}|[un])\.(?P<tag>[A-Za-z0-9_-]{8})")


@dataclass(frozen=True)
class ClickToken:
    """What an authentic token names."""

    issue: str
    position: int
    link: str  # "0", "1"… or "u" / "n"
    nonce: str

    @property
    def feedback(self) -> bool:
        return self.link in FEEDBACK


@lru_cache(maxsize=16)
def _key(secret_key: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"newsletter.clicks.v1\0{purpose}".encode()).derive(secret_key.encode("utf-8"))


def _mac(secret_key: str, purpose: str, data: str, size: int = _TAG_BYTES) -> str:
    """A keyed BLAKE2b of ``data`` (a MAC as RFC 7693 defines it: one pass, a third of HMAC-SHA256's cost)."""
    digest = hashlib.blake2b(data.encode("utf-8"), key=_key(secret_key, purpose), digest_size=size).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


class _Randomness:
    """Random bytes drawn from the OS a few kilobytes at a time (one system call per ~450 nonces)."""

    def __init__(self) -> None:
        self._pool, self._at = b"", 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bytes:
        with self._lock:
            if self._at + size > len(self._pool):
                self._pool, self._at = secrets.token_bytes(4096), 0
            self._at += size
            return self._pool[self._at - size:self._at]


_RANDOM = _Randomness()


def link_half(secret_key: str, issue: str, position: int, link: str) -> str:
    """The part of a token that is the same in every message: ``.ISSUE.POSITION.LINK.TAG`` (after the nonce)."""
    named = f"{issue}.{position}.{link}"
    return f".{named}.{_mac(secret_key, 'link', named)}"


def _message_half(secret_key: str, issue: str, nonce: str) -> str:
    return nonce + _mac(secret_key, "nonce", f"{issue}\0{nonce}")


def new_nonce(secret_key: str, issue: str) -> str:
    """A fresh message half (random nonce and its tag) for one message of ``issue``."""
    return NonceMaker(secret_key, issue).new()


class NonceMaker:
    """Fresh message halves for the messages of one issue, the MAC's key and the issue absorbed once
    (a send makes one per message: this keeps it to a copy and one short hash)."""

    def __init__(self, secret_key: str, issue: str) -> None:
        self._mac = hashlib.blake2b(key=_key(secret_key, "nonce"), digest_size=_TAG_BYTES)
        self._mac.update(f"{issue}\0".encode("utf-8"))

    def new(self) -> str:
        nonce = base64.urlsafe_b64encode(_RANDOM.take(_NONCE_BYTES))
        mac = self._mac.copy()
        mac.update(nonce)
        return (nonce + base64.urlsafe_b64encode(mac.digest())).decode("ascii")


def reader_nonce(secret_key: str, issue: str, subscriber_id: int) -> str:
    """The message half of a consenting reader's message (``per_subscriber``): derived, not drawn, so
    that :func:`reader_nonce` recognises their clicks later; no table links the two."""
    return _message_half(secret_key, issue, _mac(secret_key, "reader", f"{issue}\0{subscriber_id}", _NONCE_BYTES))


def read_click_token(secret_key: str, token: str) -> ClickToken | None:
    """What ``token`` names, or ``None`` when it is malformed, forged or altered."""
    m = _TOKEN.fullmatch(token)
    if m is None:
        return None
    issue, position, link = m.group("issue"), m.group("position"), m.group("link")
    expected = _mac(secret_key, "link", f"{issue}.{position}.{link}")
    nonce_expected = _mac(secret_key, "nonce", f"{issue}\0{m.group('nonce')}")
    if not (hmac.compare_digest(expected, m.group("tag")) and hmac.compare_digest(nonce_expected,
                                                                                 m.group("nonce_tag"))):
        return None
    return ClickToken(issue, int(position), link, m.group("nonce"))
