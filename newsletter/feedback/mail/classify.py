"""What one message that came back means: a hard or soft bounce, a complaint, an unsubscribe request, or nothing we know.

Attribution comes only from our own sealed tokens (:mod:`newsletter.core.verp`): the address the
message was delivered to (``bounces+TOKEN@`` or ``unsubscribe+TOKEN@``), or, in a complaint
report, the original message's envelope sender or List-Unsubscribe. An address printed in a
bounce's text is never believed: anyone can write one. A message that names nobody by a valid
token is left for a human.

A bounce is read as a mail administrator reads it, from everything it says
(:mod:`newsletter.feedback.mail.reasons`): for a DSN (RFC 3464) the per-recipient ``Action`` and
``Status``, and the enhanced code and text of its ``Diagnostic-Code`` (a bare ``5.0.0`` says
little; the receiver's ``550 5.7.1 … policy`` says it refused *us*); for a report in a server's
own format (Exim, qmail, old Sendmail, OpenSMTPD, Yahoo, Mail.ru, Lotus Notes, an Office 365 NDR
without a delivery-status part…) the reply codes and phrases of its text, before the copy of our
message it returns. Only the address's absence (user unknown, host unknown, disabled mailbox) is a
hard bounce; a full mailbox, an expired queue, a refused sender, policy, spam, blocks,
authentication and rate limits are soft ones; a delay is soft, never hard. Each event keeps its
reason (the word of the reasons table). A report from a mail system with no readable reason falls
back on flufl.bounce's detectors (GNU Mailman's). An auto-reply (RFC 3834, out of office), a
success report or a read receipt changes nobody.

Complaint reports are ARF (RFC 5965), as Yahoo's, AOL's and Mail.ru's feedback loops send them,
and Microsoft's JMRP format (multipart/mixed with the reported message attached, not RFC 5965).
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from email.message import Message
from typing import Callable, Iterable

from flufl.bounce import all_failures

from newsletter.core import verp
from newsletter.feedback.mail import reasons
from newsletter.config import BounceSettings
from newsletter.store.feedback import Feedback, FeedbackKind

log = logging.getLogger(__name__)

#: Reads one token of ours for a purpose (:func:`newsletter.core.verp.read_token` with the key and the editions).
_Reader = Callable[[str, str], "verp.Tag | None"]
#: The headers a delivering server writes with the envelope recipient, most reliable first.
_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_COMPLAINT_TYPES = ("abuse", "fraud")
#: Who writes failure reports in a server's own format, and how they title them.
_MAIL_SYSTEM = re.compile(r"mailer-daemon|mail-daemon|mailer daemon|postmaster|mail delivery", re.IGNORECASE)
_FAILURE_SUBJECT = re.compile(r"undeliver|undelivered|delivery (status notification|failure|failed|has failed|problem)|"
                              r"failure notice|returned mail|mail failure|non remis|non distribu|nondeliver|"
                              r"warning: (message|could not send)", re.IGNORECASE)
#: An automatic reply (RFC 3834 ``Auto-Submitted: auto-replied``, Outlook's and vacation programs' marks).
_AUTO_REPLY_SUBJECT = re.compile(r"^\s*(auto(matic)?[ -]?reply|auto:|out of (the )?office|absence|abwesenheit|"
                                 r"r[ée]ponse automatique|absent)", re.IGNORECASE)
#: Where a report's own text ends and the copy of our message begins (whose words are ours, not the receiver's).
_COPY_STARTS = re.compile(r"^.*(below this line is a copy|this is a copy of the message|original message follows|"
                          r"header of the original message|below is a copy of the original message|"
                          r"-----\s*original message\s*-----|^return-path:).*$", re.IGNORECASE | re.MULTILINE)
#: A report that the message is late, still being tried: soft at most, never hard.
_DELAY = re.compile(r"not yet been delivered|still undelivered|will (keep|continue) trying|delivery attempts will "
                    r"continue|this is a warning|warning message only|will be retried|delayed", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
#: The type that starts a Diagnostic-Code ("smtp;", "X-Postfix;", "x-unix;"), before the receiver's words.
_DIAGNOSTIC_TYPE = re.compile(r"^\s*[\w.-]+\s*;\s*")
#: How much of a report's text is read: the receiver's words come first, long before this.
_TEXT_LIMIT = 20_000


@dataclass(frozen=True)
class Verdict:
    """The meaning of one message: ``feedback`` to record, or ``None`` with the reason it is left for a human."""

    feedback: Feedback | None
    reason: str = ""


def classify(msg: Message, raw: bytes, settings: BounceSettings, secret_key: str, *, now: datetime,
             editions: Callable[[date], Iterable[str]] = lambda day: ()) -> Verdict:
    """Read one message received at the bounce or unsubscribe address.

    :param raw: the message as received, for an event id when it has no Message-ID.
    :param now: the time used when the message carries no usable date.
    :param editions: the special editions sent on a date (their slugs), which tell a token of an edition's
        message which edition it was (:func:`newsletter.core.verp.read_token`).
    """
    def read(purpose: str, token: str) -> verp.Tag | None:
        return verp.read_token(secret_key, purpose, token, editions)

    recipients = _envelope_recipients(msg)
    if _is_feedback_report(msg):
        return _complaint(msg, raw, recipients, settings, read, now)
    if settings.unsubscribe_address:
        for token in _tokens(recipients, settings.unsubscribe_address):
            tag = read(verp.UNSUBSCRIBE, token)
            if tag is not None:
                return Verdict(_feedback(FeedbackKind.UNSUBSCRIBE, "mailto", msg, raw, tag, _date(msg, now),
                                         "unsubscribe request by mail"))
            return Verdict(None, "sent to an unsubscribe address whose token is not ours (forged or altered)")
    if _jmrp_original(msg) is not None:
        return _jmrp_complaint(msg, raw, recipients, settings, read, now)
    tokens = _tokens(recipients, settings.address)
    tag = next(filter(None, (read(verp.BOUNCE, t) for t in tokens)), None)
    bounce = _bounce(msg)
    if bounce is None:
        return Verdict(None, "not a bounce, complaint or unsubscribe request this reader recognizes")
    if tag is None:
        why = "its bounce address token is not ours (forged or altered)" if tokens else "it has no bounce address token"
        return Verdict(None, f"a bounce that names no subscriber: {why}")
    kind, detail, reason = bounce
    return Verdict(_feedback(kind, "dsn", msg, raw, tag, _arrival(msg, now), detail, reason))


def _envelope_recipients(msg: Message) -> list[str]:
    found: list[str] = []
    for header in _RECIPIENT_HEADERS:
        for _, address in email.utils.getaddresses([str(v) for v in msg.get_all(header, [])]):
            if address and address not in found:
                found.append(address)
    return found


def _tokens(addresses: list[str], base: str) -> list[str]:
    return [token for token in (verp.token_in(a, base) for a in addresses) if token]


def _feedback(kind: FeedbackKind, source: str, msg: Message, raw: bytes, tag: verp.Tag, when: datetime,
              detail: str, reason: str = "") -> Feedback:
    return Feedback(kind=kind, source=source, event_id=_event_id(msg, raw, tag), occurred_at=when,
                    subscriber_id=tag.subscriber_id, issue=tag.issue, detail=detail[:200], reason=reason)


def _event_id(msg: Message, raw: bytes, tag: verp.Tag) -> str:
    """The message's own id (the same message read twice counts once), else a digest of its bytes."""
    message_id = " ".join(str(msg.get("Message-ID", "")).split()).strip("<>")[:140]
    base = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()[:40]
    return f"{base}#{tag.subscriber_id}:{tag.issue.isoformat() if tag.issue else 'edition'}"


def _aware(value: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _date(msg: Message, now: datetime) -> datetime:
    when = _aware(str(msg.get("Date", "")))
    return when if when is not None and when <= now else now


def _arrival(msg: Message, now: datetime) -> datetime:
    """When the bounce happened: the DSN's Arrival-Date, else the message's Date."""
    for block in _status_blocks(msg):
        when = _aware(str(block.get("Arrival-Date", "")))
        if when is not None and when <= now:
            return when
    return _date(msg, now)


# -- bounces ----------------------------------------------------------------------------------------

def _status_blocks(msg: Message) -> list[Message]:
    """The header blocks of every message/delivery-status part (RFC 3464), as the email package parses them."""
    blocks: list[Message] = []
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status" and part.is_multipart():
            blocks.extend(b for b in part.get_payload() if isinstance(b, Message))
    return blocks


def _bounce(msg: Message) -> tuple[FeedbackKind, str, str] | None:
    """Hard or soft with a short detail (status and diagnostic, never the body) and the reason's word;
    None when the message is not a bounce."""
    blocks = _status_blocks(msg)
    for block in blocks:
        action = str(block.get("Action", "")).strip().lower()
        if not action.startswith(("fail", "error", "delayed")):
            continue
        status_match = _STATUS.search(str(block.get("Status", "")))
        status = status_match.group() if status_match else ""
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        detail = " ".join(filter(None, (status, diagnostic))) or action
        # The receiver's reply, else (no Diagnostic-Code) the report's own words.
        reading = reasons.read_reply(_DIAGNOSTIC_TYPE.sub("", diagnostic) or _report_text(msg), status=status)
        if action.startswith("delayed"):
            return FeedbackKind.SOFT_BOUNCE, detail, _delay_reason(reading).word
        permanent = True if reading.permanent is None else reading.permanent
        found = list(reading.reasons) + ([] if permanent else [reasons.EXPIRED])  # failed on a 4.x.x: the queue gave up
        hard, reason = reasons.decide(found, permanent)
        return (FeedbackKind.HARD_BOUNCE if hard else FeedbackKind.SOFT_BOUNCE), detail, reason.word
    if blocks or _is_other_report(msg):
        return None  # a report that the message arrived, was relayed, or was read
    return _plain_bounce(msg)


def _delay_reason(reading: reasons.Reading) -> reasons.Reason:
    soft = [r for r in reading.reasons if not r.hard and not r.generic]
    return reasons.best(soft) or reasons.DELAYED


def _is_other_report(msg: Message) -> bool:
    """A multipart/report that is not about a failure (a read receipt, a success DSN without its part…)."""
    return msg.get_content_type() == "multipart/report" and \
        str(msg.get_param("report-type", "", header="content-type")).lower() != "delivery-status"


def _from_mail_system(msg: Message) -> bool:
    return bool(_MAIL_SYSTEM.search(str(msg.get("From", ""))) or _FAILURE_SUBJECT.search(str(msg.get("Subject", "")))
                or msg.get("X-Failed-Recipients") is not None or msg.get("X-MS-Exchange-Message-Is-Ndr") is not None)


def _is_auto_reply(msg: Message) -> bool:
    submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    return submitted.startswith("auto-replied") or msg.get("X-Autoreply") is not None or \
        msg.get("X-Autorespond") is not None or bool(_AUTO_REPLY_SUBJECT.match(str(msg.get("Subject", ""))))


def _plain_bounce(msg: Message) -> tuple[FeedbackKind, str, str] | None:
    """A failure report in a server's own format: from a mail system, read from its text's codes and phrases."""
    if not _from_mail_system(msg) or (_is_auto_reply(msg) and not _MAIL_SYSTEM.search(str(msg.get("From", "")))):
        return None
    text = _report_text(msg)
    reading = reasons.read_reply(text)
    enhanced = [c for c in reasons.enhanced_codes(text) if not c.endswith(".0.0")]
    codes = enhanced or reasons.basic_codes(text)
    if _DELAY.search(text) or _DELAY.search(str(msg.get("Subject", ""))):
        if not codes and not reading.reasons:
            return None
        return FeedbackKind.SOFT_BOUNCE, _detail(codes, reading, text), _delay_reason(reading).word
    if reading.reasons or codes:
        # Any 5xx code makes the report permanent; only 4xx ones (a queue that gave up) a temporary one.
        permanent = any(c.startswith("5") for c in codes) if codes else None
        found = list(reading.reasons) + ([reasons.EXPIRED] if permanent is False else [])
        hard, reason = reasons.decide(found, permanent)
        return (FeedbackKind.HARD_BOUNCE if hard else FeedbackKind.SOFT_BOUNCE), _detail(codes, reading, text), \
            reason.word
    try:
        temporary, permanent_failures = all_failures(msg)
    except Exception as err:  # noqa: BLE001  a heuristic detector choking on a malformed message
        log.warning("bounce detectors failed on a message: %s", err.__class__.__name__)
        return None
    if permanent_failures:
        return FeedbackKind.HARD_BOUNCE, "permanent failure (non-standard bounce)", reasons.PERMANENT.word
    if temporary:
        return FeedbackKind.SOFT_BOUNCE, "temporary failure (non-standard bounce)", reasons.TEMPORARY.word
    return None


def _detail(codes: list[str], reading: reasons.Reading, text: str) -> str:
    """A non-standard report's detail: the line of its text with the receiver's reply code (what a DSN's
    Diagnostic-Code holds), else the reasons it gives."""
    for line in text.splitlines():
        if codes and codes[0] in line:
            return " ".join(line.split())[:200]
    return " ".join(sorted({r.word for r in reading.reasons})) or "non-standard bounce"


def _report_text(msg: Message) -> str:
    """The report's own words: its text parts outside any attached message, up to the copy of our message."""
    texts: list[str] = []
    html: list[str] = []
    stack: list[Message] = [msg]
    while stack:
        part = stack.pop(0)
        kind = part.get_content_type()
        if kind.startswith("message/") or kind == "text/rfc822-headers":
            continue  # the returned message, or a machine-readable part
        if part.is_multipart():
            payload = part.get_payload()
            stack = [p for p in payload if isinstance(p, Message)] + stack if isinstance(payload, list) else stack
            continue
        if kind in ("text/plain", "text/html"):
            (texts if kind == "text/plain" else html).append(_decoded(part))
    text = "\n".join(texts) or _TAGS.sub(" ", "\n".join(html))
    cut = _COPY_STARTS.search(text)
    return (text[:cut.start()] if cut else text)[:_TEXT_LIMIT]


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


# -- complaints (ARF, RFC 5965) ------------------------------------------------------------------------

def _is_feedback_report(msg: Message) -> bool:
    return msg.get_content_type() == "multipart/report" and \
        str(msg.get_param("report-type", "", header="content-type")).lower() == "feedback-report"


def _report_part(msg: Message) -> Message | None:
    """The machine-readable message/feedback-report part, as one header block."""
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return email.message_from_string(payload)
    return None


def _original_headers(msg: Message) -> Message | None:
    """The reported message's headers: the message/rfc822 or text/rfc822-headers part."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            return inner if isinstance(inner, Message) else None
        if kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            return email.message_from_bytes(payload) if isinstance(payload, bytes) else None
    return None


def _complaint(msg: Message, raw: bytes, recipients: list[str], settings: BounceSettings, read: _Reader,
               now: datetime) -> Verdict:
    report = _report_part(msg)
    if report is None:
        return Verdict(None, "a feedback report without its message/feedback-report part")
    feedback_type = str(report.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in _COMPLAINT_TYPES:
        return Verdict(None, f"a feedback report of type {feedback_type[:30]!r}, not a complaint")
    tag = _complaint_tag(report, _original_headers(msg), recipients, settings, read)
    if tag is None:
        return Verdict(None, "a complaint that names no subscriber by a token of ours")
    when = _aware(str(report.get("Arrival-Date", "") or report.get("Received-Date", "")))
    source = " ".join(str(report.get("User-Agent", "")).split())[:60]
    return Verdict(_feedback(FeedbackKind.COMPLAINT, "arf", msg, raw, tag,
                             when if when is not None and when <= now else _date(msg, now),
                             f"{feedback_type} report" + (f" from {source}" if source else "")))


def _jmrp_original(msg: Message) -> Message | None:
    """The reported message of a Microsoft JMRP complaint (multipart/mixed, the message attached with its
    ``X-HmXmrOriginalRecipient`` header), or None when ``msg`` is not one."""
    if not msg.is_multipart() or msg.get_content_type() == "multipart/report":
        return None
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message) and inner.get("X-HmXmrOriginalRecipient") is not None:
                return inner
    return None


def _jmrp_complaint(msg: Message, raw: bytes, recipients: list[str], settings: BounceSettings, read: _Reader,
                    now: datetime) -> Verdict:
    tag = _complaint_tag(Message(), _jmrp_original(msg), recipients, settings, read)
    if tag is None:
        return Verdict(None, "a Microsoft (JMRP) complaint that names no subscriber by a token of ours")
    return Verdict(_feedback(FeedbackKind.COMPLAINT, "arf", msg, raw, tag, _date(msg, now),
                             "abuse report from Microsoft JMRP"))


def _complaint_tag(report: Message, original: Message | None, recipients: list[str], settings: BounceSettings,
                   read: _Reader) -> verp.Tag | None:
    """Who complained, from our tokens only: the reported message's envelope sender (VERP) or mailto
    unsubscribe address, else the address the report itself was delivered to."""
    senders = [str(report.get("Original-Mail-From", ""))]
    unsubscribe_links: list[str] = []
    if original is not None:
        senders += [str(v) for v in original.get_all("Return-Path", [])]
        unsubscribe_links = re.findall(r"<mailto:([^>?]+)", str(original.get("List-Unsubscribe", "")))
    candidates = [(t, verp.BOUNCE) for t in _tokens([s.strip() for s in senders], settings.address)]
    if settings.unsubscribe_address:
        candidates += [(t, verp.UNSUBSCRIBE) for t in _tokens(unsubscribe_links, settings.unsubscribe_address)]
    candidates += [(t, verp.BOUNCE) for t in _tokens(recipients, settings.address)]
    for token, purpose in candidates:
        tag = read(purpose, token)
        if tag is not None:
            return tag
    return None


__all__ = ["Verdict", "classify"]
