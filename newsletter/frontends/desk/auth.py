"""Signing in and out of the desk.

Sign-in attempts are limited three ways, so that guessing is slow and nobody can lock an
account's owner out: ``[desk] login_limit`` per client address and per account name *and*
address (a guesser at one address stops there), and the slower ``login_account_limit`` on the
failures for an account name from everywhere (a guesser with many addresses stops there),
which does not apply to a browser where the account signed in before: a successful sign-in
leaves a signed cookie (``newsletter_desk_device``, 180 days) naming the account. A wrong name
and a wrong password get the same answer and take the same time.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from newsletter.frontends.desk.access import newsletter, public, requires, safe_next, sign_in, sign_out
from newsletter.frontends.desk.words import gettext as _

bp = Blueprint("auth", __name__)

DEVICE_COOKIE = "newsletter_desk_device"
DEVICE_DAYS = 180


def _name() -> str:
    return request.form.get("name", "").strip().lower()[:64]


def account_key() -> str:
    """The rate-limit key of a sign-in attempt: the name it tries (normalized as accounts are)."""
    return "account:" + _name()


def account_client_key() -> str:
    """The rate-limit key of a sign-in attempt from one client address for one name."""
    return f"account:{_name()}@{request.remote_addr or ''}"


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="newsletter.desk.device")


def known_browser() -> bool:
    """Whether this browser holds the signed cookie of a sign-in to the account it now tries."""
    try:
        name = _devices().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return False
    return bool(name) and name == _name()


def failed(response: Response) -> bool:
    """Whether a sign-in attempt failed (only failures count towards the limit per account)."""
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> tuple[str, int] | Response:
    error = ""
    if request.method == "POST":
        account = newsletter().users.authenticate(request.form.get("name", ""), request.form.get("password", ""))
        if account is not None:
            sign_in(account)
            response = redirect(safe_next(request.args.get("next")))
            response.set_cookie(DEVICE_COOKIE, _devices().dumps(account.name), max_age=DEVICE_DAYS * 86400,
                                httponly=True, samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
            return response
        error = _("Wrong name or password.")
    page = render_template("desk/login.html", error=error, name=request.form.get("name", ""))
    return page, 401 if error else 200


@bp.route("/logout", methods=["POST"])
@requires("read")
def logout() -> Response:
    sign_out()
    return redirect(url_for("auth.login"))
