"""``/subscribe`` and ``/confirm/TOKEN``: double opt-in.

The form records the request and queues a confirmation mail (sent by a background thread, see
:mod:`newsletter.frontends.web.mailer`); only ``POST /confirm/TOKEN`` makes the address active, once per
link, and never after an unsubscribe, bounce or complaint recorded since the link was made. The answer,
and the work done before it, are the same whether the address was known or not. CSRF token,
honeypot field, rate limit per client address, mails limited per address and per unsubscribe
link, first names short and without links.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, request, url_for

from newsletter.core.addresses import canonical
from newsletter.core.names import CONTROL
from newsletter.errors import NewsletterError
from newsletter.core.i18n import Words
from newsletter.core.tokens import CONFIRM, read_dated_token
from newsletter.frontends.web.extensions import csrf, rate_limited
from newsletter.frontends.web.masks import mask
from newsletter.frontends.web.pages import _, message, page
from newsletter.frontends.web.services import services

log = logging.getLogger(__name__)

bp = Blueprint("subscribe", __name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_FIRST_NAME = 40
#: What a first name may not hold besides control characters (the name rules' CONTROL): links,
#: addresses, zero-width and bidirectional characters.
_NOT_A_NAME = re.compile(r"://|www\.|@|[\u200b-\u200f\u202a-\u202e\u2066-\u2069]", re.I)


def first_name_problem(name: str, words: Words) -> str:
    """Why the form's ``name`` (as typed) cannot be a first name ("" when it can), in ``words``' language."""
    if _NOT_A_NAME.search(name) or CONTROL.search(name):
        return words.gettext("The first name may contain no link, no address and no control character.")
    if len(name.strip()) > MAX_FIRST_NAME:
        return words.ngettext("The first name must be at most %(num)d character long.",
                              "The first name must be at most %(num)d characters long.", MAX_FIRST_NAME)
    return ""


def offer() -> str:
    """What the form promises: how many items and how often, from ``[newsletter] items_per_issue`` and
    ``[schedule] cron`` (only the count when the cron has no simple weekly rhythm)."""
    run = services()
    count, rhythm = run.settings.newsletter.items_per_issue, run.rhythm
    if rhythm is None:
        return run.words.ngettext("%(num)d news item in each issue. Every mailing carries an unsubscribe link.",
                                  "%(num)d news items in each issue. Every mailing carries an unsubscribe link.",
                                  count)
    said = rhythm.text(run.words.gettext)
    return run.words.ngettext("%(num)d news item, %(rhythm)s. Every mailing carries an unsubscribe link.",
                              "%(num)d news items, %(rhythm)s. Every mailing carries an unsubscribe link.",
                              count, rhythm=said)


def client_ip() -> str:
    """The client address to keep with the consent record, when ``[web] record_ip`` says so."""
    return (request.remote_addr or "")[:64] if services().settings.web.record_ip else ""


@bp.get("/subscribe")
def form() -> Response:
    # A form embedded on another site sends its fields here by GET: they are shown, pre-filled,
    # for the person to submit with this site's CSRF token.
    email = request.args.get("email", "").strip()[:320]
    first_name = " ".join(_CONTROL.sub(" ", request.args.get("first_name", "")).split())[:MAX_FIRST_NAME]
    return page("subscribe.html", error="", email=email, first_name=first_name, offer=offer())


@bp.post("/subscribe")
@rate_limited(lambda web: web.subscribe_limit)
def subscribe() -> Response:
    run = services()
    fields = request.form
    email = fields.get("email", "").strip()[:320]
    typed = fields.get("first_name", "")[:1000]
    first_name = " ".join(_CONTROL.sub(" ", typed).split())
    if fields.get("website"):  # the honeypot: people never see this field, robots fill it
        log.info("subscription refused: honeypot filled")
        return thanks()
    problem = first_name_problem(typed, run.words)
    if problem:
        return page("subscribe.html", 400, error=problem, email=email, first_name=first_name[:MAX_FIRST_NAME],
                    offer=offer())
    try:
        address = canonical(email)
    except NewsletterError:
        return page("subscribe.html", 400, error=_("This address is not valid: check it."),
                    email=email, first_name=first_name, offer=offer())
    # The same two steps for every address: one statement, one queued job (see the module docstring).
    run.nl.subscriptions.request(address, first_name=first_name, ip=client_ip())
    run.mailer.submit(address)
    return thanks()


def thanks() -> Response:
    # The same answer for a new, a known and an unsubscribed address: nothing to learn here.
    return message(_("Check your inbox"),
                   _("If the address is valid, you will receive a message with a confirmation link. Your "
                     "subscription takes effect only once you have clicked that link."))


def confirmation(token: str) -> tuple[str, datetime]:
    """The address of a valid confirmation token and when it was made (the request's data is in the store)."""
    run = services()
    payload, issued, problem = read_dated_token(run.secret_key, CONFIRM, token, now=run.nl.clock().timestamp(),
                                                max_age=run.settings.web.confirm_hours * 3600)
    if problem == "expired":
        abort(400, description="expired")
    if isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str) for p in payload):
        payload = payload[0]  # a link mailed before opaque tokens: [address, first name]
    if not isinstance(payload, str):
        abort(400, description="bad-token")
    return payload, datetime.fromtimestamp(issued, timezone.utc)


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> Response:
    address, _issued = confirmation(token)
    return page("confirm.html", masked=mask(address),
                click_consent_asked=services().settings.analytics.per_subscriber)


@bp.post("/confirm/<token>")
@csrf.exempt
def confirm(token: str) -> Response:
    address, issued = confirmation(token)
    run = services()
    if not run.nl.subscriptions.confirm(address, link=token, issued_at=issued, ip=client_ip(),
                                        click_consent=request.form.get("click_consent") == "yes"):
        log.info("confirmation refused for %s: the link was used, or the address left after it was made",
                 mask(address))
        return message(_("Link already used"),
                       _("This confirmation link was already used, or the address left the list after it was "
                         "sent. To subscribe again, use the subscription form."), 400, link=url_for("subscribe.form"))
    log.info("subscription confirmed for %s", mask(address))
    run.mailer.welcome(address)
    return message(_("Subscription confirmed"),
                   _("Done: you will receive “%(name)s” at the address %(address)s.",
                     name=run.settings.newsletter.name, address=mask(address)),
                   link=url_for("archive.index"))
