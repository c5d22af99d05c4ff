"""Brevo transactional webhooks: one JSON event per request (an array when batched), authenticated by a secret.

Brevo signs nothing; its "Secure webhook calls" page offers credentials in the notify URL
(``https://username:password@example.com/``, sent as HTTP basic auth) or a bearer token
(``"auth": {"type": "bearer", "token": …}`` when the webhook is created). Either is accepted
here when it carries the configured secret (the password for basic auth; any user name),
compared in constant time.

Events ("Transactional webhooks", and the marketing ones a shared notify URL may get):
``hard_bounce`` and ``invalid_email`` hard bounces, ``soft_bounce``, ``spam`` and ``complaint`` (a
complaint: Brevo's event list names it "Spam", its anchor and newer payloads "complaint"),
``unsubscribed`` (``unsubscribe`` in marketing events); ``request``/``sent``, ``delivered``,
``deferred``, ``opened``, ``unique_opened``, ``proxy_open``, ``unique_proxy_open``, ``click``,
``blocked`` (Brevo refusing an address it already suppresses), ``error`` and the contact events
(``list_addition``, ``contact_updated``, ``contact_deleted``) change nothing here. The camel-case
names of the webhook settings (``hardBounce``, ``softBounce``, ``uniqueOpened``, ``listAddition``…)
are taken as aliases. Brevo gives no event id: the event's own fields (type, message id, address,
times) make one. ``ts_event`` is the event's UTC time in seconds; ``X-Mailin-custom`` returns the
custom header of the message.
"""

from __future__ import annotations

from typing import Any, Mapping

from newsletter.errors import ConfigError
from newsletter.feedback import (Parsed, WebhookRefused, basic_credentials, bounce_reason, digest, epoch, issue_of,
                                 load_json, same, text)
from newsletter.feedback.webhooks import Webhook, WebhookRequest, register
from newsletter.store.feedback import Feedback, FeedbackKind

SOURCE = "brevo"
_KINDS = {"hard_bounce": FeedbackKind.HARD_BOUNCE, "invalid_email": FeedbackKind.HARD_BOUNCE,
          "soft_bounce": FeedbackKind.SOFT_BOUNCE, "spam": FeedbackKind.COMPLAINT, "complaint": FeedbackKind.COMPLAINT,
          "unsubscribed": FeedbackKind.UNSUBSCRIBE, "unsubscribe": FeedbackKind.UNSUBSCRIBE}
_IGNORED = {"request", "sent", "delivered", "deferred", "opened", "unique_opened", "click", "blocked", "error",
            "proxy_open", "unique_proxy_open", "list_addition", "contact_updated", "contact_deleted"}
#: The webhook settings' camel-case names, as some payloads carry them.
_ALIASES = {"hardBounce": "hard_bounce", "softBounce": "soft_bounce", "invalid": "invalid_email",
            "uniqueOpened": "unique_opened", "listAddition": "list_addition", "contactUpdated": "contact_updated",
            "contactDeleted": "contact_deleted", "proxyOpen": "proxy_open", "uniqueProxyOpen": "unique_proxy_open"}


def load_secret(value: str, variable: str) -> bytes:
    """The shared secret from its environment value.

    :raises ConfigError: naming the variable, never showing its value.
    """
    secret = value.strip()
    if len(secret) < 16 or not secret.isascii() or any(c in secret for c in ' :@/"'):
        raise ConfigError(f"the environment variable {variable} must hold a secret of at least 16 ASCII characters "
                          "without spaces, ':', '@', '/' or quotes (it goes into the notify URL or a bearer token)",
                          hint=f"e.g. export {variable}=$(openssl rand -hex 24)")
    return secret.encode()


def verify(headers: Mapping[str, str], body: bytes, *, secret: bytes) -> list[dict[str, Any]]:
    """The events when the request carries the secret (bearer token or basic-auth password).

    :raises WebhookRefused: 401 for a missing or wrong secret, 400 for a body that is not JSON events.
    """
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = value.strip().encode()
    else:
        credentials = basic_credentials(headers)
        given = credentials[1] if credentials is not None else b""
    if not given or not same(given, secret):
        raise WebhookRefused(401, "wrong or missing secret")
    payload = load_json(body)
    events = payload if isinstance(payload, list) else [payload]
    if not events or not all(isinstance(e, dict) for e in events):
        raise WebhookRefused(400, "the body is not a JSON event or array of events")
    return events


def parse(events: list[dict[str, Any]]) -> Parsed:
    """The feedback in verified Brevo events."""
    parsed = Parsed()
    for event in events:
        name = text(event.get("event"), 40)
        name = _ALIASES.get(name, name)
        kind = _KINDS.get(name)
        if kind is None:
            (parsed.ignored if name in _IGNORED else parsed.unknown).append(name or "(none)")
            continue
        occurred = epoch(event.get("ts_event")) or epoch(event.get("ts_epoch"), millis=True)
        email = text(event.get("email"), 320)
        if occurred is None or not email:
            raise WebhookRefused(400, f"a {name} event lacks its time or email")
        message_id = text(event.get("message-id"), 200)
        parsed.feedback.append(Feedback(
            kind=kind, source=SOURCE,
            event_id=digest(name, message_id, email, event.get("ts_event"), event.get("ts_epoch")),
            occurred_at=occurred, email=email, issue=issue_of(event.get("X-Mailin-custom")),
            provider_message_id=message_id or None, detail=text(event.get("reason"), 300),
            reason=bounce_reason(kind, text(event.get("reason"), 300))))
    return parsed


@register
class BrevoWebhook(Webhook):
    """``POST /webhooks/brevo``; ``[webhooks.brevo] token_env`` names the variable holding the secret
    given to Brevo (the bearer token, or the password of the ``user:password@`` notify URL)."""

    name = SOURCE
    known_options = ("token_env",)

    def __init__(self, options: Mapping[str, object], environ: Mapping[str, str], *, max_age: int) -> None:
        super().__init__(options, environ, max_age=max_age)
        variable, value = self.secret("token_env", "Brevo webhook secret")
        self.token = load_secret(value, variable)

    def authenticate(self, request: WebhookRequest) -> list[dict[str, Any]]:
        return verify(request.headers, request.body, secret=self.token)

    def parse_events(self, payload: list[dict[str, Any]]) -> Parsed:
        return parse(payload)
