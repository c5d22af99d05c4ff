"""``/u/TOKEN``: one-click unsubscribe, and a short-lived way back.

``POST`` (RFC 8058: what Gmail sends, body ``List-Unsubscribe=One-Click``) unsubscribes at once,
without cookies or redirects; ``GET`` (a person's click, or a link scanner) only shows a page with
one button, and changes nothing. An unsubscribe is acknowledged only once committed.
"""

from __future__ import annotations

import hashlib
import logging

from flask import Blueprint, Response, abort, request, url_for

from newsletter.core.tokens import make_timed_token, read_timed_token
from newsletter.frontends.web.extensions import csrf, rate_limited
from newsletter.frontends.web.masks import mask
from newsletter.frontends.web.pages import _, message, page
from newsletter.frontends.web.services import services

log = logging.getLogger(__name__)

bp = Blueprint("unsubscribe", __name__)

RESUBSCRIBE = "resubscribe"
RESUBSCRIBE_SECONDS = 30 * 60  # how long the "I changed my mind" button works after unsubscribing


def unsubscribe_address(token: str) -> str:
    """The address of a valid unsubscribe token (a 400 page otherwise)."""
    address = services().nl.subscriptions.address_of(token)
    if address is None:
        abort(400, description="bad-token")
    return address


@bp.get("/u/<token>")
def ask(token: str) -> Response:
    address = unsubscribe_address(token)
    done = services().nl.subscriptions.is_unsubscribed(address)
    return page("unsubscribe.html", masked=mask(address), done=done, undo=None)


@bp.post("/u/<token>")
@csrf.exempt
def now(token: str) -> Response:
    run = services()
    # Committed when it returns; a database failure raises StoreError: a 503 page, never "done".
    address = run.nl.subscriptions.unsubscribe_by_token(token) or abort(400, description="bad-token")
    log.info("unsubscribed %s", mask(address))
    undo = make_timed_token(run.secret_key, RESUBSCRIBE, address)
    return page("unsubscribe.html", masked=mask(address), done=True, undo=undo)


def token_key() -> str:
    """The rate limit's key for "per unsubscribe link": a digest of the token in the URL."""
    return "token:" + hashlib.sha256(str((request.view_args or {}).get("token", "")).encode()).hexdigest()


@bp.post("/u/<token>/resubscribe")
@csrf.exempt  # the signed, short-lived ``undo`` token does the CSRF token's job without a cookie
@rate_limited(lambda web: web.subscribe_limit)
@rate_limited(lambda web: web.confirm_mail_limit, key=token_key)
def resubscribe(token: str) -> Response:
    address = unsubscribe_address(token)
    run = services()
    payload, _problem = read_timed_token(run.secret_key, RESUBSCRIBE, request.form.get("undo", ""),
                                         max_age=RESUBSCRIBE_SECONDS)
    if payload != address:
        return message(_("Link expired"), _("This button is no longer valid. You can subscribe again with the "
                                            "subscription form."), 400, link=url_for("subscribe.form"))
    run.mailer.submit(address)
    return message(_("Check your inbox"),
                   _("We have just sent you a confirmation link: click it to subscribe again."))
