"""The web service's own operations (``serve``): the mail APIs' webhook events and the health check.

They hang off a :class:`~newsletter.library.Newsletter` (``nl.webhooks``, ``nl.health()``), so
the web service calls the library and nothing below it. Nothing here knows Flask: each
operation takes plain values and returns a typed result; the HTTP answer is the front end's
business (except for the webhooks, whose answer the providers read: :class:`WebhookAnswer`).
The other parts the web service uses have their own modules: :mod:`newsletter.library.subscriptions`,
:mod:`newsletter.library.archive`, :mod:`newsletter.library.preview`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping

from newsletter.errors import StoreError

if TYPE_CHECKING:
    from newsletter.feedback import Parsed
    from newsletter.library import Newsletter

log = logging.getLogger(__name__)


# -- health ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """Whether the service can reach its database (``/healthz``)."""

    ok: bool
    database: str  # "ok", or the class of the error that the database raised


def health(newsletter: "Newsletter") -> Health:
    """Ask the database for one row; any failure is the answer, not an exception."""
    from newsletter.store.archive import ping

    try:
        ping(newsletter.store)
    except Exception as err:  # any database failure is what the check reports
        return Health(False, err.__class__.__name__)
    return Health(True, "ok")


# -- webhooks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookAnswer:
    """What a webhook endpoint answers the provider: the status, a small JSON body, and a delay."""

    status: int
    body: dict[str, Any]
    retry_after: str = ""  # seconds, for a provider that should try again later


@dataclass(frozen=True)
class _Received:
    """A verified request: its feedback, and the one-time token to remember once it is recorded."""

    parsed: "Parsed"
    token: str = ""


_Handler = Callable[[Mapping[str, str], bytes, datetime], _Received]


def _handlers(newsletter: "Newsletter") -> dict[str, _Handler]:
    """One handler per provider named in ``[webhooks]``, its secret loaded (ConfigError when missing or unusable)."""
    from newsletter.config import secret_from_env
    from newsletter.providers.brevo import events as brevo
    from newsletter.providers.mailgun import events as mailgun
    from newsletter.providers.postmark import events as postmark
    from newsletter.providers.sendgrid import events as sendgrid

    config, environ = newsletter.settings.webhooks, newsletter.environ
    handlers: dict[str, _Handler] = {}
    if config is None:
        return handlers
    max_age = config.max_age_seconds
    if config.mailgun_signing_key_env:
        key = secret_from_env(config.mailgun_signing_key_env, purpose="Mailgun HTTP webhook signing key",
                              environ=environ).strip()

        def mailgun_handler(headers: Mapping[str, str], body: bytes, now: datetime) -> _Received:
            payload, token = mailgun.verify(body, key=key, now=now, max_age=max_age)
            return _Received(mailgun.parse(payload), token)

        handlers["mailgun"] = mailgun_handler
    if config.sendgrid_public_key_env:
        variable = config.sendgrid_public_key_env
        public_key = sendgrid.load_key(secret_from_env(variable, purpose="SendGrid Event Webhook verification key",
                                                       environ=environ), variable)

        def sendgrid_handler(headers: Mapping[str, str], body: bytes, now: datetime) -> _Received:
            return _Received(sendgrid.parse(sendgrid.verify(headers, body, key=public_key, now=now, max_age=max_age)))

        handlers["sendgrid"] = sendgrid_handler
    if config.postmark_credentials_env:
        variable = config.postmark_credentials_env
        credentials = postmark.load_credentials(
            secret_from_env(variable, purpose="Postmark webhook credentials (user:password)", environ=environ),
            variable)

        def postmark_handler(headers: Mapping[str, str], body: bytes, now: datetime) -> _Received:
            return _Received(postmark.parse(postmark.verify(headers, body, credentials=credentials)))

        handlers["postmark"] = postmark_handler
    if config.brevo_token_env:
        variable = config.brevo_token_env
        secret = brevo.load_secret(secret_from_env(variable, purpose="Brevo webhook secret", environ=environ),
                                   variable)

        def brevo_handler(headers: Mapping[str, str], body: bytes, now: datetime) -> _Received:
            return _Received(brevo.parse(brevo.verify(headers, body, secret=secret)))

        handlers["brevo"] = brevo_handler
    return handlers


@dataclass
class Webhooks:
    """The mail APIs' bounce, complaint and unsubscribe events, from request to store (``nl.webhooks``).

    Only the providers with a secret named in ``[webhooks]`` are served; their secrets are read when
    this is built. Each request is authenticated the provider's way before anything is read from
    it, and refused with a 4xx, changing nothing, when it is forged, replayed, stale or malformed;
    event types this code does not know are logged and acknowledged, so that the provider does not
    retry them for days.
    """

    newsletter: "Newsletter"
    max_body_bytes: int
    _handlers: dict[str, _Handler] = field(default_factory=dict)
    _keep_tokens: timedelta = timedelta(0)

    @classmethod
    def build(cls, newsletter: "Newsletter") -> "Webhooks":
        """:raises ConfigError: when a configured secret is missing from the environment or unusable."""
        from newsletter.config import WebhookSettings
        from newsletter.providers.mailgun import events as mailgun

        settings = newsletter.settings
        config = settings.webhooks or WebhookSettings()
        handlers = _handlers(newsletter)
        if handlers and settings.web.max_request_body_size < config.max_body_bytes:
            log.warning("[web] max_request_body_size (%d bytes) is below [webhooks] max_body_bytes (%d): the server "
                        "refuses larger webhook batches (SendGrid, batched Brevo) before they reach the webhooks; "
                        "raise max_request_body_size", settings.web.max_request_body_size, config.max_body_bytes)
        return cls(newsletter, config.max_body_bytes, handlers,
                   timedelta(seconds=2 * config.max_age_seconds + mailgun.FUTURE_SKEW))

    @property
    def providers(self) -> frozenset[str]:
        """The providers with an endpoint."""
        return frozenset(self._handlers)

    def receive(self, provider: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        """Verify, parse and record one request of ``provider``; the answer says what the provider reads.

        :param headers: the request's headers (lookups that ignore case, as HTTP's do).
        """
        from newsletter.feedback import WebhookRefused
        from newsletter.providers.mailgun import events as mailgun
        from newsletter.store import nonces
        from newsletter.store.feedback import FeedbackResult, record_feedback

        handler = self._handlers.get(provider)
        if handler is None:
            return WebhookAnswer(404, {"error": "no such webhook"})
        nl = self.newsletter
        bounces = nl.settings.bounces  # the soft-bounce rule is [bounces]' (its defaults are these)
        soft_limit = bounces.soft_bounce_limit if bounces is not None else 3
        soft_days = bounces.soft_bounce_days if bounces is not None else 7
        moment = nl.clock()
        claimed = ""
        try:
            received = handler(headers, body, moment)
            # One atomic insert claims the token: of requests racing with it, exactly one goes on.
            if received.token:
                if not nonces.claim(nl.store, provider, received.token, now=moment, keep=self._keep_tokens):
                    raise WebhookRefused(mailgun.REFUSED, "this signature token was already used (a replay)")
                claimed = received.token
            outcomes = [record_feedback(nl.store, item, now=moment, soft_bounce_limit=soft_limit,
                                        soft_bounce_days=soft_days) for item in received.parsed.feedback]
        except WebhookRefused as refused:
            log.warning("%s webhook refused (%d): %s", provider, refused.status, refused.reason)
            return WebhookAnswer(refused.status, {"error": refused.reason})
        except StoreError as err:
            log.error("%s webhook not recorded: %s", provider, err)
            if claimed:  # not recorded: the provider's retry with this token must be accepted
                try:
                    nonces.release(nl.store, provider, claimed)
                except StoreError:
                    log.error("%s webhook: its token could not be released; a retry with it is refused", provider)
            # Brevo drops an event answered with any 5xx, but retries a 429.
            return WebhookAnswer(429 if provider == "brevo" else 503,
                                 {"error": "the event could not be recorded; try again later"}, retry_after="600")
        parsed = received.parsed
        for name in parsed.unknown:
            log.warning("%s webhook: event type %r is not known here; acknowledged and ignored", provider, name[:40])
        counts = {result.value: sum(1 for o in outcomes if o.result is result) for result in FeedbackResult}
        changed = sum(1 for o in outcomes if o.changed)
        ignored = len(parsed.ignored) + len(parsed.unknown)
        log.info("%s webhook: %d event(s) recorded, %d duplicate(s), %d unmatched, %d status change(s), "
                 "%d ignored", provider, counts["applied"], counts["duplicate"], counts["unmatched"], changed, ignored)
        return WebhookAnswer(200, {"recorded": counts["applied"] + counts["unmatched"],
                                   "duplicates": counts["duplicate"], "changed": changed, "ignored": ignored})
