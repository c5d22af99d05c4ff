"""``/c/TOKEN``: a counted link of a sent issue, answered with a 302 to where it leads.

The answer comes at once; the click is written afterwards, in batches, by the library's recorder
(``nl.clicks``). A forged, altered or unknown token is a 404, never a redirect anywhere. The
feedback links ("Utile" / "Pas pour moi") answer with a thank-you page; a HEAD request (a scanner
checking the link) gets the same answer without a body, and is recorded as automated, never as a vote.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request
from werkzeug.wrappers import Response

from newsletter.frontends.web.pages import _, message
from newsletter.frontends.web.services import services

bp = Blueprint("clicks", __name__)


@bp.route("/c/<token>", methods=["GET", "HEAD"])
def follow(token: str) -> Response:
    run = services()
    answer = run.nl.clicks.answer(token, secret_key=run.secret_key, method=request.method,
                                  user_agent=request.headers.get("User-Agent", ""))
    if answer is None:
        abort(404)
    if answer.feedback:
        return message(_("Thank you"), _("Your answer helps us choose the next issues."))
    response = redirect(answer.url, 302)
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays with us, not with the article's site
    return response
