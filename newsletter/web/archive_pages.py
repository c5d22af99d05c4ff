"""``/``, ``/archive/``, ``/archive/DATE/``, ``/feed.xml`` and the issues' images.

The sent issues, written for the public (:mod:`newsletter.web.archive` renders them);
``/archive/DATE/?cle=KEY`` opens an unsent issue for proofreaders (test copies link there).
``/assets/DATE/HASH.png`` serves an issue's images under the hash of their bytes from the moment
the issue exists: never a link, never anything but a PNG, JPEG or GIF inside the issue folder;
``/assets/brand/HASH.png`` serves the ``[brand] logo`` the same way.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, Response, abort, request, url_for

from newsletter.content.load import issue_folder
from newsletter.publication import PROOF_PARAM, Image, UnsafeFileError, is_proof_key, read_image
from newsletter.web.archive import atom_feed, published
from newsletter.web.pages import page
from newsletter.web.services import services

bp = Blueprint("archive", __name__)

_HASHED = re.compile(r"[0-9a-f]{32}\.(?:png|jpg|gif)")


@bp.get("/")
def home() -> Response:
    return page("archive.html", issues=published(services().store)[:10], home=True)


@bp.get("/archive/")
def index() -> Response:
    return page("archive.html", issues=published(services().store), home=False)


def issue_day(day: str) -> date:
    """The day in a URL (a 404 page when it is not a date)."""
    try:
        return date.fromisoformat(day)
    except ValueError:
        abort(404)


def published_day(day: str) -> date:
    """The day in a URL when its issue was sent (a 404 page otherwise)."""
    value = issue_day(day)
    if value not in {p.day for p in published(services().store)}:
        abort(404)
    return value


@bp.get("/archive/<day>/")
def web_version(day: str) -> Response:
    # Before the send, only the proofreading link of test copies opens it (a key derived from the secret).
    run = services()
    value = issue_day(day)
    key = request.args.get(PROOF_PARAM, "")
    proof = bool(key) and is_proof_key(run.secret_key, value, key)
    if not proof:
        published_day(day)
    html = run.versions.html(value)
    if html is None:
        abort(404)
    response = Response(html, mimetype="text/html")
    if proof:
        response.headers["X-Robots-Tag"] = "noindex"
        response.headers["Cache-Control"] = "private, no-store"
    return response


def image_response(image: Image, max_age: int) -> Response:
    response = Response(image.data, mimetype=image.media_type)
    response.headers["Cache-Control"] = f"public, max-age={max_age}" + (", immutable" if max_age > 86400 else "")
    return response


@bp.get("/archive/<day>/<path:asset>")
def asset(day: str, asset: str) -> Response:
    # The image URLs of issues sent before content-hashed assets; a sent issue's files only.
    value = published_day(day)
    try:
        image = read_image(issue_folder(services().settings.issues_dir, value), asset)
    except UnsafeFileError:
        abort(404)
    return image_response(image, 86400)


@bp.get("/assets/<day>/<name>")
def hashed_asset(day: str, name: str) -> Response:
    # Any issue on disk, sent or not: the name is the hash of the file's bytes, so only someone
    # who was sent the URL can ask for it.
    if not _HASHED.fullmatch(name):
        abort(404)
    run = services()
    image = run.images.find(issue_folder(run.settings.issues_dir, issue_day(day)), name)
    if image is None:
        abort(404)
    return image_response(image, 365 * 86400)


def brand_logo_url() -> str:
    """The logo's content-hashed address on this service, for the pages' header ("" without a logo)."""
    settings = services().settings
    if not settings.brand or not settings.brand.logo:
        return ""
    try:
        image = read_image(settings.root, settings.brand.logo)
    except UnsafeFileError:
        return ""
    return url_for("archive.brand_logo", name=image.name)


@bp.get("/assets/brand/<name>")
def brand_logo(name: str) -> Response:
    # The [brand] logo under the hash of its bytes, read now. Sent emails name the logo of their day: an
    # earlier logo kept beside the current one (brand/logo-2025.png) is still answered. A logo at the
    # project's top level is answered alone (the project folder is never searched).
    run = services()
    settings = run.settings
    if not _HASHED.fullmatch(name) or not settings.brand or not settings.brand.logo:
        abort(404)
    folder = (settings.root / settings.brand.logo).parent
    image: Image | None = None
    if folder != settings.root:
        image = run.images.find(folder, name)
    else:
        try:
            image = read_image(settings.root, settings.brand.logo)
        except UnsafeFileError:
            abort(404)
    if image is None or image.name != name:
        abort(404)
    return image_response(image, 365 * 86400)


@bp.get("/feed.xml")
def feed() -> Response:
    run = services()
    return Response(atom_feed(run.settings, published(run.store, limit=50), run.versions),
                    mimetype="application/atom+xml")
