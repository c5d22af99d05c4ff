"""Mailgun webhooks: one JSON event per request, signed with the domain's HTTP webhook signing key.

Mailgun's documentation ("Securing Webhooks"): the body holds ``signature`` = {``timestamp``,
``token``, ``signature``}; the signature is the hex HMAC-SHA256 of ``timestamp`` and
``token`` concatenated, keyed with the webhook signing key. Mailgun advises refusing old
timestamps and tokens already seen; the web layer keeps the tokens in the store.

Every refusal answers 406: Mailgun's "Automatic Retries" page says a 406 makes it stop
retrying, and a request that fails verification would fail it again.

Events (``event-data.event``, Mailgun's "Event types" and "Webhook payloads"): ``failed`` with
``severity`` ``permanent`` is a hard bounce (or, when ``reason`` is ``suppress-complaint`` /
``suppress-unsubscribe``, Mailgun refusing an address it already knows complained or
unsubscribed; ``old``, retries given up, and ``espblock``, a receiver blocking Mailgun, are soft),
``temporary`` a soft bounce; ``complained``, ``unsubscribed``; ``accepted``, ``rejected`` (Mailgun
refused the send request), ``delivered``, ``opened``, ``clicked``, ``stored`` and the mailing-list
events (``list_member_uploaded``, ``list_member_upload_error``, ``list_uploaded``) change nothing
here. The names of the legacy webhooks and of the webhook settings are taken too: ``bounced`` and
``permanent_fail`` (hard), ``temporary_fail`` (soft), ``dropped`` (a permanent failure, by its reason).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Mapping

from newsletter.feedback import FUTURE_SKEW, OWN_ID, Parsed, WebhookRefused, bounce_reason, epoch, issue_of, load_json, text
from newsletter.feedback.webhooks import Webhook, WebhookRequest, register
from newsletter.store.feedback import Feedback, FeedbackKind

SOURCE = "mailgun"
REFUSED = 406  # "Mailgun will determine the POST is rejected and not retry"
_IGNORED = {"accepted", "delivered", "opened", "clicked", "stored", "rejected", "list_member_uploaded",
            "list_member_upload_error", "list_uploaded"}
_SUPPRESSED = {"suppress-complaint": FeedbackKind.COMPLAINT, "suppress-unsubscribe": FeedbackKind.UNSUBSCRIBE}
#: Permanent failures that say nothing against the address: the reasons table's word for each.
_NOT_THE_ADDRESS = {"old": "expired", "espblock": "blocked"}
#: Legacy webhook events and the webhook settings' names: (severity they mean, or None: by ``severity``).
_ALIASES = {"failed": None, "bounced": "permanent", "dropped": "permanent", "permanent_fail": "permanent",
            "temporary_fail": "temporary"}


def verify(body: bytes, *, key: str, now: datetime, max_age: int) -> tuple[dict[str, Any], str]:
    """The event and its token when the request is Mailgun's, fresh and well-formed.

    :raises WebhookRefused: (406) for a bad signature, an old or future timestamp, or a malformed body.
    """
    try:
        payload = load_json(body)
    except WebhookRefused:
        raise WebhookRefused(REFUSED, "the body is not JSON") from None
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict) or not isinstance(payload.get("event-data"), dict):
        raise WebhookRefused(REFUSED, "not a Mailgun event (no signature or event-data)")
    timestamp, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not all(isinstance(v, str) and v for v in (timestamp, token, given)) or not str(timestamp).isdigit() \
            or len(str(token)) > 200:
        raise WebhookRefused(REFUSED, "the signature block is incomplete")
    expected = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    given = str(given).lower()
    if not given.isascii() or not hmac.compare_digest(expected, given):
        raise WebhookRefused(REFUSED, "the signature does not match the signing key")
    age = now.timestamp() - int(str(timestamp))
    if age > max_age:
        raise WebhookRefused(REFUSED, f"the signed timestamp is {int(age)} s old (more than {max_age} s)")
    if age < -FUTURE_SKEW:
        raise WebhookRefused(REFUSED, "the signed timestamp is in the future")
    return payload, str(token)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse(payload: dict[str, Any]) -> Parsed:
    """The feedback in one verified Mailgun event."""
    data = payload["event-data"]
    parsed = Parsed()
    kind_name = text(data.get("event"), 40)
    kind: FeedbackKind | None = None
    named = ""
    if kind_name in _ALIASES:
        severity = _ALIASES[kind_name] or data.get("severity")
        reason = text(data.get("reason"), 40)
        if severity == "temporary":
            kind = FeedbackKind.SOFT_BOUNCE
        elif severity == "permanent" and reason in _NOT_THE_ADDRESS:
            kind, named = FeedbackKind.SOFT_BOUNCE, _NOT_THE_ADDRESS[reason]
        elif severity == "permanent":
            kind = _SUPPRESSED.get(reason, FeedbackKind.HARD_BOUNCE)
        else:
            parsed.unknown.append(f"{kind_name}/{text(severity, 20)}")
            return parsed
    elif kind_name == "complained":
        kind = FeedbackKind.COMPLAINT
    elif kind_name == "unsubscribed":
        kind = FeedbackKind.UNSUBSCRIBE
    elif kind_name in _IGNORED:
        parsed.ignored.append(kind_name)
        return parsed
    else:
        parsed.unknown.append(kind_name or "(none)")
        return parsed
    event_id, occurred = text(data.get("id"), 100), epoch(data.get("timestamp"))
    recipient = text(data.get("recipient"), 320)
    if not event_id or occurred is None or not recipient:
        raise WebhookRefused(REFUSED, f"the {kind_name} event lacks its id, timestamp or recipient")
    message, variables, status = (_object(data.get(k)) for k in ("message", "user-variables", "delivery-status"))
    headers = _object(message.get("headers"))
    reply = " ".join(filter(None, (text(status.get("code"), 10),
                                   text(status.get("description") or status.get("message"), 300))))
    detail = " ".join(filter(None, (text(status.get("code"), 10), text(data.get("reason"), 40),
                                    text(status.get("description") or status.get("message"), 300))))
    parsed.feedback.append(Feedback(
        kind=kind, source=SOURCE,
        # Mailgun's event id is unique "within a day": with the event's own time it is unique for good,
        # and a retry of the same event (same data) gets the same key.
        event_id=f"{event_id}:{int(occurred.timestamp())}",
        occurred_at=occurred, email=recipient, issue=issue_of(variables.get(OWN_ID)),
        provider_message_id=text(headers.get("message-id"), 200) or None, detail=detail,
        reason=bounce_reason(kind, reply, named),
    ))
    return parsed


@register
class MailgunWebhook(Webhook):
    """``POST /webhooks/mailgun``; ``[webhooks.mailgun] signing_key_env`` names the variable holding the
    domain's HTTP webhook signing key. Each signature token is accepted once (:meth:`replay_token`)."""

    name = SOURCE
    known_options = ("signing_key_env",)

    def __init__(self, options: Mapping[str, object], environ: Mapping[str, str], *, max_age: int) -> None:
        super().__init__(options, environ, max_age=max_age)
        self.key = self.secret("signing_key_env", "Mailgun HTTP webhook signing key")[1].strip()

    def authenticate(self, request: WebhookRequest) -> tuple[dict[str, Any], str]:
        return verify(request.body, key=self.key, now=request.received_at, max_age=self.max_age)

    def parse_events(self, payload: tuple[dict[str, Any], str]) -> Parsed:
        return parse(payload[0])

    def replay_token(self, payload: tuple[dict[str, Any], str]) -> str:
        return payload[1]

    def answer_refused(self, refused: WebhookRefused) -> int:
        return REFUSED  # whatever the reason: a request that failed once fails again
