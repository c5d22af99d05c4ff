"""The MIME messages of an issue: built once, then one cheap substitution per recipient.

:class:`MessageFactory` lays out the whole ``multipart/alternative`` message once per send:
constant headers, boundary, and both bodies already quoted-printable encoded line by line
(QP encodes each line on its own, so a line without a placeholder is encoded once for
everybody). Per recipient it fills in ``To``, ``Message-ID`` and ``List-Unsubscribe`` and
encodes only the few lines that hold a placeholder. :func:`build_message_stdlib` builds the
same message with :class:`email.message.EmailMessage`; tests prove both parse the same, and
the benchmark measures the difference.

Headers are written here rather than by the standard library, whose folding may turn a long
``List-Unsubscribe`` into RFC 2047 encoded-words that Gmail then ignores. Every header value
is checked for CR/LF, so no header is ever built from unchecked input; non-ASCII text
(subject, display names) is encoded per RFC 2047 in words of at most 75 characters. Addresses
go with their domain in IDNA A-labels; a non-ASCII local part, which has no ASCII form, is
written as UTF-8 (RFC 6532) and the message is marked for an SMTPUTF8 transport.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping
from email import policy as email_policy
from email import quoprimime
from email.charset import Charset
from email.header import Header
from email.utils import format_datetime

from newsletter.core import addresses

from newsletter.core import verp
from newsletter.core.click_tokens import NONCE_CHARS, NONCE_FIELD, NonceMaker, reader_nonce
from newsletter.config import Settings
from newsletter.errors import HeaderInjectionError
from newsletter.core.merge import TOKEN_RE, CompiledTemplate, MergeSlots, Slot, escape_for
from newsletter.core.tokens import PREFERENCES, UNSUBSCRIBE, make_token, seal, unseal
from newsletter.render.rendered import RenderedIssue

CRLF = "\r\n"
_UNSAFE = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to; the same fields the subscriber store keeps."""

    email: str
    first_name: str = ""
    last_name: str = ""
    subscriber_id: int | None = None  # for the VERP and mailto tokens ([bounces]); None for test copies
    click_consent: bool = False  # agreed that their own clicks be recognised ([analytics] per_subscriber)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True)
class BuiltMessage:
    """One recipient's message, ready for any transport."""

    recipient: str  # as it goes on the wire: the domain in IDNA A-labels
    message_id: str
    data: bytes
    smtputf8: bool = False  # the headers hold UTF-8 (RFC 6532): only an SMTPUTF8 transport may carry it
    #: No line begins with a dot (the factory's messages): SMTP needs no dot-stuffing pass over it.
    #: A header added in front (DKIM) keeps it when its folded lines begin with white space.
    dot_free: bool = False
    #: The body (what follows the blank line) as whole lines in pieces, ``data`` ending with their
    #: concatenation: the pieces the same for every recipient are the same objects in every message
    #: of a send, so a DKIM signer canonicalizes them once. Empty when not known.
    body: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Personal:
    """One recipient's part of a message, for transports that take parts rather than MIME."""

    email: str  # as it goes on the wire: the domain in IDNA A-labels, the local part maybe not ASCII
    name: str
    message_id: str
    list_unsubscribe: str  # the whole header value, https URL first
    values: Mapping[str, str]  # merge field → raw value
    envelope_from: str = ""  # the VERP return path when [bounces] is set ("" : the sender's address)


@dataclass(frozen=True)
class Layout:
    """What every message of a send shares, for mail APIs that personalize on their side.

    ``html`` and ``text`` are the masters with their merge tokens; an adapter swaps each token
    for its provider's placeholder (:meth:`with_placeholders`) and sends each recipient's
    :meth:`slot_values`, already escaped for where each placeholder sits.
    """

    subject: str
    sender_name: str
    sender_address: str
    reply_to: str
    html: str
    text: str
    slots: tuple[Slot, ...]
    headers: tuple[tuple[str, str], ...]  # the same for everyone: List-Id, List-Unsubscribe-Post…

    @staticmethod
    def with_placeholders(master: str, placeholder: Callable[[int], str]) -> str:
        """``master`` with token *n* replaced by ``placeholder(n)``."""
        return TOKEN_RE.sub(lambda m: placeholder(int(m.group(1))), master)

    def slot_values(self, values: Mapping[str, str]) -> list[str]:
        """One recipient's value for each slot, escaped for its context, defaults applied."""
        return [escape_for(values.get(slot.field) or slot.default, slot.context) for slot in self.slots]

    def personalize(self, values: Mapping[str, str]) -> tuple[str, str]:
        """The HTML and text bodies of one recipient (for APIs that take finished messages)."""
        filled = self.slot_values(values)
        return (self.with_placeholders(self.html, filled.__getitem__),
                self.with_placeholders(self.text, filled.__getitem__))


def _safe(name: str, value: str) -> str:
    if _UNSAFE.search(value):
        raise HeaderInjectionError(f"the {name} header value {value[:60]!r} contains a line break; refused")
    return value


def _encode_text(name: str, value: str) -> str:
    """A header's text: as is when ASCII, else RFC 2047 encoded-words folded at 76 characters."""
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76, header_name=name).encode(linesep=CRLF)


_SPECIALS = re.compile(r'[][()<>@,:;.\\"]')


_UTF8 = Charset("utf-8")


def format_address(name: str, addr: str, header: str = "To") -> str:
    """``Name <addr>``: ASCII names quoted as needed, others as RFC 2047 words of at most 75 characters.

    ``addr`` is written as it is, so an internationalized address (RFC 6532) stays UTF-8
    (:func:`email.utils.formataddr` refuses a non-ASCII local part).
    """
    if not name:
        return addr
    if not name.isascii():
        # One encoded word, as Header makes it when the name fits on the header's line, fifteen times
        # faster (every recipient's To); a longer name is folded into several by Header.
        phrase = _UTF8.header_encode(name)
        if len(phrase) > 74 - len(header):
            phrase = Header(name, "utf-8", maxlinelen=76, header_name=header).encode(linesep=CRLF)
    elif _SPECIALS.search(name):
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = name
    return f"{phrase} <{addr}>"


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "newsletter"


def message_id(settings: Settings, issue_key: str, address: str) -> str:
    """A Message-ID that is the same every time for one issue and one address."""
    digest = hashlib.sha256(f"{settings.newsletter.name}\0{issue_key}\0{address}".encode()).hexdigest()[:24]
    return f"<{issue_key}.{digest}@{settings.newsletter.sender_domain}>"


#: The custom variable of the mail APIs that carries :func:`own_id` (Mailgun ``v:``, SendGrid ``custom_args``,
#: Postmark ``Metadata``; Brevo has one custom header, ``X-Mailin-custom``, that holds the id alone).
#: Postmark allows metadata keys of at most 20 characters and values of at most 80.
OWN_ID = "newsletter_msg"


def own_id(message_id: str) -> str:
    """Our own id for a message: the local part of its Message-ID (``2026-11-24.<digest>``), ≤ 80 characters.

    The API adapters send it in the provider's custom-variable field; webhook events bring it back.
    """
    return message_id.strip("<>").partition("@")[0][:80]


def proof_message_id(settings: Settings, issue_key: str) -> str:
    """A Message-ID for a test copy, new at every call: a test copy never passes for the real message
    (the outbox, a server or Gmail would take the real one for a copy already delivered)."""
    return f"<{issue_key}.test.{uuid.uuid4().hex}@{settings.newsletter.sender_domain}>"


#: The header that carries :func:`reply_reference`; auto-replies and bounces that quote it are attributable.
REFERENCE_HEADER = "X-Newsletter-Ref"
_REFERENCE = "reply-reference"  # the token purpose: a reference never opens an unsubscribe link


def feedback_id(settings: Settings, issue_key: str, mailtype: str) -> str:
    """Gmail Postmaster Tools' ``Feedback-ID``, ``campaign:customer:mailtype:senderid``.

    The campaign is the issue (``20261124``), the customer the list (its ``List-Id`` slug), the
    mail type ``issue`` or ``proof``, the sender id the From domain: Gmail reports spam rates per
    value of each field, so a bad issue, or test copies, show up on their own.
    """
    nl = settings.newsletter
    return f"{issue_key.replace('-', '')}:{slug(nl.name)}:{mailtype}:{nl.sender_domain}"


def reply_reference(secret_key: str, issue_key: str, address: str) -> str:
    """An opaque id for one issue and one address (encrypted and authenticated, never the address in clear)."""
    return seal(secret_key, _REFERENCE, f"{issue_key}\0{address}".encode("utf-8"))


def unsubscribe_url(settings: Settings, secret_key: str, address: str) -> str:
    return f"{settings.newsletter.base_url}/u/{make_token(secret_key, UNSUBSCRIBE, address)}"


def preferences_url(settings: Settings, secret_key: str, address: str) -> str:
    """The reader's preferences page (frequency, pause, data, erasure): ``{base_url}/p/TOKEN``."""
    return f"{settings.newsletter.base_url}/p/{make_token(secret_key, PREFERENCES, address)}"


def recipient_values(settings: Settings, recipient: Recipient, secret_key: str) -> dict[str, str]:
    """The merge values of one recipient (raw; escaping is the placeholder's job)."""
    return {
        "email": recipient.email,
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "unsubscribe_url": unsubscribe_url(settings, secret_key, recipient.email),
        "preferences_url": preferences_url(settings, secret_key, recipient.email),
    }


def _qp_line(line: str) -> str:
    """One body line quoted-printable, no encoded line beginning with a dot.

    A dot at the start of a line would have to be doubled on the SMTP wire (a pass over every
    message); written ``=2E`` it decodes to the same text (RFC 2045), so the SMTP adapter sends the
    factory's messages as they are. Such lines are encoded 74 wide to leave room for the ``=2E``.
    """
    if "\r" in line or "\n" in line:  # more than one line: the standard library's encoder cuts it
        chars = line.encode("utf-8").decode("latin-1")  # quoprimime works on characters, one per byte
        return _no_leading_dot(lambda width: quoprimime.body_encode(chars, maxlinelen=width, eol=CRLF))
    quoted = _quoted(line)
    return _no_leading_dot(lambda width: _cut(quoted, width))


def _no_leading_dot(encode: Callable[[int], str]) -> str:
    """The line as ``encode(width)`` cuts it 76 wide; 74 wide with each dot that would begin a line
    written ``=2E``, when one would."""
    encoded = encode(76)
    if encoded.startswith(".") or "\n." in encoded:
        encoded = encode(74)
        encoded = ("=2E" + encoded[1:] if encoded.startswith(".") else encoded).replace("\n.", "\n=2E")
    return encoded


#: Each byte, as a latin-1 character, the way a quoted-printable body writes it: itself when it may stand as it
#: is, ``=XX`` otherwise (as :func:`quoprimime.body_encode` writes it; CR and LF are not in a line).
_QP_BYTE = {c: chr(c) if quoprimime.body_length(bytes([c])) == 1 else quoprimime.quote(chr(c)) for c in range(256)}


def _quoted(text: str) -> str:
    """``text`` (a piece of one line) in quoted-printable, not yet cut into lines: quoting is character by
    character, so the pieces of a line can be quoted apart and joined (a template's text, once)."""
    return text.encode("utf-8").decode("latin-1").translate(_QP_BYTE)


def _cut(quoted: str, width: int) -> str:
    """One quoted line cut with soft line breaks into lines of at most ``width`` characters, exactly as
    :func:`quoprimime.body_encode` cuts it: never inside an ``=XX``, and a space or tab that ends the
    line written ``=20``/``=09`` when there is room for it, else kept before a break (or after one)."""
    lines: list[str] = []
    start, end = 0, len(quoted)
    while end - start > width:
        stop = start + width - 1  # the line's text; the soft break's "=" makes it ``width`` long
        back = 2 if quoted[stop - 2] == "=" else 1 if quoted[stop - 1] == "=" else 0
        if back:  # an escape would be split: the line ends before it, its "=" serving as the soft break
            lines.append(quoted[start:stop - back + 1])
            start = stop - back
        else:
            lines.append(quoted[start:stop] + "=")
            start = stop
    last = quoted[start:]
    if last and last[-1] in " \t":
        room = width + 1 - len(last)  # what a line of ``width`` has left beside this last piece
        blank = quoprimime.quote(last[-1])
        last = (last[:-1] + blank if room >= 3 else last + "=" + CRLF if room == 2
                else last[:-1] + "=" + CRLF + blank)
    lines.append(last)
    return CRLF.join(lines)


class _QuotedTemplate:
    """A line with recipient fields (a name, an address, a link's token), quoted-printable per recipient:
    its text is quoted once, each recipient's values alone, then the line is cut (:func:`_cut`); the same
    characters as :func:`_qp_line` makes from the whole line, at a fraction of the cost."""

    __slots__ = ("template", "parts", "whole")

    def __init__(self, template: CompiledTemplate) -> None:
        self.template = template
        self.parts = [_quoted(part) for part in template.parts]
        #: A CR in the text (the master's lines are cut at LF) makes two lines: the line is encoded whole.
        self.whole = any("\r" in part for part in template.parts)

    def render(self, values: Mapping[str, str]) -> bytes:
        if self.whole:
            return (_qp_line(self.template.render(values)) + CRLF).encode("ascii")
        parts = self.parts
        out = [parts[0]]
        for n, value in enumerate(self.template.values(values), start=1):
            if "\r" in value or "\n" in value:  # a value that breaks the line: the line is encoded whole
                return (_qp_line(self.template.render(values)) + CRLF).encode("ascii")
            out.append(_quoted(value))
            out.append(parts[n])
        line = "".join(out)
        return (_no_leading_dot(lambda width: _cut(line, width)) + CRLF).encode("ascii")


#: A stand-in of the click nonce's width, made of letters that quoted-printable leaves as they are.
_NONCE_MARK = ("QxNonceMarkQ" * 2)[:NONCE_CHARS]


#: The stand-in as it may come out of the encoder: a soft line break (``=`` CRLF) anywhere inside.
_NONCE_MARK_RE = re.compile("(?:=\r\n)?".join(re.escape(c) for c in _NONCE_MARK))


class _FixedLine:
    """A line whose only merge field is the click nonce, encoded once: the nonce has a fixed width and
    only characters quoted-printable leaves alone, so it drops into the encoded line as it is (cut by
    the soft line break where the stand-in was: breaks fall by column, whatever the letters)."""

    __slots__ = ("parts", "cuts", "uncut")

    def __init__(self, parts: list[bytes], cuts: list[int]) -> None:
        self.parts, self.cuts = parts, cuts  # cuts: where a soft break cuts each nonce (0: none)
        self.uncut = not any(cuts)

    @staticmethod
    def make(line: str, slots: MergeSlots) -> _FixedLine | None:
        """The encoded line in pieces around each nonce, or None when another field is on it (that
        line is encoded per recipient)."""
        found = TOKEN_RE.findall(line)
        if any(slots.slots[int(n)].field != NONCE_FIELD for n in found):
            return None
        encoded = _qp_line(TOKEN_RE.sub(_NONCE_MARK, line)) + CRLF
        marks = list(_NONCE_MARK_RE.finditer(encoded))
        if len(marks) != len(found):
            return None  # the line's own text holds the stand-in: encoded per recipient
        parts, cuts, last = [], [], 0
        for mark in marks:
            parts.append(encoded[last:mark.start()].encode("ascii"))
            cut = mark.group(0).find("=")
            cuts.append(max(cut, 0))
            last = mark.end()
        parts.append(encoded[last:].encode("ascii"))
        return _FixedLine(parts, cuts)

    def then(self, other: _FixedLine) -> _FixedLine:
        """This line and the next one as one piece (fewer pieces per message; both need the recipient)."""
        return _FixedLine([*self.parts[:-1], self.parts[-1] + other.parts[0], *other.parts[1:]],
                          [*self.cuts, *other.cuts])

    def render(self, nonce: bytes) -> bytes:
        if self.uncut:
            return nonce.join(self.parts)
        parts = self.parts
        out = [parts[0]]
        for n, cut in enumerate(self.cuts, start=1):
            out.append(nonce[:cut] + b"=\r\n" + nonce[cut:] if cut else nonce)
            out.append(parts[n])
        return b"".join(out)


class _EncodedBody:
    """A master body as runs of pre-encoded lines (ASCII bytes, made once) and the few lines that
    need a recipient; every piece is whole lines, each with its CRLF."""

    def __init__(self, master: str, slots: MergeSlots) -> None:
        self.segments: list[bytes | _QuotedTemplate | _FixedLine] = []
        static: list[str] = []
        for line in master.replace("\r\n", "\n").split("\n"):
            if TOKEN_RE.search(line):
                if static:
                    self.segments.append((CRLF.join(static) + CRLF).encode("ascii"))
                    static = []
                fixed = _FixedLine.make(line, slots)
                if fixed is not None and self.segments and isinstance(self.segments[-1], _FixedLine):
                    self.segments[-1] = self.segments[-1].then(fixed)
                else:
                    self.segments.append(fixed or _QuotedTemplate(CompiledTemplate(line, slots)))
            else:
                static.append(_qp_line(line))
        self.segments.append((CRLF.join(static) + CRLF).encode("ascii"))

    def pieces(self, values: Mapping[str, str]) -> list[bytes]:
        nonce = values.get(NONCE_FIELD, "").encode("ascii")
        return [seg if type(seg) is bytes else seg.render(nonce) if type(seg) is _FixedLine  # noqa: E721 (exact types)
                else seg.render(values)  # type: ignore[union-attr, arg-type]
                for seg in self.segments]


class MessageFactory:
    """Builds every recipient's message of one send from one layout.

    :param date: the ``Date`` header, the same for the whole send.
    :param subject_prefix: e.g. ``"[TEST] "`` for test sends.
    :param web_url: the "view online" link when it is not the public archive page (test copies
        link to the proofreading address, :func:`newsletter.content.publication.proof_url`).
    :param issue_key: what names the messages (Message-ID, Feedback-ID) when they are not the issue's
        own: a correction mail's (``2026-11-24.correction1``) never passes for the issue.
    """

    def __init__(self, rendered: RenderedIssue, settings: Settings, *, secret_key: str, date: datetime,
                 subject_prefix: str = "", web_url: str = "", issue_key: str = "") -> None:
        nl = settings.newsletter
        self.settings = settings
        self.secret_key = secret_key
        self.web_url = web_url
        self.issue_key = issue_key or rendered.issue.date.isoformat()
        self.issue_date = rendered.issue.date
        #: Masters with counted links (a send's, :mod:`newsletter.render.tracking`): each message gets a nonce.
        self.tracked = any(slot.field == NONCE_FIELD for slot in rendered.slots.slots)
        self._nonces = NonceMaker(secret_key, self.issue_key) if self.tracked else None
        boundary = "=_nl_" + hashlib.sha256(f"{self.issue_key}\0{rendered.subject}".encode()).hexdigest()[:28]
        self._mailto = f"<mailto:{_safe('Reply-To', nl.reply_to)}?subject=unsubscribe>"
        first = [("From", format_address(nl.sender_name, nl.sender_address, "From"))]
        rest = [
            ("Reply-To", nl.reply_to),
            ("Subject", subject_prefix + rendered.subject),
            ("Date", format_datetime(date)),
            ("List-Id", f"<{slug(nl.name)}.{nl.sender_domain}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("List-Archive", f"<{nl.base_url}/archive/>"),
            ("Feedback-ID", feedback_id(settings, self.issue_key,
                                        "proof" if subject_prefix else "correction" if issue_key else "issue")),
            ("X-Auto-Response-Suppress", "OOF, AutoReply"),  # Exchange/Outlook: no out-of-office replies
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ]
        self._head = self._header_block(first)
        self._middle = self._header_block(rest)
        part = "Content-Type: text/{kind}; charset=utf-8" + CRLF + "Content-Transfer-Encoding: quoted-printable"
        # The body's own lines: the preamble and the text part's head, the HTML part's head, the end.
        self._text_open = CRLF.join(["This is a multipart message in MIME format.", f"--{boundary}",
                                     part.format(kind="plain"), "", ""]).encode("ascii")
        self._html_open = CRLF.join([f"--{boundary}", part.format(kind="html"), "", ""]).encode("ascii")
        self._close = f"--{boundary}--{CRLF}".encode("ascii")
        self._text = _EncodedBody(rendered.text, rendered.slots)
        self._html = _EncodedBody(rendered.html, rendered.slots)
        self.layout = Layout(
            subject=subject_prefix + rendered.subject, sender_name=nl.sender_name, sender_address=nl.sender_address,
            reply_to=nl.reply_to, html=rendered.html, text=rendered.text, slots=tuple(rendered.slots.slots),
            headers=tuple((name, value) for name, value in rest
                          if name.startswith("List-") or name in ("Feedback-ID", "X-Auto-Response-Suppress")))

    @staticmethod
    def _header_block(headers: list[tuple[str, str]]) -> str:
        lines = []
        for name, value in headers:
            _safe(name, value)
            encoded = _encode_text(name, value) if name in ("Subject", "Reply-To") else value
            lines.append(f"{name}: {encoded}{CRLF}")
        return "".join(lines)

    def personal(self, recipient: Recipient) -> Personal:
        """One recipient's fields, checked for header injection; the address in its wire form.

        :raises HeaderInjectionError: when the address or a name holds a line break.
        :raises AddressError: when the address has no form to put on the wire.
        """
        address = addresses.wire(_safe("To", recipient.email))
        name = _safe("To", recipient.display_name)
        values = recipient_values(self.settings, recipient, self.secret_key)
        if self.web_url:
            values["web_url"] = self.web_url
        if self.tracked:
            values[NONCE_FIELD] = self._nonce(recipient)
        envelope_from, mailto = self._return_addresses(recipient)
        # The Message-ID and the unsubscribe token come from the stored (canonical) address.
        return Personal(address, name, message_id(self.settings, self.issue_key, recipient.email),
                        f"<{values['unsubscribe_url']}>, {mailto}", values, envelope_from)

    def _nonce(self, recipient: Recipient) -> str:
        """The message half of its counted links: random, unless the reader consented to be recognised."""
        if recipient.click_consent and recipient.subscriber_id is not None and self.settings.analytics.per_subscriber:
            return reader_nonce(self.secret_key, self.issue_key, recipient.subscriber_id)
        assert self._nonces is not None
        return self._nonces.new()

    def _return_addresses(self, recipient: Recipient) -> tuple[str, str]:
        """The VERP envelope sender and the List-Unsubscribe mailto of a subscriber, with [bounces]."""
        bounces = self.settings.bounces
        if bounces is None or recipient.subscriber_id is None:
            return "", self._mailto
        tag = verp.Tag(recipient.subscriber_id, self.issue_date)
        mailto = self._mailto
        if bounces.unsubscribe_address:
            address = verp.return_path(bounces.unsubscribe_address, self.secret_key, tag, verp.UNSUBSCRIBE)
            mailto = f"<mailto:{address}?subject=unsubscribe>"
        return verp.return_path(bounces.address, self.secret_key, tag), mailto

    def build(self, recipient: Recipient) -> BuiltMessage:
        """The complete message for one recipient, as bytes.

        :raises HeaderInjectionError: when the address or a name holds a line break.
        """
        return self.build_from(self.personal(recipient))

    def build_from(self, person: Personal) -> BuiltMessage:
        """The complete message of a recipient whose fields are already checked.

        An address whose local part is not ASCII is written as UTF-8 (RFC 6532) and the message
        is marked :attr:`BuiltMessage.smtputf8`; every other message is pure ASCII.
        """
        smtputf8 = addresses.needs_smtputf8(person.email)
        head = "".join((
            self._head,
            f"To: {format_address(person.name, person.email)}{CRLF}",
            self._middle,
            f"Message-ID: {person.message_id}{CRLF}",
            f"List-Unsubscribe: {person.list_unsubscribe}{CRLF}",
            f"{REFERENCE_HEADER}: {reply_reference(self.secret_key, self.issue_key, person.values['email'])}{CRLF}",
            CRLF,
        )).encode("utf-8" if smtputf8 else "ascii")
        body = (self._text_open, *self._text.pieces(person.values), self._html_open,
                *self._html.pieces(person.values), self._close)
        # Every line is a header (folded ones begin with white space), a MIME line of ours or a
        # quoted-printable line from _qp_line: none begins with a dot.
        return BuiltMessage(person.email, person.message_id, b"".join((head, *body)), smtputf8, dot_free=True,
                            body=body)


def build_message(rendered: RenderedIssue, settings: Settings, recipient: Recipient, *, secret_key: str,
                  date: datetime, subject_prefix: str = "") -> bytes:
    """One recipient's message (a factory for a single use: samples and tests)."""
    factory = MessageFactory(rendered, settings, secret_key=secret_key, date=date, subject_prefix=subject_prefix)
    return factory.build(recipient).data
