"""The operators' page of the outgoing webhooks (``[[hooks]]``): the latest deliveries (pending,
given up, delivered; the receiver's host only, a chat's url being its secret), « Réessayer » as
``hooks retry`` does, and a test message for each chat hook."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Reply

from newsletter.errors import NewsletterError
from newsletter.frontends.desk.access import newsletter, requires
from newsletter.frontends.desk.words import gettext as _
from newsletter.frontends.desk.words import ngettext

bp = Blueprint("hooks", __name__, url_prefix="/hooks")


@bp.route("/")
@requires("operate")
def index() -> str:
    nl = newsletter()
    chats = [urlsplit(hook.url).netloc for hook in nl.hooks.chats()]
    return render_template("desk/hooks.html", configured=bool(nl.settings.hooks), chats=chats,
                           deliveries=nl.hooks.deliveries())


@bp.route("/retry", methods=["POST"])
@requires("operate")
def retry() -> Reply:
    """Post the given-up events again (one, or all), with a new day of retries."""
    count = newsletter().hooks.retry(request.form.get("event") or None)
    flash(ngettext("%(num)d event will be posted again.", "%(num)d events will be posted again.", count), "ok")
    return redirect(url_for("hooks.index"))


@bp.route("/test", methods=["POST"])
@requires("operate")
def test() -> Reply:
    """Post a test sentence to a chat hook now, and say how it went."""
    try:
        error = newsletter().hooks.test_chat(int(request.form.get("chat", "-1")))
    except (ValueError, NewsletterError):
        flash(_("There is nothing at this address."), "error")
        return redirect(url_for("hooks.index"))
    if error:
        flash(_("Not sent: %(reason)s", reason=error), "error")
    else:
        flash(_("The test message was posted."), "ok")
    return redirect(url_for("hooks.index"))
