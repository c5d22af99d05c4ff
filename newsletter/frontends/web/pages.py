"""How the web service answers a person: HTML pages from templates, messages from the catalog, error pages.

Every error is a page in the newsletter's language, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from newsletter.errors import StoreError
from newsletter.frontends.web.services import services

log = logging.getLogger(__name__)


def _(message: str, **values: Any) -> str:
    """``message`` in the language of the running service (``%(name)s`` filled from ``values``)."""
    return services().words.gettext(message, **values)


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A template rendered as an HTML answer."""
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def message(title: str, text: str, status: int = 200, **context: Any) -> Response:
    """A page that only says something (already translated ``title`` and ``text``)."""
    return page("message.html", status, title=title, text=text, **context)


def register_error_pages(app: Flask) -> None:
    """Answer every error with a page in the newsletter's language."""

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError) -> Response:
        return message(_("Form expired"), _("The form has expired or is not valid. Reload the page and try "
                                            "again."), 400, link=url_for("subscribe.form"))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        code = err.code or 500
        if code == 400 and err.description == "expired":
            hours = services().settings.web.confirm_hours
            return message(_("Link expired"),
                           services().words.ngettext(
                               "This confirmation link is more than %(num)d hour old. Subscribe again: a new link "
                               "will be sent to you.",
                               "This confirmation link is more than %(num)d hours old. Subscribe again: a new "
                               "link will be sent to you.", hours),
                           400, link=url_for("subscribe.form"))
        if code == 400 and err.description == "bad-token":
            return message(_("Invalid link"), _("This link is incomplete or was altered. Use the exact link you "
                                                "received by email."), 400)
        titles = {400: _("Bad request"), 404: _("Page not found"), 405: _("Method not allowed"),
                  413: _("Request too large"), 429: _("Too many requests")}
        texts = {429: _("You made too many requests in a short time. Try again in a few minutes.")}
        response = message(titles.get(code, _("Error")), texts.get(code, _("The request could not be completed.")),
                           code)
        for name in ("Retry-After", "Allow"):
            if err.get_response().headers.get(name):
                response.headers[name] = err.get_response().headers[name]
        return response

    @app.errorhandler(StoreError)
    def store_error(err: StoreError) -> Response:
        log.error("the database failed on %s %s: %s", request.method, request.path, err)
        response = message(_("Service unavailable"), _("Your request could not be recorded. Try again in a few "
                                                       "minutes."), 503)
        response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return message(_("Error"), _("Something went wrong on our side. Try again later."), 500)
