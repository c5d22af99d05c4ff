"""``POST /webhooks/<provider>``: the mail APIs' bounce, complaint and unsubscribe events, into the store.

Only the providers with a secret named in ``[webhooks]`` have an endpoint; the secrets are read
from the environment when the service starts (a missing one stops it with the variable's
name). Each request is authenticated the provider's way (:mod:`newsletter.feedback`) before
anything is read from it, and is refused with a 4xx, changing nothing, when it is forged,
replayed, stale, too large or malformed. Events of a type this code does not know are logged
and acknowledged (2xx), so that the provider does not retry them for days. The blueprint is
exempt from CSRF (providers have no session), so every route here must authenticate itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping, cast

from flask import Blueprint, Response, jsonify, request

from newsletter.config import Settings, WebhookSettings, secret_from_env
from newsletter.errors import StoreError
from newsletter.feedback import Parsed, WebhookRefused
from newsletter.feedback import brevo, mailgun, postmark, sendgrid
from newsletter.store import nonces
from newsletter.store.database import Store
from newsletter.store.feedback import FeedbackResult, record_feedback

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Received:
    """A verified request: its feedback, and the one-time token to remember once it is recorded."""

    parsed: Parsed
    token: str = ""


Handler = Callable[[Mapping[str, str], bytes, datetime], Received]


def _handlers(config: WebhookSettings, environ: Mapping[str, str] | None) -> dict[str, Handler]:
    """One handler per configured provider, with its secret loaded (ConfigError when it is missing or unusable)."""
    handlers: dict[str, Handler] = {}
    max_age = config.max_age_seconds
    if config.mailgun_signing_key_env:
        key = secret_from_env(config.mailgun_signing_key_env, purpose="Mailgun HTTP webhook signing key",
                              environ=environ).strip()

        def mailgun_handler(headers: Mapping[str, str], body: bytes, now: datetime) -> Received:
            payload, token = mailgun.verify(body, key=key, now=now, max_age=max_age)
            return Received(mailgun.parse(payload), token)

        handlers["mailgun"] = mailgun_handler
    if config.sendgrid_public_key_env:
        variable = config.sendgrid_public_key_env
        public_key = sendgrid.load_key(secret_from_env(variable, purpose="SendGrid Event Webhook verification key",
                                                       environ=environ), variable)

        def sendgrid_handler(headers: Mapping[str, str], body: bytes, now: datetime) -> Received:
            return Received(sendgrid.parse(sendgrid.verify(headers, body, key=public_key, now=now, max_age=max_age)))

        handlers["sendgrid"] = sendgrid_handler
    if config.postmark_credentials_env:
        variable = config.postmark_credentials_env
        credentials = postmark.load_credentials(
            secret_from_env(variable, purpose="Postmark webhook credentials (user:password)", environ=environ),
            variable)

        def postmark_handler(headers: Mapping[str, str], body: bytes, now: datetime) -> Received:
            return Received(postmark.parse(postmark.verify(headers, body, credentials=credentials)))

        handlers["postmark"] = postmark_handler
    if config.brevo_token_env:
        variable = config.brevo_token_env
        secret = brevo.load_secret(secret_from_env(variable, purpose="Brevo webhook secret", environ=environ),
                                   variable)

        def brevo_handler(headers: Mapping[str, str], body: bytes, now: datetime) -> Received:
            return Received(brevo.parse(brevo.verify(headers, body, secret=secret)))

        handlers["brevo"] = brevo_handler
    return handlers


def webhooks_blueprint(settings: Settings, store: Store, *, environ: Mapping[str, str] | None = None,
                       clock: Clock | None = None) -> Blueprint:
    """The webhook endpoints of the providers configured in ``[webhooks]`` (none without that table).

    :raises ConfigError: when a configured secret is missing from the environment or unusable.
    """
    now: Clock = clock or (lambda: datetime.now(timezone.utc))
    config = settings.webhooks or WebhookSettings()
    handlers = _handlers(config, environ) if settings.webhooks is not None else {}
    # The soft-bounce rule is [bounces]' (its defaults are these), shared with the bounce mailbox reader.
    bounce_settings = getattr(settings, "bounces", None)
    soft_limit = int(getattr(bounce_settings, "soft_bounce_limit", 3))
    soft_days = int(getattr(bounce_settings, "soft_bounce_days", 7))
    if handlers and settings.web.max_request_body_size < config.max_body_bytes:
        log.warning("[web] max_request_body_size (%d bytes) is below [webhooks] max_body_bytes (%d): the server "
                    "refuses larger webhook batches (SendGrid, batched Brevo) before they reach the webhooks; raise "
                    "max_request_body_size", settings.web.max_request_body_size, config.max_body_bytes)
    keep_tokens = timedelta(seconds=2 * config.max_age_seconds + mailgun.FUTURE_SKEW)
    blueprint = Blueprint("webhooks", __name__)

    @blueprint.before_request
    def bound_the_body() -> None:
        request.max_content_length = config.max_body_bytes  # the app's own limit is sized for forms

    @blueprint.post("/webhooks/<provider>")
    def receive(provider: str) -> Response | tuple[Response, int]:
        handler = handlers.get(provider)
        if handler is None:
            return jsonify(error="no such webhook"), 404
        moment = now()
        body = request.get_data(cache=False)  # 413 past max_body_bytes, before anything is parsed
        try:
            # Werkzeug's headers: a mapping whose lookups ignore case, as HTTP's do.
            received = handler(cast(Mapping[str, str], request.headers), body, moment)
            if received.token and nonces.was_used(store, provider, received.token):
                raise WebhookRefused(mailgun.REFUSED, "this signature token was already used (a replay)")
            outcomes = [record_feedback(store, item, now=moment, soft_bounce_limit=soft_limit,
                                        soft_bounce_days=soft_days) for item in received.parsed.feedback]
            if received.token:
                nonces.remember(store, provider, received.token, now=moment, keep=keep_tokens)
        except WebhookRefused as refused:
            log.warning("%s webhook refused (%d): %s", provider, refused.status, refused.reason)
            return jsonify(error=refused.reason), refused.status
        except StoreError as err:
            log.error("%s webhook not recorded: %s", provider, err)
            # Brevo drops an event answered with any 5xx, but retries a 429.
            status = 429 if provider == "brevo" else 503
            answer = jsonify(error="the event could not be recorded; try again later")
            answer.headers["Retry-After"] = "600"
            return answer, status
        for name in received.parsed.unknown:
            log.warning("%s webhook: event type %r is not known here; acknowledged and ignored", provider, name[:40])
        counts = {result.value: sum(1 for o in outcomes if o.result is result) for result in FeedbackResult}
        changed = sum(1 for o in outcomes if o.changed)
        log.info("%s webhook: %d event(s) recorded, %d duplicate(s), %d unmatched, %d status change(s), "
                 "%d ignored", provider, counts["applied"], counts["duplicate"], counts["unmatched"], changed,
                 len(received.parsed.ignored) + len(received.parsed.unknown))
        return jsonify(recorded=counts["applied"] + counts["unmatched"], duplicates=counts["duplicate"],
                       changed=changed, ignored=len(received.parsed.ignored) + len(received.parsed.unknown)), 200

    return blueprint
