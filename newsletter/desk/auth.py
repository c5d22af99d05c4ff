"""Signing in and out of the desk.

Sign-in attempts are limited per client address and per account name (``[desk] login_limit``);
a wrong name and a wrong password get the same answer and take the same time.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from newsletter.desk.access import newsletter, public, requires, safe_next, sign_in, sign_out
from newsletter.desk.words import gettext as _

bp = Blueprint("auth", __name__)


def account_key() -> str:
    """The rate-limit key of a sign-in attempt: the name it tries (normalized as accounts are)."""
    return "account:" + request.form.get("name", "").strip().lower()[:64]


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> tuple[str, int] | Response:
    error = ""
    if request.method == "POST":
        account = newsletter().users.authenticate(request.form.get("name", ""), request.form.get("password", ""))
        if account is not None:
            sign_in(account)
            return redirect(safe_next(request.args.get("next")))
        error = _("Wrong name or password.")
    page = render_template("desk/login.html", error=error, name=request.form.get("name", ""))
    return page, 401 if error else 200


@bp.route("/logout", methods=["POST"])
@requires("read")
def logout() -> Response:
    sign_out()
    return redirect(url_for("auth.login"))
