"""SendGrid's Event Webhook: a JSON array of events per request, signed with ECDSA (the Signed Event Webhook).

SendGrid's documentation ("Getting Started with the Event Webhook Security Features"): SendGrid
signs with a private key and posts the signature in ``X-Twilio-Email-Event-Webhook-Signature``
(base64 ECDSA, P-256 with SHA-256) and the time in ``X-Twilio-Email-Event-Webhook-Timestamp``;
the signed payload is the timestamp followed by the raw request body. The verification key
the Mail Settings page shows is a base64 DER public key (a PEM one is accepted too).

Events ("Event Webhook Reference"): ``bounce`` (``type`` ``bounce`` a hard bounce, ``blocked``
and ``expired`` soft ones; ``bounce_classification`` names the reason), ``dropped`` for an
address SendGrid suppresses (its ``reason`` says why), ``spamreport``, ``unsubscribe`` and
``group_unsubscribe``; the delivery events ``processed``, ``deferred`` (SendGrid keeps trying),
``delivered``, the engagement events ``open``, ``click``, ``group_resubscribe`` (nobody is
reactivated from outside) and the account event ``account_status_change`` (logged: it is about
the sending account, not a reader) change nothing here. Custom arguments come back as top-level
fields of each event.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.errors import ConfigError
from newsletter.feedback import (FUTURE_SKEW, OWN_ID, Parsed, WebhookRefused, bounce_reason, digest, epoch, issue_of,
                                 load_json, text)
from newsletter.feedback.webhooks import Webhook, WebhookRequest, register
from newsletter.store.feedback import Feedback, FeedbackKind

SOURCE = "sendgrid"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
_IGNORED = {"processed", "deferred", "delivered", "open", "click", "group_resubscribe", "account_status_change"}
#: ``bounce_classification`` (SendGrid's "Bounce and Block Classifications") in the reasons table's words.
_CLASSIFICATION = {"invalid address": "invalid address", "mailbox unavailable": "user unknown",
                   "reputation": "blocked", "content": "spam", "frequency or volume": "rate limited",
                   "technical": "connection failed"}
_DROPPED = {"bounced address": FeedbackKind.HARD_BOUNCE, "invalid": FeedbackKind.HARD_BOUNCE,
            "spam reporting address": FeedbackKind.COMPLAINT, "unsubscribed address": FeedbackKind.UNSUBSCRIBE}


def load_key(value: str, variable: str) -> ec.EllipticCurvePublicKey:
    """The verification key from its environment value (base64 DER as SendGrid shows it, or PEM).

    :raises ConfigError: naming the variable, never showing its value.
    """
    value = value.strip()
    try:
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise ConfigError(f"the environment variable {variable} does not hold a public key",
                          hint="copy the Verification Key from SendGrid's Mail Settings > Event Webhook page "
                               "(Signed Event Webhook) into it") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"the key in {variable} is not an ECDSA P-256 key, as SendGrid's verification key is",
                          hint="copy the Verification Key from SendGrid's Event Webhook settings")
    return key


def verify(headers: Mapping[str, str], body: bytes, *, key: ec.EllipticCurvePublicKey, now: datetime,
           max_age: int) -> list[Any]:
    """The events when the request carries SendGrid's valid, fresh signature.

    :raises WebhookRefused: 401 without the signature headers, 403 for a bad signature or an old or
        future timestamp, 400 for a body that is not a JSON array.
    """
    signature, timestamp = headers.get(SIGNATURE, ""), headers.get(TIMESTAMP, "")
    if not signature or not timestamp:
        raise WebhookRefused(401, "the Signed Event Webhook headers are missing")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRefused(403, "the signed timestamp is not a Unix time")
    try:
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + body,
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise WebhookRefused(403, "the signature does not match SendGrid's verification key") from None
    age = now.timestamp() - int(timestamp)
    if age > max_age:
        raise WebhookRefused(403, f"the signed timestamp is {int(age)} s old (more than {max_age} s)")
    if age < -FUTURE_SKEW:
        raise WebhookRefused(403, "the signed timestamp is in the future")
    events = load_json(body)
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise WebhookRefused(400, "the body is not a JSON array of events")
    return events


def _kind(event: dict[str, Any]) -> FeedbackKind | None | str:
    """The kind of feedback of one event; None for events that change nothing; the name when unknown."""
    name = text(event.get("event"), 40)
    if name == "bounce":
        return FeedbackKind.SOFT_BOUNCE if event.get("type") in ("blocked", "expired") else FeedbackKind.HARD_BOUNCE
    if name == "dropped":
        return _DROPPED.get(text(event.get("reason"), 60).lower())
    if name == "spamreport":
        return FeedbackKind.COMPLAINT
    if name in ("unsubscribe", "group_unsubscribe"):
        return FeedbackKind.UNSUBSCRIBE
    if name in _IGNORED:
        return None
    return name or "(none)"


def parse(events: list[Any]) -> Parsed:
    """The feedback in a verified batch of SendGrid events."""
    parsed = Parsed()
    for event in events:
        kind = _kind(event)
        if kind is None:
            parsed.ignored.append(text(event.get("event"), 40))
            continue
        if not isinstance(kind, FeedbackKind):  # (a FeedbackKind is a str too: test for it, not for str)
            parsed.unknown.append(kind)
            continue
        occurred, email = epoch(event.get("timestamp")), text(event.get("email"), 320)
        if occurred is None or not email:
            raise WebhookRefused(400, f"a {event.get('event')} event lacks its timestamp or email")
        # sg_message_id is the X-Message-Id the send got back, followed by ".filter…" and more.
        message_id = text(event.get("sg_message_id"), 300).split(".filter")[0]
        event_id = text(event.get("sg_event_id"), 100) or digest(event.get("event"), email, event.get("timestamp"),
                                                                 event.get("sg_message_id"))
        detail = " ".join(filter(None, (text(event.get("status"), 10), text(event.get("type"), 20),
                                        text(event.get("reason"), 300))))
        named = "expired" if event.get("type") == "expired" else \
            _CLASSIFICATION.get(text(event.get("bounce_classification"), 40).lower(), "")
        parsed.feedback.append(Feedback(
            kind=kind, source=SOURCE, event_id=event_id, occurred_at=occurred, email=email,
            issue=issue_of(event.get(OWN_ID)), provider_message_id=message_id or None, detail=detail,
            reason=bounce_reason(kind, " ".join(filter(None, (text(event.get("status"), 10),
                                                              text(event.get("reason"), 300)))), named)))
    return parsed


@register
class SendGridWebhook(Webhook):
    """``POST /webhooks/sendgrid``; ``[webhooks.sendgrid] public_key_env`` names the variable holding the
    Signed Event Webhook's verification key (base64 DER as SendGrid shows it, or PEM)."""

    name = SOURCE
    known_options = ("public_key_env",)

    def __init__(self, options: Mapping[str, object], environ: Mapping[str, str], *, max_age: int) -> None:
        super().__init__(options, environ, max_age=max_age)
        variable, value = self.secret("public_key_env", "SendGrid Event Webhook verification key")
        self.key = load_key(value, variable)

    def authenticate(self, request: WebhookRequest) -> list[Any]:
        return verify(request.headers, request.body, key=self.key, now=request.received_at, max_age=self.max_age)

    def parse_events(self, payload: list[Any]) -> Parsed:
        return parse(payload)
