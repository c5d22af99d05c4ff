"""The library's operations for the web front ends (``serve`` and ``preview``): subscriptions, the
public archive, the mail APIs' webhook events, the health check and the preview's rebuilds.

They hang off a :class:`~newsletter.library.Newsletter` (``nl.subscriptions``, ``nl.archive``,
``nl.webhooks()``, ``nl.health()``), so the web service calls the library and nothing below it.
Nothing here knows Flask: each operation takes plain values and returns a typed result; the
HTTP answer is the front end's business (except for the webhooks, whose answer the providers
read: :class:`WebhookAnswer`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from newsletter.errors import NewsletterError, StoreError, UnsafeFileError, WebhookRefused
from newsletter.content.publication import PROOF_PARAM as PROOF_PARAM  # the proofreaders' query parameter
from newsletter.content.publication import Image as Image  # what the image operations return

if TYPE_CHECKING:
    from newsletter.services.archive import PublishedPages, WebVersions
    from newsletter.render.web_version import WebVersion
    from newsletter.feedback.webhooks import Webhook
    from newsletter.providers import Provider
    from newsletter.library import Newsletter
    from newsletter.content.publication import ImageIndex
    from newsletter.store.archive import Published

log = logging.getLogger(__name__)


# -- subscriptions --------------------------------------------------------------------------------


class Subscriptions:
    """The public side of the list (``nl.subscriptions``): double opt-in and one-click unsubscribe.

    The addresses given here are canonical already (the web form checks them); times come from the
    newsletter's clock.
    """

    def __init__(self, newsletter: "Newsletter") -> None:
        self._nl = newsletter

    def request(self, address: str, *, first_name: str = "", ip: str = "") -> None:
        """Record a subscription request from the web form, waiting for its confirmation."""
        from newsletter.store.subscribers import request_subscription

        nl = self._nl
        request_subscription(nl.store, address, now=nl.clock(), first_name=first_name, ip=ip)

    def confirm(self, address: str, *, link: str, issued_at: datetime, ip: str = "") -> bool:
        """Make the address active: its owner clicked the confirmation link ``link``, made at ``issued_at``.

        A link works once, and never outranks an unsubscribe, a bounce or a complaint recorded after it.

        :return: whether the address is active now (False: the link was used already, or the address
            left the list after the link was made).
        """
        import hashlib

        from newsletter.store.subscribers import confirm_subscription

        nl = self._nl
        digest = hashlib.sha256(link.encode("utf-8")).hexdigest()  # the store never holds a usable link
        return confirm_subscription(nl.store, address, now=nl.clock(), link=digest, issued_at=issued_at,
                                    keep=timedelta(hours=nl.settings.web.confirm_hours, days=1), ip=ip)

    def address_of(self, token: str) -> str | None:
        """The address an unsubscribe token names, or None when the token is not a valid one."""
        from newsletter.core.tokens import UNSUBSCRIBE, read_token

        return read_token(self._nl.secret_key().value, UNSUBSCRIBE, token)

    def unsubscribe_by_token(self, token: str) -> str | None:
        """Unsubscribe the address of an unsubscribe token, committed when this returns.

        :return: the address (also when it was not, or no longer, in the list: the answer is the
            same), or None when the token is not a valid one.
        :raises StoreError: when the database did not keep the change (never say "done" then).
        """
        from newsletter.store.subscribers import unsubscribe

        address = self.address_of(token)
        if address is None:
            return None
        try:
            unsubscribe(self._nl.store, address, now=self._nl.clock())
        except StoreError:
            raise
        except NewsletterError:
            pass  # not (or no longer) in the list
        return address

    def status(self, address: str) -> str | None:
        """The subscriber's status (``active``, ``unsubscribed``…), or None when the address is unknown."""
        from newsletter.store.subscribers import find_subscriber

        person = find_subscriber(self._nl.store, address)
        return person.status if person is not None else None

    def is_unsubscribed(self, address: str) -> bool:
        """Whether the address left the list by unsubscribing."""
        from newsletter.store.models import SubscriberStatus

        return self.status(address) == SubscriberStatus.UNSUBSCRIBED.value

    def awaits_confirmation(self, address: str) -> bool:
        """Whether a confirmation mail may go to ``address``: it asked (it is known) and is not active."""
        from newsletter.store.models import SubscriberStatus

        status = self.status(address)
        return status is not None and status != SubscriberStatus.ACTIVE.value

    def mail(self, address: str, subject: str, text: str, *, html: str = "") -> str:
        """Send one message of the service (a confirmation) through the configured transport.

        :return: "" when it was accepted, else the reason it was not.
        """
        from newsletter.services.notify import send_notice

        return send_notice(self._nl.settings, address, subject, text, html=html, environ=self._nl.environ)


# -- the archive ----------------------------------------------------------------------------------


class Archive:
    """The public archive (``nl.archive``): sent issues, their web versions, the feed and the images.

    A sent issue shows the page its send published and the image bytes it was sent with, whatever
    its files say now (:mod:`newsletter.store.archive`); before the send, the proofreaders' page is
    rendered from the files, and kept until one of them changes.
    """

    def __init__(self, newsletter: "Newsletter") -> None:
        from newsletter.services.archive import PublishedPages, WebVersions
        from newsletter.content.publication import ImageIndex

        self._nl = newsletter
        self._versions: "WebVersions" = WebVersions(newsletter.settings)
        self._pages: "PublishedPages" = PublishedPages(newsletter.settings)
        self._images: "ImageIndex" = ImageIndex()

    def published(self, limit: int = 500) -> list["Published"]:
        """Sent issues, newest first (an issue counts once at least one message went out)."""
        from newsletter.store.archive import published

        return published(self._nl.store, limit=limit)

    def is_published(self, day: date) -> bool:
        from newsletter.store.archive import publication

        return publication(self._nl.store, day) is not None

    def web_page(self, day: date) -> str | None:
        """The issue as a public web page (the one its send published), or None when there is none."""
        from newsletter.store.archive import publication

        sent = publication(self._nl.store, day)
        version = self._pages.version(self._nl.store, day, sent, self._nl.clock()) if sent else \
            self._versions.version(day)
        return version.html if version else None

    def feed(self, limit: int = 50) -> bytes:
        """The Atom feed of the last ``limit`` sent issues, each with the items of its published page."""
        from newsletter.services.archive import atom_feed
        from newsletter.store.archive import Publication

        nl = self._nl

        def version(issue: "Published") -> "WebVersion | None":
            return self._pages.version(nl.store, issue.day, Publication(issue.send_id, issue.page), nl.clock())

        return atom_feed(nl.settings, self.published(limit=limit), version)

    def is_proof_key(self, day: date, key: str) -> bool:
        """Whether ``key`` opens the web version of ``day`` before its send (the test copies' link)."""
        from newsletter.content.publication import is_proof_key

        return bool(key) and is_proof_key(self._nl.secret_key().value, day, key)

    def image(self, day: date, relative: str) -> Image | None:
        """An image of the issue by its path: the bytes its send published, else the file of the issue
        folder (never a link, never anything but an image)."""
        from newsletter.content.load import issue_folder
        from newsletter.content.publication import read_image
        from newsletter.store.archive import image

        kept = image(self._nl.store, day, relative=relative)
        if kept is not None:
            return kept
        try:
            return read_image(issue_folder(self._nl.settings.issues_dir, day), relative)
        except UnsafeFileError:
            return None

    def hashed_image(self, day: date, name: str) -> Image | None:
        """The image of the issue whose content-hashed name is ``name``: the bytes a send published, else
        a file of the issue folder read and checked now."""
        from newsletter.content.load import issue_folder
        from newsletter.store.archive import image

        kept = image(self._nl.store, day, name=name)
        return kept if kept is not None else self._images.find(issue_folder(self._nl.settings.issues_dir, day), name)

    def logo(self) -> Image | None:
        """The ``[brand]`` logo as it is now (its content-hashed name for the pages' header), or None."""
        from newsletter.content.publication import read_image

        brand = self._nl.settings.brand
        if not brand or not brand.logo:
            return None
        try:
            return read_image(self._nl.settings.root, brand.logo)
        except UnsafeFileError:
            return None

    def hashed_logo(self, name: str) -> Image | None:
        """The logo whose content-hashed name is ``name``. Sent emails name the logo of their day, so an
        earlier logo kept beside the current one (brand/logo-2025.png) is still answered; a logo at the
        project's top level is answered alone (the project folder is never searched). A logo a send
        published is answered from the store, whatever the brand's files say now."""
        from newsletter.render.pipeline import LOGO_FOLDER
        from newsletter.store.archive import logo

        kept = logo(self._nl.store, LOGO_FOLDER + name)
        if kept is not None:
            return kept
        settings = self._nl.settings
        if not settings.brand or not settings.brand.logo:
            return None
        folder = (settings.root / settings.brand.logo).parent
        image = self._images.find(folder, name) if folder != settings.root else self.logo()
        return image if image is not None and image.name == name else None


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
    """The mail APIs' bounce, complaint and unsubscribe events, from request to store (``nl.webhooks()``).

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
            outcomes = [record_feedback(nl.store, item, now=moment, soft_bounce_limit=soft_limit,
                                        soft_bounce_days=soft_days) for item in parsed.feedback]
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


# -- the preview ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewProblem:
    severity: str  # "error" or "warning"
    text: str  # where and what, paths relative to the project


@dataclass(frozen=True)
class PreviewBuild:
    """One rebuild of the preview: the check's problems and the email as a sample reader gets it."""

    locale: str | None  # the configuration's language; None when the configuration did not load
    problems: list[PreviewProblem] = field(default_factory=list)
    error: str = ""  # why nothing could be checked (the configuration's error, with its hint)
    crash: str = ""  # an unexpected error's repr (logged with its traceback)
    rendered: bool = False  # False: the email could not be rendered (see the problems)
    html: str = ""
    text: str = ""
    logo: str = ""  # [brand] logo, relative to the project (the preview serves it and watches it)


def preview_build(root: Path, day: date, *, asset_base: str) -> PreviewBuild:
    """Check and render the issue of ``day`` of the project at ``root``, reading its configuration now.

    Never raises: whatever an edit breaks is in the result, so that the preview keeps working.
    """
    from newsletter.services.check import check_issue
    from newsletter.config import load_settings
    from newsletter.core.i18n import words
    from newsletter.render.sample import sample_values

    locale: str | None = None
    try:
        settings = load_settings(root)
        locale = settings.newsletter.locale
        report = check_issue(settings, day, asset_base=asset_base)
    except NewsletterError as err:
        return PreviewBuild(locale, error=f"{err}" + (f" ({err.hint})" if err.hint else ""))
    except Exception as err:  # the page must keep working whatever an edit breaks
        log.exception("preview of %s failed", day.isoformat())
        return PreviewBuild(locale, crash=repr(err))
    spoken = words(settings.newsletter.locale)  # the page's language: the problems are said in it too
    said = spoken.translations.gettext
    problems = [PreviewProblem(p.severity, spoken.gettext("%(where)s: warning: %(what)s", where=p.location(settings.root),
                                                          what=p.text(said)) if p.severity == "warning" else
                               spoken.gettext("%(where)s: %(what)s", where=p.location(settings.root), what=p.text(said)))
                for p in report.problems]
    logo = settings.brand.logo if settings.brand else ""
    if report.rendered is None:
        return PreviewBuild(locale, problems, logo=logo)
    html, text = report.rendered.personalize(sample_values(settings))
    return PreviewBuild(locale, problems, rendered=True, html=html, text=text, logo=logo)


def preview_image(root: Path, day: date, relative: str, *, logo: str = "") -> Image | None:
    """An image file of the issue folder, or the brand's ``logo`` under its content-hashed name:
    never a link, never anything else."""
    from newsletter.content.load import issue_folder
    from newsletter.content.publication import read_image
    from newsletter.render.pipeline import LOGO_FOLDER

    if logo and relative.startswith(LOGO_FOLDER):
        try:
            found = read_image(root, logo)
        except UnsafeFileError:
            return None
        return found if relative == LOGO_FOLDER + found.name else None
    try:
        return read_image(issue_folder(root / "issues", day), relative)
    except UnsafeFileError:
        return None
