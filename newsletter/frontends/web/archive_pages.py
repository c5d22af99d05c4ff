"""``/``, ``/archive/``, ``/archive/DATE/``, ``/feed.xml`` and the issues' images.

The sent issues, written for the public (the library's ``Newsletter.archive`` renders them);
``/archive/DATE/?cle=KEY`` opens an unsent issue for proofreaders (test copies link there).
``/assets/DATE/HASH.png`` serves an issue's images under the hash of their bytes from the moment
the issue exists: never a link, never anything but a PNG, JPEG or GIF inside the issue folder;
``/assets/brand/HASH.png`` serves the ``[brand] logo`` the same way. A corrected issue's page shows its
corrections above it (note, date, what changed); ``/archive/DATE/envoi/`` shows it as it was sent.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, Response, abort, render_template, request, url_for

from newsletter.errors import UsageError
from newsletter.library import PROOF_PARAM, Image, IssueId
from newsletter.frontends.web.pages import page
from newsletter.frontends.web.services import services

bp = Blueprint("archive", __name__)

_HASHED = re.compile(r"[0-9a-f]{32}\.(?:png|jpg|gif)")


@bp.get("/")
def home() -> Response:
    return page("archive.html", issues=services().nl.archive.published()[:10], home=True)


@bp.get("/archive/")
def index() -> Response:
    return page("archive.html", issues=services().nl.archive.published(), home=False)


def issue_day(day: str) -> date:
    """The issue in a URL, its date or a special edition's id (a 404 page when it is neither)."""
    try:
        return IssueId.parse(day)
    except UsageError:
        abort(404)


def published_day(day: str) -> date:
    """The day in a URL when its issue was sent (a 404 page otherwise)."""
    value = issue_day(day)
    if not services().nl.archive.is_published(value):
        abort(404)
    return value


@bp.get("/archive/<day>/")
def web_version(day: str) -> Response:
    # Before the send, only the proofreading link of test copies opens it (a key derived from the secret).
    archive = services().nl.archive
    value = issue_day(day)
    proof = archive.is_proof_key(value, request.args.get(PROOF_PARAM, ""))
    if not proof:
        published_day(day)
    html = archive.web_page(value)
    if html is None:
        abort(404)
    response = Response(html if proof else _with_corrections(html, value, as_sent=False), mimetype="text/html")
    if proof:
        response.headers["X-Robots-Tag"] = "noindex"
        response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/archive/<day>/envoi/")
def sent_version(day: str) -> Response:
    # A corrected issue as its readers received it, with its corrections listed above it.
    value = published_day(day)
    html = services().nl.archive.web_page(value, as_sent=True)
    if html is None or not services().nl.corrections.of(value):
        abort(404)
    return Response(_with_corrections(html, value, as_sent=True), mimetype="text/html")


_BODY = re.compile(r"<body\b[^>]*>", re.I)


def _with_corrections(html: str, day: date, *, as_sent: bool) -> str:
    """The page with its corrections above it (the page unchanged when it has none)."""
    corrections = services().nl.corrections.of(day)
    if not corrections:
        return html
    notice = render_template("corrections.html", corrections=corrections, issue=day.isoformat(), as_sent=as_sent,
                             tz=services().nl.settings.tz)
    found = _BODY.search(html)
    at = found.end() if found else 0
    return html[:at] + notice + html[at:]


def image_response(image: Image, max_age: int) -> Response:
    response = Response(image.data, mimetype=image.media_type)
    response.headers["Cache-Control"] = f"public, max-age={max_age}" + (", immutable" if max_age > 86400 else "")
    return response


@bp.get("/archive/<day>/<path:asset>")
def asset(day: str, asset: str) -> Response:
    # The image URLs of issues sent before content-hashed assets; a sent issue's files only.
    if "\x00" in asset:
        abort(404)  # no file name holds a NUL (the file system refuses it with an error, not "no such file")
    image = services().nl.archive.image(published_day(day), asset)
    if image is None:
        abort(404)
    return image_response(image, 86400)


@bp.get("/assets/<day>/<name>")
def hashed_asset(day: str, name: str) -> Response:
    # Any issue on disk, sent or not: the name is the hash of the file's bytes, so only someone
    # who was sent the URL can ask for it.
    if not _HASHED.fullmatch(name):
        abort(404)
    image = services().nl.archive.hashed_image(issue_day(day), name)
    if image is None:
        abort(404)
    return image_response(image, 365 * 86400)


def brand_logo_url() -> str:
    """The logo's content-hashed address on this service, for the pages' header ("" without a logo)."""
    image = services().nl.archive.logo()
    return url_for("archive.brand_logo", name=image.name) if image is not None else ""


@bp.get("/assets/brand/<name>")
def brand_logo(name: str) -> Response:
    image = services().nl.archive.hashed_logo(name) if _HASHED.fullmatch(name) else None
    if image is None:
        abort(404)
    return image_response(image, 365 * 86400)


@bp.get("/feed.xml")
def feed() -> Response:
    return Response(services().nl.archive.feed(limit=50), mimetype="application/atom+xml")
