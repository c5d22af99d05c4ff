"""Postmark webhooks: one JSON record per request, authenticated by HTTP basic credentials in the webhook URL.

Postmark signs nothing; its webhook page says to "secure them using HTTP Auth": the URL given
to Postmark is ``https://user:password@host/webhooks/postmark`` and each request carries
those credentials, compared here in constant time.

Records (``RecordType``, Postmark's "Webhooks" and "Bounce API" documentation): ``Bounce``,
whose ``Type`` says what it is (every type of the Bounce API is named in the tables below: hard
``HardBounce``, ``BadEmailAddress``; soft ``SoftBounce``, ``Transient``, ``DnsError``, ``Blocked``,
``SpamNotification`` (a receiver's filter, not a person), ``DMARCPolicy``; ``SpamComplaint``;
``Unsubscribe``; the others, e.g. ``AutoResponder``, ``AddressChange`` or ``ManuallyDeactivated``,
say nothing against the address), ``SpamComplaint``, and ``SubscriptionChange`` when
``SuppressSending`` is true (``SuppressionReason`` ``HardBounce``, ``SpamComplaint`` or
``ManualSuppression``, the recipient's unsubscribe through Postmark; a reactivation is ignored:
nobody is reactivated from outside). ``Delivery``, ``Open``, ``Click`` and ``Inbound`` change nothing.
``Metadata`` comes back as it was sent.

Known in the field: a ``Bounce`` of ``Type`` ``Unsubscribe`` (a recipient's unsubscribe that
Postmark received) may come with no ``Email`` and no ``BouncedAt``; it is linked to its reader by
``MessageID`` (the ledger row of that message) and dated when it is received.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from newsletter.errors import ConfigError
from newsletter.feedback import (OWN_ID, Parsed, WebhookRefused, basic_credentials, bounce_reason, digest, issue_of,
                                 load_json, same, text)
from newsletter.feedback.webhooks import Webhook, WebhookRequest, register
from newsletter.store.feedback import Feedback, FeedbackKind

SOURCE = "postmark"
#: Bounce types that say something about the address or the person, with the reasons table's word when
#: the type names one (else the SMTP reply in ``Details`` tells it).
_BOUNCE_TYPES: dict[str, tuple[FeedbackKind, str]] = {
    "HardBounce": (FeedbackKind.HARD_BOUNCE, ""), "BadEmailAddress": (FeedbackKind.HARD_BOUNCE, "invalid address"),
    "SoftBounce": (FeedbackKind.SOFT_BOUNCE, ""), "Transient": (FeedbackKind.SOFT_BOUNCE, "delayed"),
    "DnsError": (FeedbackKind.SOFT_BOUNCE, "connection failed"), "Blocked": (FeedbackKind.SOFT_BOUNCE, "blocked"),
    "SpamNotification": (FeedbackKind.SOFT_BOUNCE, "spam"), "DMARCPolicy": (FeedbackKind.SOFT_BOUNCE, "auth failure"),
    "SpamComplaint": (FeedbackKind.COMPLAINT, ""), "Unsubscribe": (FeedbackKind.UNSUBSCRIBE, ""),
}
#: The other documented bounce types: replies, notices and Postmark's own refusals, nothing about the reader.
_BOUNCE_IGNORED = {"Subscribe", "AutoResponder", "AddressChange", "OpenRelayTest", "Unknown", "VirusNotification",
                   "ChallengeVerification", "ManuallyDeactivated", "Unconfirmed", "SMTPApiError", "InboundError",
                   "TemplateRenderingFailed"}
_SUPPRESSION = {"HardBounce": FeedbackKind.HARD_BOUNCE, "SpamComplaint": FeedbackKind.COMPLAINT,
                "ManualSuppression": FeedbackKind.UNSUBSCRIBE}
_IGNORED = {"Delivery", "Open", "Click", "Inbound"}


def load_credentials(value: str, variable: str) -> tuple[bytes, bytes]:
    """``(user, password)`` from the environment value ``user:password``.

    :raises ConfigError: naming the variable, never showing its value.
    """
    user, colon, password = value.strip().partition(":")
    if not colon or not user or len(password) < 16:
        raise ConfigError(f"the environment variable {variable} must hold user:password with a password of at "
                          "least 16 characters (the basic-auth credentials of the Postmark webhook URL)",
                          hint=f"e.g. export {variable}=postmark:$(openssl rand -hex 24), and give Postmark the "
                               "URL https://postmark:THAT-PASSWORD@your.host/webhooks/postmark")
    return user.encode(), password.encode()


def verify(headers: Mapping[str, str], body: bytes, *, credentials: tuple[bytes, bytes]) -> dict[str, Any]:
    """The record when the request carries the configured credentials.

    :raises WebhookRefused: 401 for missing or wrong credentials, 400 for a body that is not a JSON object.
    """
    given = basic_credentials(headers)
    # Both parts are always compared, so a wrong user takes as long as a wrong password.
    if given is None or not (same(given[0], credentials[0]) & same(given[1], credentials[1])):
        raise WebhookRefused(401, "wrong or missing credentials")
    record = load_json(body)
    if not isinstance(record, dict):
        raise WebhookRefused(400, "the body is not a JSON object")
    return record


def _when(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text(value, 60).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def parse(record: dict[str, Any], *, now: datetime | None = None) -> Parsed:
    """The feedback in one verified Postmark record.

    :param now: when the request is received: the time of an unsubscribe record that carries none.
    """
    parsed = Parsed()
    record_type = text(record.get("RecordType"), 40)
    kind: FeedbackKind | None = None
    named = ""
    if record_type == "Bounce":
        bounce_type = text(record.get("Type"), 40)
        kind, named = _BOUNCE_TYPES.get(bounce_type, (None, ""))
        if kind is None:
            (parsed.ignored if bounce_type in _BOUNCE_IGNORED else parsed.unknown).append(f"Bounce/{bounce_type}")
            return parsed
    elif record_type == "SpamComplaint":
        kind = FeedbackKind.COMPLAINT
    elif record_type == "SubscriptionChange":
        kind = _SUPPRESSION.get(text(record.get("SuppressionReason"), 40))
        if record.get("SuppressSending") is not True or kind is None:
            parsed.ignored.append("SubscriptionChange")
            return parsed
    elif record_type in _IGNORED:
        parsed.ignored.append(record_type)
        return parsed
    else:
        parsed.unknown.append(record_type or "(none)")
        return parsed
    email = text(record.get("Email") or record.get("Recipient"), 320)
    message_id = text(record.get("MessageID"), 200)
    occurred = _when(record.get("BouncedAt") or record.get("ChangedAt"))
    if kind is FeedbackKind.UNSUBSCRIBE and record_type == "Bounce" and message_id:
        # An unsubscribe Postmark received: its message names the reader, its arrival is the time.
        occurred = occurred or now
    elif not email:
        occurred = None
    if occurred is None:
        raise WebhookRefused(400, f"the {record_type} record lacks its address or time")
    # Bounces and complaints have their own ID; a subscription change has none, so its fields make one.
    event_id = f"{record_type}:{text(record.get('ID'), 40)}" if text(record.get("ID"), 40) else \
        f"{record_type}:{digest(message_id, email, record.get('ChangedAt'), record.get('SuppressionReason'))}"
    metadata = record.get("Metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    details = text(record.get("Details") or record.get("Description"), 300)
    detail = " ".join(filter(None, (text(record.get("Type") or record.get("SuppressionReason"), 40), details)))
    parsed.feedback.append(Feedback(
        kind=kind, source=SOURCE, event_id=event_id, occurred_at=occurred, email=email or None,
        issue=issue_of(metadata.get(OWN_ID)), provider_message_id=message_id or None, detail=detail,
        reason=bounce_reason(kind, details, named)))
    return parsed


@register
class PostmarkWebhook(Webhook):
    """``POST /webhooks/postmark``; ``[webhooks.postmark] credentials_env`` names the variable holding
    ``user:password``, the basic-auth credentials of the URL given to Postmark."""

    name = SOURCE
    known_options = ("credentials_env",)

    def __init__(self, options: Mapping[str, object], environ: Mapping[str, str], *, max_age: int) -> None:
        super().__init__(options, environ, max_age=max_age)
        variable, value = self.secret("credentials_env", "Postmark webhook credentials (user:password)")
        self.credentials = load_credentials(value, variable)

    def authenticate(self, request: WebhookRequest) -> tuple[dict[str, Any], datetime]:
        # The time of arrival travels with the record: an unsubscribe record may carry none of its own.
        return verify(request.headers, request.body, credentials=self.credentials), request.received_at

    def parse_events(self, payload: tuple[dict[str, Any], datetime]) -> Parsed:
        record, received_at = payload
        return parse(record, now=received_at)
