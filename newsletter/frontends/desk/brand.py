"""The operators' brand settings: the ``[brand]`` keys of ``newsletter.toml`` in a form.

The file stays the source of truth: each save rewrites only the ``[brand]`` keys (comments and the
other tables kept, :mod:`newsletter.brand.toml_edit`), is refused whole when a value would not load or
``check`` would refuse it, and is refused (409) when the file changed since the form was shown, the
operator's values kept in the form. The page also shows the contrast of each colour pair.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Reply

from newsletter.brand.look import AA_RATIO, EMAIL_CARD, EMAIL_OUTER, WEB_PAGE, contrast_ratio, email_brand
from newsletter.brand.toml_edit import store_logo, update_brand, version, written_values
from newsletter.config import BRAND_KEYS, LOGO_MAX_BYTES, Settings, load_settings
from newsletter.frontends.desk.access import newsletter, requires
from newsletter.frontends.desk.words import gettext as _
from newsletter.frontends.desk.words import said
from newsletter.errors import BrandConflictError, ConfigError, LinkedBrandError, LogoRefusedError
from newsletter.core.atomic import read_inside

bp = Blueprint("brand", __name__, url_prefix="/settings/brand")


def _contrasts(settings: Settings) -> list[dict[str, Any]]:
    """Each colour pair the email and the pages draw, with its measured contrast."""
    b = email_brand(settings)
    link_background = min((EMAIL_CARD, EMAIL_OUTER, WEB_PAGE), key=lambda bg: contrast_ratio(b.primary_color, bg))
    pairs = [(_("Links"), b.primary_color, link_background), (_("Button text"), b.primary_text_color, b.primary_color),
             (_("Name in the masthead"), b.header_text_color, b.header_color)]
    return [{"where": where, "foreground": fg, "background": bg, "ratio": contrast_ratio(fg, bg),
             "ok": contrast_ratio(fg, bg) >= AA_RATIO} for where, fg, bg in pairs]


def _logo_data(settings: Settings) -> str:
    """The current logo as a ``data:`` URL for the page (the desk serves no project file by path)."""
    from newsletter.config import LOGO_SUFFIXES

    logo = settings.brand.logo if settings.brand else ""
    if not logo or not logo.lower().endswith(LOGO_SUFFIXES):
        return ""
    kind = {"png": "png", "gif": "gif"}.get(logo.rsplit(".", 1)[-1].lower(), "jpeg")
    try:
        data = read_inside(settings.root, logo)  # never through a link planted since the settings loaded
    except OSError:
        return ""
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def _page(kept: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    nl = newsletter()
    root = nl.settings.root
    try:
        values, based_on = written_values(root), version(root)
    except LinkedBrandError as err:
        return render_template("desk/message.html", status=409, message=said(err)), 409
    values.update(kept or {})
    try:
        current: Settings | None = load_settings(root)
    except ConfigError:
        current = None  # the file does not load as it is: the form shows what is written, the flash why
    return render_template(
        "desk/brand.html", values=values, version=based_on, keys=BRAND_KEYS,
        contrasts=_contrasts(current) if current else [], logo=_logo_data(current) if current else "",
        defaults={"name": nl.settings.newsletter.name, "postal_address": nl.settings.newsletter.postal_address},
        logo_limit=LOGO_MAX_BYTES // 1024,
    ), status


@bp.route("", methods=["GET"])
@requires("operate")
def form() -> tuple[str, int]:
    return _page()


@bp.route("", methods=["POST"])
@requires("operate")
def save() -> Any:
    nl = newsletter()
    values = {key: request.form.get(key, "") for key in BRAND_KEYS}
    try:
        # The desk's project object takes the new settings: previews and checks use the new look at once.
        nl.settings = update_brand(nl.settings, values, based_on=request.form.get("version", ""))
    except BrandConflictError:
        flash(_("newsletter.toml was changed by someone else since you opened this page: nothing was saved. "
                "Your values are still in the form; reload the page to see the current ones."), "error")
        return _page(values, 409)
    except ConfigError as err:
        flash(_("Not saved: %(reason)s", reason=said(err)), "error")
        return _page(values, 400)
    flash(_("Saved."), "ok")
    return redirect(url_for("brand.form"))


@bp.route("/logo", methods=["POST"])
@requires("operate")
def upload_logo() -> Any:
    """Upload a logo into the project and make it ``[brand] logo``, with its alt text, in one change."""
    nl = newsletter()
    upload = request.files.get("file")
    alt = request.form.get("logo_alt", "")
    if upload is None or not upload.filename:
        flash(_("Choose a logo file first."), "error")
        return _page({"logo_alt": alt}, 400)
    data = upload.read(LOGO_MAX_BYTES + 1)
    try:
        nl.settings = store_logo(nl.settings, data, alt, based_on=request.form.get("version", ""))
    except BrandConflictError:
        flash(_("newsletter.toml was changed by someone else since you opened this page: nothing was saved. "
                "Your values are still in the form; reload the page to see the current ones."), "error")
        return _page({"logo_alt": alt}, 409)
    except LogoRefusedError as err:
        flash(_("Logo refused: %(reason)s", reason=said(err)), "error")
        return _page({"logo_alt": alt}, 400)
    except ConfigError as err:
        flash(_("Not saved: %(reason)s", reason=said(err)), "error")
        return _page({"logo_alt": alt}, 400)
    flash(_("Logo saved."), "ok")
    return redirect(url_for("brand.form"))
