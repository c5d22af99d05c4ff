"""What one message that came back means: a hard or soft bounce, a complaint, an unsubscribe request, or nothing we know.

Attribution comes only from our own sealed tokens (:mod:`newsletter.core.verp`): the address the
message was delivered to (``bounces+TOKEN@`` or ``unsubscribe+TOKEN@``), or, in a complaint
report, the original message's envelope sender or List-Unsubscribe. An address printed in a
bounce's text is never believed: anyone can write one. A message that names nobody by a valid
token is left for a human.

Bounce formats are recognized by flufl.bounce (the detectors GNU Mailman uses: RFC 3464 DSNs
and many non-standard formats such as Postfix's, qmail's, Exim's). For a DSN the per-recipient
``Status`` decides: 5.x.x is a hard bounce, 4.x.x or ``Action: delayed`` a soft one, and so are
5.7.x (the receiver's policy refusing the sender) and 5.2.2 (mailbox full). Complaint
reports are ARF (RFC 5965), as Yahoo's and Microsoft's feedback loops send them.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message

from flufl.bounce import all_failures

from newsletter.core import verp
from newsletter.config import BounceSettings
from newsletter.store.feedback import Feedback, FeedbackKind

log = logging.getLogger(__name__)

#: The headers a delivering server writes with the envelope recipient, most reliable first.
_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_COMPLAINT_TYPES = ("abuse", "fraud")
#: Permanent failures that say nothing against the address: 5.7.x is the receiver's policy refusing *us*
#: (spam filter, blocklisted relay, DMARC), 5.2.2 a full mailbox. Counted as soft bounces, so that one
#: blocklisting does not mark a whole domain's subscribers bounced; repeated, they still reach the limit.
_NOT_THE_ADDRESS = ("5.7.", "5.2.2")


@dataclass(frozen=True)
class Verdict:
    """The meaning of one message: ``feedback`` to record, or ``None`` with the reason it is left for a human."""

    feedback: Feedback | None
    reason: str = ""


def classify(msg: Message, raw: bytes, settings: BounceSettings, secret_key: str, *, now: datetime) -> Verdict:
    """Read one message received at the bounce or unsubscribe address.

    :param raw: the message as received, for an event id when it has no Message-ID.
    :param now: the time used when the message carries no usable date.
    """
    recipients = _envelope_recipients(msg)
    if _is_feedback_report(msg):
        return _complaint(msg, raw, recipients, settings, secret_key, now)
    if settings.unsubscribe_address:
        for token in _tokens(recipients, settings.unsubscribe_address):
            tag = verp.read_token(secret_key, verp.UNSUBSCRIBE, token)
            if tag is not None:
                return Verdict(_feedback(FeedbackKind.UNSUBSCRIBE, "mailto", msg, raw, tag, _date(msg, now),
                                         "unsubscribe request by mail"))
            return Verdict(None, "sent to an unsubscribe address whose token is not ours (forged or altered)")
    tokens = _tokens(recipients, settings.address)
    tag = next(filter(None, (verp.read_token(secret_key, verp.BOUNCE, t) for t in tokens)), None)
    kind, detail = _bounce_kind(msg)
    if kind is None:
        return Verdict(None, "not a bounce, complaint or unsubscribe request this reader recognizes")
    if tag is None:
        why = "its bounce address token is not ours (forged or altered)" if tokens else "it has no bounce address token"
        return Verdict(None, f"a bounce that names no subscriber: {why}")
    return Verdict(_feedback(kind, "dsn", msg, raw, tag, _arrival(msg, now), detail))


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
              detail: str) -> Feedback:
    return Feedback(kind=kind, source=source, event_id=_event_id(msg, raw, tag), occurred_at=when,
                    subscriber_id=tag.subscriber_id, issue=tag.issue, detail=detail[:200])


def _event_id(msg: Message, raw: bytes, tag: verp.Tag) -> str:
    """The message's own id (the same message read twice counts once), else a digest of its bytes."""
    message_id = " ".join(str(msg.get("Message-ID", "")).split()).strip("<>")[:140]
    base = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()[:40]
    return f"{base}#{tag.subscriber_id}:{tag.issue.isoformat()}"


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


def _bounce_kind(msg: Message) -> tuple[FeedbackKind | None, str]:
    """Hard, soft or not a bounce, with a short reason (status and diagnostic, never the body)."""
    for block in _status_blocks(msg):
        action = str(block.get("Action", "")).strip().lower()
        status_match = _STATUS.search(str(block.get("Status", "")))
        status = status_match.group() if status_match else ""
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        detail = " ".join(filter(None, (status, diagnostic))) or action
        if action.startswith("delayed") or (action.startswith(("fail", "error")) and
                                             (status.startswith("4.") or status.startswith(_NOT_THE_ADDRESS))):
            return FeedbackKind.SOFT_BOUNCE, detail
        if action.startswith(("fail", "error")):
            return FeedbackKind.HARD_BOUNCE, detail
    try:
        temporary, permanent = all_failures(msg)
    except Exception as err:  # noqa: BLE001  a heuristic detector choking on a malformed message
        log.warning("bounce detectors failed on a message: %s", err.__class__.__name__)
        return None, ""
    if permanent:
        return FeedbackKind.HARD_BOUNCE, "permanent failure (non-standard bounce)"
    if temporary:
        return FeedbackKind.SOFT_BOUNCE, "temporary failure (non-standard bounce)"
    return None, ""


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


def _complaint(msg: Message, raw: bytes, recipients: list[str], settings: BounceSettings, secret_key: str,
               now: datetime) -> Verdict:
    report = _report_part(msg)
    if report is None:
        return Verdict(None, "a feedback report without its message/feedback-report part")
    feedback_type = str(report.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in _COMPLAINT_TYPES:
        return Verdict(None, f"a feedback report of type {feedback_type[:30]!r}, not a complaint")
    tag = _complaint_tag(report, _original_headers(msg), recipients, settings, secret_key)
    if tag is None:
        return Verdict(None, "a complaint that names no subscriber by a token of ours")
    when = _aware(str(report.get("Arrival-Date", "") or report.get("Received-Date", "")))
    source = " ".join(str(report.get("User-Agent", "")).split())[:60]
    return Verdict(_feedback(FeedbackKind.COMPLAINT, "arf", msg, raw, tag,
                             when if when is not None and when <= now else _date(msg, now),
                             f"{feedback_type} report" + (f" from {source}" if source else "")))


def _complaint_tag(report: Message, original: Message | None, recipients: list[str], settings: BounceSettings,
                   secret_key: str) -> verp.Tag | None:
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
        tag = verp.read_token(secret_key, purpose, token)
        if tag is not None:
            return tag
    return None


__all__ = ["Verdict", "classify"]
