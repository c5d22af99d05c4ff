"""The desk's application factory: configuration, security, blueprints, error pages.

Cookies: the session is Flask's signed cookie (HMAC with a key derived from
``NEWSLETTER_SECRET_KEY``), ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when ``[desk] base_url``
is https, and expires ``session_hours`` after sign-in. Every form carries a CSRF token
(Flask-WTF). Pages are server-rendered, escaped Jinja2 templates in the newsletter's language;
the only script is the desk's own ``static/desk.js`` (Content-Security-Policy ``script-src 'self'``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from newsletter.frontends.desk import (access, auth, home, brand, hooks, issues, reading, schedule, sends, subscribers,
                                       users)
from newsletter.frontends.desk.words import EXTENSION as WORDS
from newsletter.frontends.desk.words import date_in_words, day_in_words, moment_in_words, time_in_words
from newsletter.frontends.hardening import harden, limiter, page_policy
from newsletter.core.i18n import install, words

if TYPE_CHECKING:
    from newsletter.library import Newsletter

#: The desk's blueprints, registered in this order.
BLUEPRINTS = (auth.bp, home.bp, issues.bp, subscribers.bp, schedule.bp, sends.bp, brand.bp, reading.bp, hooks.bp,
              users.bp)

#: The policy of every desk page: own scripts and styles only, frames of the desk only (the preview).
CSP = page_policy("script-src 'self'", "style-src 'self'", "img-src 'self' data:", "frame-src 'self'")


def create_app(nl: "Newsletter", secret_key: str) -> Flask:
    """The desk's WSGI application for the project ``nl``; ``secret_key`` signs its cookies."""
    desk = nl.settings.desk
    app = Flask(__name__, template_folder=str(Path(__file__).with_name("templates")),
                static_folder=str(Path(__file__).with_name("static")), static_url_path="/static")
    app.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=desk.session_hours),
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=desk.max_image_bytes + 64 * 1024,
        WTF_CSRF_TIME_LIMIT=desk.session_hours * 3600,
    )
    harden(app, purpose="newsletter.desk", secret_key=secret_key, base_url=desk.base_url,
           trusted_proxies=desk.trusted_proxies, policy=CSP, no_store=lambda: request.endpoint != "static",
           cookie_name="newsletter_desk")
    app.extensions[access.EXTENSION] = nl
    spoken = words(nl.settings.newsletter.locale)
    app.extensions[WORDS] = spoken
    install(app.jinja_env, spoken)
    app.jinja_env.globals.update(day_in_words=lambda day: day_in_words(day, nl.today()), moment=moment_in_words,
                                 date_in_words=lambda day: date_in_words(day, nl.today()),
                                 time_of_day=time_in_words)
    app.jinja_env.globals.update(newsletter=nl.settings.newsletter, account=access.current_account,
                                 can=lambda ability: bool(access.current_account()
                                                          and access.current_account().can(ability)))  # type: ignore[union-attr]
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.before_request(access.enforce)  # before the CSRF check: anonymous 401, wrong role 403 first
    CSRFProtect(app)
    limits = limiter(app)
    login = app.view_functions["auth.login"]  # its three limits: see newsletter/frontends/desk/auth.py
    limited: Any = limits.limit(desk.login_limit, methods=["POST"])(login)
    limited = limits.limit(desk.login_limit, key_func=auth.account_client_key, methods=["POST"],
                           scope="login-account-client")(limited)
    limited = limits.limit(desk.login_account_limit, key_func=auth.account_key, methods=["POST"],
                           scope="login-account", exempt_when=auth.known_browser, deduct_when=auth.failed)(limited)
    app.view_functions["auth.login"] = limited
    for step in ("auth.code", "auth.enrol"):  # wrong codes, per account: see newsletter/frontends/desk/auth.py
        counted: Any = limits.limit(desk.login_limit, key_func=auth.code_key, methods=["POST"], scope="login-code",
                                    deduct_when=auth.failed)(app.view_functions[step])
        app.view_functions[step] = counted
    _error_pages(app)

    return app


def _error_pages(app: Flask) -> None:
    """Every error is a page in the desk's language, never a traceback."""
    from newsletter.frontends.desk.words import gettext as _

    def page(status: int, message: str) -> tuple[str, int]:
        return render_template("desk/message.html", status=status, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError) -> tuple[str, int]:
        return page(400, _("This form has expired or did not come from the desk. Go back, reload the page "
                           "and try again."))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Any:
        status = err.code or 500
        messages = {
            401: _("Sign in first."),
            403: _("Your role does not allow this. Ask an operator."),
            404: _("There is nothing at this address."),
            405: _("This address does not take this kind of request."),
            413: _("The file is too large."),
            429: _("Too many attempts. Wait a few minutes, then try again."),
        }
        return page(status, messages.get(status, _("The request could not be handled (%(status)s).",
                                                    status=status)))

    @app.errorhandler(Exception)
    def crash(err: Exception) -> tuple[str, int]:
        app.logger.exception("desk request failed")
        return page(500, _("Something went wrong on the desk; the error is in its log."))
