"""``/p/TOKEN``: the reader's own page: frequency, a pause, the download of their data, its erasure.

``GET`` only shows the page (link scanners open every link of a mail); every change is a ``POST``
carrying the form's CSRF token, and the erasure takes a second, confirming ``POST`` whose own token
(purpose ``erase``) lasts 30 minutes. The data is downloaded by ``POST`` too, so that nothing but
the reader's own click reads it. A forged, altered or cross-purpose token is a 400 and changes
nothing; the token of an address no longer in the list (erased) a 404; a replayed erasure a 410.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from babel.dates import format_date
from flask import Blueprint, Response, abort, request, url_for

from newsletter.errors import PreferenceError, ReaderNotFoundError
from newsletter.frontends.web.masks import mask
from newsletter.frontends.web.pages import _, message, page
from newsletter.frontends.web.services import services

log = logging.getLogger(__name__)

bp = Blueprint("preferences", __name__)


def reader(token: str) -> str:
    """The address of a valid preferences token whose reader is in the list (a 400 or 404 page otherwise)."""
    readers = services().nl.readers
    address = readers.address_of_preferences(token)
    if address is None:
        abort(400, description="bad-token")
    if readers.preferences(address) is None:
        abort(404)
    return address


def _day(value: datetime) -> str:
    run = services()
    return format_date(value.astimezone(run.settings.tz), format="long", locale=run.settings.newsletter.locale)


def _show(token: str, address: str, *, status: int = 200, notice: str = "") -> Response:
    run = services()
    found = run.nl.readers.preferences(address)
    assert found is not None
    paused = found.paused(run.now())
    return page("preferences.html", status, masked=mask(address), frequency=found.frequency, notice=notice,
                paused_until=_day(found.paused_until) if paused and found.paused_until else "",
                weeks=(1, 2, 4), token=token)


@bp.get("/p/<token>")
def show(token: str) -> Response:
    return _show(token, reader(token))


@bp.post("/p/<token>/frequency")
def frequency(token: str) -> Response:
    address = reader(token)
    try:
        services().nl.readers.set_frequency(address, request.form.get("frequency", "")[:20])
    except PreferenceError:
        return _show(token, address, status=400, notice=_("This choice is not offered."))
    return _show(token, address, notice=_("Your choice is saved."))


@bp.post("/p/<token>/pause")
def pause(token: str) -> Response:
    address = reader(token)
    readers = services().nl.readers
    weeks = request.form.get("weeks", "")[:5]
    try:
        if weeks == "0":
            readers.resume(address)
        else:
            readers.pause(address, int(weeks) if weeks.isdigit() else -1)
    except PreferenceError:
        return _show(token, address, status=400, notice=_("This choice is not offered."))
    return _show(token, address, notice=_("Your choice is saved."))


@bp.post("/p/<token>/data")
def download(token: str) -> Response:
    address = reader(token)
    data = services().nl.readers.data(address)
    body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="mes-donnees.json"'
    return response


@bp.post("/p/<token>/erase")
def ask_erase(token: str) -> Response:
    address = reader(token)
    return page("erase.html", masked=mask(address), erase=services().nl.readers.erasure_token(address))


@bp.post("/p/<token>/erase/confirm")
def erase(token: str) -> Response:
    readers = services().nl.readers
    address = readers.address_of_preferences(token)
    if address is None:
        abort(400, description="bad-token")
    step, problem = readers.address_of_erasure(request.form.get("erase", "")[:2048])
    if step != address:
        return message(_("Link expired"), _("This button is no longer valid. Open your preferences page again."),
                       400)
    try:
        readers.erase(address)
    except ReaderNotFoundError:
        return message(_("Data erased"), _("There is nothing left to erase for this address."), 410)
    log.info("a reader erased their data")
    return message(_("Data erased"), _("Everything we stored about you was deleted. To subscribe again, use the "
                                       "subscription form."), link=url_for("subscribe.form"))
