"""A complete ``multipart/alternative`` message for one recipient, as bytes.

Headers are written here rather than by :class:`email.message.EmailMessage`, whose folding
may turn a long ``List-Unsubscribe`` into RFC 2047 encoded-words that Gmail then ignores.
Every header value is checked for CR/LF first, so no header can be built from unchecked
input; non-ASCII text (subject, display names) is encoded per RFC 2047 in words of at most
75 characters; the two bodies are UTF-8, quoted-printable, text before HTML.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email import quoprimime
from email.header import Header
from email.utils import format_datetime, formataddr

from email_validator import EmailNotValidError, validate_email

from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.render.pipeline import RenderedIssue
from newsletter.tokens import UNSUBSCRIBE, make_token

CRLF = "\r\n"
_UNSAFE = re.compile(r"[\r\n\x00]")


class HeaderInjectionError(NewsletterError, ValueError):
    """A header value holds a line break or NUL: refused rather than sent."""


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to; the same fields the subscriber store keeps."""

    email: str
    first_name: str = ""
    last_name: str = ""

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


def _safe(name: str, value: str) -> str:
    if _UNSAFE.search(value):
        raise HeaderInjectionError(f"the {name} header value {value[:60]!r} contains a line break; refused")
    return value


def _encode_text(name: str, value: str) -> str:
    """A header's text: as is when ASCII, else RFC 2047 encoded-words folded at 76 characters."""
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76, header_name=name).encode(linesep=CRLF)


def _address(name: str, addr: str) -> str:
    return formataddr((name, addr), charset="utf-8") if name else addr


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "newsletter"


def message_id(settings: Settings, issue_key: str, address: str) -> str:
    """A Message-ID that is the same every time for one issue and one address."""
    digest = hashlib.sha256(f"{settings.newsletter.name}\0{issue_key}\0{address}".encode()).hexdigest()[:24]
    return f"<{issue_key}.{digest}@{settings.newsletter.sender_domain}>"


def unsubscribe_url(settings: Settings, secret_key: str, address: str) -> str:
    return f"{settings.newsletter.base_url}/u/{make_token(secret_key, UNSUBSCRIBE, address)}"


def recipient_values(settings: Settings, recipient: Recipient, secret_key: str) -> dict[str, str]:
    """The merge values of one recipient (raw; escaping is the placeholder's job)."""
    return {
        "email": recipient.email,
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "unsubscribe_url": unsubscribe_url(settings, secret_key, recipient.email),
    }


def _qp(text: str) -> str:
    # quoprimime works on characters; feed it UTF-8 bytes one character per byte.
    data = text.replace("\r\n", "\n").encode("utf-8").decode("latin-1")
    return quoprimime.body_encode(data, maxlinelen=76, eol=CRLF)


def build_message(
    rendered: RenderedIssue,
    settings: Settings,
    recipient: Recipient,
    *,
    secret_key: str,
    date: datetime,
    subject_prefix: str = "",
) -> bytes:
    """Build the message ``rendered`` makes for ``recipient``.

    :param date: the ``Date`` header (the send time; the issue's time for samples).
    :param subject_prefix: e.g. ``"[TEST] "`` for test sends.
    :raises HeaderInjectionError: when any header value holds a line break.
    :raises NewsletterError: when the recipient's address is not valid.
    """
    try:
        address = validate_email(_safe("To", recipient.email), check_deliverability=False).normalized
    except EmailNotValidError as err:
        raise NewsletterError(f"{recipient.email!r} is not a valid address: {err}") from err
    nl = settings.newsletter
    issue_key = rendered.issue.date.isoformat()
    values = recipient_values(settings, recipient, secret_key)
    values["email"] = address
    html, text = rendered.personalize(values)
    boundary = "=_nl_" + hashlib.sha256(f"{issue_key}\0{rendered.subject}".encode()).hexdigest()[:28]
    list_id = f"{slug(nl.name)}.{nl.sender_domain}"
    headers = [
        ("From", _address(nl.sender_name, nl.sender_address)),
        ("To", _address(recipient.display_name, address)),
        ("Reply-To", nl.reply_to),
        ("Subject", subject_prefix + rendered.subject),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id(settings, issue_key, address)),
        ("List-Id", f"<{list_id}>"),
        ("List-Unsubscribe", f"<{values['unsubscribe_url']}>, <mailto:{nl.reply_to}?subject=unsubscribe>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("List-Archive", f"<{nl.base_url}/archive/>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    lines = []
    for name, value in headers:
        _safe(name, value)
        encoded = value if name.startswith("List-") else _encode_text(name, value)
        lines.append(f"{name}: {encoded}")
    part_head = "Content-Type: text/{kind}; charset=utf-8" + CRLF + "Content-Transfer-Encoding: quoted-printable"
    body = [
        "",
        "This is a multipart message in MIME format.",
        f"--{boundary}",
        part_head.format(kind="plain"),
        "",
        _qp(text),
        f"--{boundary}",
        part_head.format(kind="html"),
        "",
        _qp(html),
        f"--{boundary}--",
        "",
    ]
    return (CRLF.join(lines) + CRLF + CRLF.join(body)).encode("ascii")
