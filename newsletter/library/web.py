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

from newsletter.errors import StoreError, WebhookRefused

if TYPE_CHECKING:
    from newsletter.feedback import Parsed
    from newsletter.feedback.webhooks import Webhook
    from newsletter.providers import Provider
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
class _Served:
    """One provider with an endpoint: its declaration (its quirks) and its webhook, secrets loaded."""

    provider: "Provider"
    webhook: "Webhook"


def _served(newsletter: "Newsletter") -> dict[str, _Served]:
    """One webhook per ``[webhooks.NAME]`` table, its secrets loaded (ConfigError when missing or unusable)."""
    from newsletter import providers
    from newsletter.feedback.webhooks import webhook_class

    config = newsletter.settings.webhooks
    if config is None:
        return {}
    served: dict[str, _Served] = {}
    for name, options in config.providers.items():
        cls = webhook_class(name)
        provider = providers.find(name) or providers.Provider(name)  # a class registered alone: no quirks
        served[name] = _Served(provider, cls(options, newsletter.environ, max_age=config.max_age_seconds))
    return served


@dataclass
class Webhooks:
    """The mail APIs' bounce, complaint and unsubscribe events, from request to store (``nl.webhooks``).

    Only the providers with a ``[webhooks.NAME]`` table are served; their secrets are read when this is
    built. Each request is authenticated the provider's way before anything is read from it, and
    refused with a 4xx, changing nothing, when it is forged, replayed, stale or malformed; event types
    this code does not know are logged and acknowledged, so that the provider does not retry them for
    days. What differs between providers is theirs (:mod:`newsletter.providers`); this is the same for all.
    """

    newsletter: "Newsletter"
    max_body_bytes: int
    _served: dict[str, _Served] = field(default_factory=dict)
    _keep_tokens: timedelta = timedelta(0)

    @classmethod
    def build(cls, newsletter: "Newsletter") -> "Webhooks":
        """:raises ConfigError: when a configured secret is missing from the environment or unusable, or a
            ``[webhooks.NAME]`` table names no provider or holds an unknown key."""
        from newsletter.config import WebhookSettings
        from newsletter.feedback import FUTURE_SKEW

        settings = newsletter.settings
        config = settings.webhooks or WebhookSettings()
        served = _served(newsletter)
        if served and settings.web.max_request_body_size < config.max_body_bytes:
            log.warning("[web] max_request_body_size (%d bytes) is below [webhooks] max_body_bytes (%d): the server "
                        "refuses larger webhook batches before they reach the webhooks; raise max_request_body_size",
                        settings.web.max_request_body_size, config.max_body_bytes)
        return cls(newsletter, config.max_body_bytes, served,
                   timedelta(seconds=2 * config.max_age_seconds + FUTURE_SKEW))

    @property
    def providers(self) -> frozenset[str]:
        """The providers with an endpoint."""
        return frozenset(self._served)

    def receive(self, provider: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        """Verify, parse and record one request of ``provider``; the answer says what the provider reads.

        :param headers: the request's headers (lookups that ignore case, as HTTP's do).
        """
        from newsletter.errors import WebhookRefused
        from newsletter.feedback.webhooks import WebhookRequest
        from newsletter.store import nonces
        from newsletter.library.readers import Readers
        from newsletter.store.feedback import FeedbackResult, record_feedback

        served = self._served.get(provider)
        if served is None:
            return WebhookAnswer(404, {"error": "no such webhook"})
        webhook = served.webhook
        nl = self.newsletter
        bounces = nl.settings.bounces  # the soft-bounce rule is [bounces]' (its defaults are these)
        soft_limit = bounces.soft_bounce_limit if bounces is not None else 3
        soft_days = bounces.soft_bounce_days if bounces is not None else 7
        moment = nl.clock()
        claimed = ""
        try:
            payload = webhook.authenticate(WebhookRequest(headers, body, moment))
            parsed, token = webhook.parse_events(payload), webhook.replay_token(payload)
            # One atomic insert claims the token: of requests racing with it, exactly one goes on.
            if token:
                if not nonces.claim(nl.store, provider, token, now=moment, keep=self._keep_tokens):
                    raise WebhookRefused(403, "this signature token was already used (a replay)")
                claimed = token
            erased = Readers(nl).erased_check() if parsed.feedback else None
            outcomes = [record_feedback(nl.store, item, now=moment, soft_bounce_limit=soft_limit,
                                        soft_bounce_days=soft_days, erased_digest=erased) for item in parsed.feedback]
        except WebhookRefused as refused:
            answered = webhook.answer_refused(refused)
            log.warning("%s webhook refused (%d): %s", provider, answered, refused.reason)
            return WebhookAnswer(answered, {"error": refused.reason})
        except StoreError as err:
            log.error("%s webhook not recorded: %s", provider, err)
            if claimed:  # not recorded: the provider's retry with this token must be accepted
                try:
                    nonces.release(nl.store, provider, claimed)
                except StoreError:
                    log.error("%s webhook: its token could not be released; a retry with it is refused", provider)
            return WebhookAnswer(served.provider.busy_status,
                                 {"error": "the event could not be recorded; try again later"}, retry_after="600")
        for name in parsed.unknown:
            log.warning("%s webhook: event type %r is not known here; acknowledged and ignored", provider, name[:40])
        counts = {result.value: sum(1 for o in outcomes if o.result is result) for result in FeedbackResult}
        changed = sum(1 for o in outcomes if o.changed)
        ignored = len(parsed.ignored) + len(parsed.unknown)
        log.info("%s webhook: %d event(s) recorded, %d duplicate(s), %d unmatched, %d status change(s), "
                 "%d ignored", provider, counts["applied"], counts["duplicate"], counts["unmatched"], changed, ignored)
        return WebhookAnswer(200, {"recorded": counts["applied"] + counts["unmatched"],
                                   "duplicates": counts["duplicate"], "changed": changed, "ignored": ignored})
