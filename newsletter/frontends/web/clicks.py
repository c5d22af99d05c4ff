"""``/c/TOKEN``: a counted link of a sent issue, answered with a 302 to where it leads.

The answer comes at once; the click is written afterwards, in batches, by the library's recorder
(``nl.clicks``). A forged, altered or unknown token is a 404, never a redirect anywhere. The
feedback links ("Utile" / "Pas pour moi") answer with a thank-you page; a HEAD request (a scanner
checking the link) gets the same answer without a body, and is recorded as automated, never as a vote.

A list of 100,000 is scanned within minutes of delivery (800,000 fetches), so the redirect is answered
by :class:`Redirects`, a WSGI layer in front of Flask with the same security headers: the token's
check, the link's lookup and a queued click, without Flask's request machinery (sessions, rate
limits, context). Every other answer (the 404 page, the thank-you page) is Flask's, from the
answer already read (the click is queued once).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from flask import Blueprint, abort, redirect, request
from werkzeug.wrappers import Response

from newsletter.frontends.web.pages import _, message
from newsletter.frontends.web.services import WebServices, services
from newsletter.library import ClickAnswer

bp = Blueprint("clicks", __name__)

PREFIX = "/c/"
#: Where :class:`Redirects` leaves the answer it read for the Flask view.
ANSWER = "newsletter.click_answer"


class Redirects:
    """Answers ``GET|HEAD /c/TOKEN`` that redirect; hands everything else to ``app``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], run: WebServices, headers: dict[str, str]) -> None:
        self.app, self.run = app, run
        self.headers = [*headers.items(), ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                        ("Content-Length", "0")]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if not path.startswith(PREFIX) or method not in ("GET", "HEAD") or "/" in path[len(PREFIX):]:
            return self.app(environ, start_response)
        answer = self.run.nl.clicks.answer(path[len(PREFIX):], secret_key=self.run.secret_key, method=method,
                                           user_agent=environ.get("HTTP_USER_AGENT", ""))
        if answer is None or not answer.url:
            environ[ANSWER] = answer
            return self.app(environ, start_response)
        start_response("302 Found", [("Location", answer.url), *self.headers])
        return [b""]


@bp.route("/c/<token>", methods=["GET", "HEAD"])
def follow(token: str) -> Response:
    run = services()
    if ANSWER in request.environ:
        answer: ClickAnswer | None = request.environ[ANSWER]
    else:  # reached without the layer (a test client on the bare Flask app)
        answer = run.nl.clicks.answer(token, secret_key=run.secret_key, method=request.method,
                                      user_agent=request.headers.get("User-Agent", ""))
    if answer is None:
        abort(404)
    if answer.feedback:
        return message(_("Thank you"), _("Your answer helps us choose the next issues."))
    response = redirect(answer.url, 302)
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays with us, not with the article's site
    return response
