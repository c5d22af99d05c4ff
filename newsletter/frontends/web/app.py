"""``newsletter serve``: the small public service every message links to (Flask, served by waitress).

An application factory, as in Flask's tutorial: :func:`create_app` sets up the services once
(:mod:`newsletter.frontends.web.services`) and registers the blueprints of :data:`BLUEPRINTS`:

- :mod:`~newsletter.frontends.web.unsubscribe`: ``/u/TOKEN``, one-click unsubscribe (RFC 8058) and the way back;
- :mod:`~newsletter.frontends.web.subscribe`: ``/subscribe`` and ``/confirm/TOKEN``, double opt-in (then the welcome);
- :mod:`~newsletter.frontends.web.preferences`: ``/p/TOKEN``, the reader's frequency, pause, data and erasure;
- :mod:`~newsletter.frontends.web.archive_pages`: ``/``, ``/archive/``, ``/feed.xml`` and the issues' images;
- :mod:`~newsletter.frontends.web.health`: ``/healthz`` for the operator's monitoring;
- :mod:`~newsletter.frontends.web.clicks`: ``/c/TOKEN``, the counted links of sent issues.
- :mod:`~newsletter.frontends.web.api`: ``/api/v1/``, the HTTP API (JSON, API keys).

Tokens are opaque (encrypted and authenticated with ``NEWSLETTER_SECRET_KEY``, see
:mod:`newsletter.core.tokens`) and bound to their purpose; confirmation tokens expire. An unsubscribe
is acknowledged only once committed; a database that fails gets a 503 page. Forwarded headers
are believed only from ``[web] trusted_proxies`` proxies; links come from ``base_url``. Pages
are Jinja2 templates with autoescaping, their words from the gettext catalog of the newsletter's
language (:mod:`newsletter.core.i18n`); every error is a page, never a traceback. The service binds
127.0.0.1 by default and expects a reverse proxy at ``base_url``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Blueprint, Flask, request

from newsletter.brand.look import web_brand
from newsletter.core.i18n import install, words
from newsletter.frontends.hardening import harden, limiter, page_policy, security_headers
from newsletter.library import Newsletter
from newsletter.frontends.web import api, archive_pages, clicks, health, preferences, subscribe, unsubscribe
from newsletter.frontends.web.extensions import apply_rate_limits, csrf
from newsletter.frontends.web.mailer import ConfirmationMailer, MailQueue
from newsletter.frontends.web.pages import register_error_pages
from newsletter.frontends.web.services import EXTENSION, WebServices
from newsletter.frontends.web.webhooks import webhooks_blueprint

#: The policy of the service's pages: no script at all; images from us or https, our styles and inline ones.
CSP = page_policy("img-src 'self' https: data:", "style-src 'self' 'unsafe-inline'")
#: Pages that carry a token or a form's answer: never cached.
NO_STORE = ("/u/", "/p/", "/confirm/", "/subscribe", "/c/", "/api/")

#: The service's blueprints, registered in this order; one more is one more entry here: a blueprint,
#: or a function that makes one from the services (``lambda run: make_bp(run.nl)``).
BLUEPRINTS: tuple[Blueprint | Callable[[WebServices], Blueprint], ...] = (
    unsubscribe.bp, subscribe.bp, preferences.bp, archive_pages.bp, health.bp, clicks.bp,
    lambda run: csrf.exempt(webhooks_blueprint(run.nl.webhooks)), csrf.exempt(api.bp))


class _BasePath:
    """Serve under the path of ``base_url`` (``/lettre``) whatever headers a client sends."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["SCRIPT_NAME"] = self.prefix
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["PATH_INFO"] = path[len(self.prefix):]  # a proxy that forwards the prefix as is
        return self.app(environ, start_response)


def web_services(nl: Newsletter, *, listen: str | None = None, mail_queue: MailQueue | None = None) -> WebServices:
    """The one place that decides what the service works with: the library object ``nl``, its secret
    key (checked for the address the service listens on, ``listen``), its language and the mailer.

    :raises ConfigError: when the secret key is missing or weak.
    """
    language = words(nl.settings.newsletter.locale)
    secret_key = nl.secret_key(listen=listen).value
    _ = nl.archive  # made now, before requests race to make it: it keeps the rendered web versions
    return WebServices(nl=nl, secret_key=secret_key, words=language,
                       mailer=ConfirmationMailer(nl, secret_key, language, mail_queue=mail_queue))


def create_app(nl: Newsletter, *, listen: str | None = None, mail_queue: MailQueue | None = None) -> Flask:
    """The WSGI application of the newsletter ``nl`` (its settings, store, secrets, clock).

    :param listen: the address the service will listen on (a weak key passes only on loopback, for the demo).
    :param mail_queue: where confirmation mails wait for the background thread (tests pass one not started).
    :raises ConfigError: when the secret key is missing or weak, or a webhook's secret is.
    """
    return make_app(web_services(nl, listen=listen, mail_queue=mail_queue))


def make_app(run: WebServices) -> Flask:
    """The WSGI application around ready services: configuration, extensions, blueprints, error pages."""
    nl = run.settings.newsletter
    app = Flask(__name__, template_folder=str(Path(__file__).with_name("templates")))
    app.config.update(
        MAX_CONTENT_LENGTH=16 * 1024,
        MAX_FORM_MEMORY_SIZE=8 * 1024,
        MAX_FORM_PARTS=20,
        WTF_CSRF_TIME_LIMIT=6 * 3600,
    )
    # Links are built from base_url, never from X-Forwarded-Host/-Prefix; the client address and
    # scheme are taken from exactly ``trusted_proxies`` hops of X-Forwarded-For/-Proto (none by default).
    prefix = urlsplit(nl.base_url).path.rstrip("/")
    app.wsgi_app = clicks.Redirects(app.wsgi_app, run,  # type: ignore[method-assign]
                                    security_headers(CSP, https=nl.base_url.startswith("https://")))
    if prefix:
        app.wsgi_app = _BasePath(app.wsgi_app, prefix)  # type: ignore[method-assign]
    harden(app, purpose="newsletter.web", secret_key=run.secret_key, base_url=nl.base_url,
           trusted_proxies=run.settings.web.trusted_proxies, policy=CSP,
           no_store=lambda: request.path.startswith(NO_STORE))
    app.extensions[EXTENSION] = run
    app.extensions["newsletter.mail_queue"] = run.mailer.queue
    install(app.jinja_env, run.words)
    app.jinja_env.globals["newsletter"] = nl
    app.jinja_env.globals["brand"] = web_brand(run.settings)
    app.jinja_env.globals["brand_logo_url"] = archive_pages.brand_logo_url

    for entry in BLUEPRINTS:
        app.register_blueprint(entry if isinstance(entry, Blueprint) else entry(run))
    csrf.init_app(app)
    apply_rate_limits(app, limiter(app), run.settings.web)
    register_error_pages(app)
    return app
