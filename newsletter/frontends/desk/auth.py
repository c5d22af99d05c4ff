"""Signing in and out of the desk.

Sign-in attempts are limited three ways, so that guessing is slow and nobody can lock an
account's owner out: ``[desk] login_limit`` per client address and per account name *and*
address (a guesser at one address stops there), and the slower ``login_account_limit`` on the
failures for an account name from everywhere (a guesser with many addresses stops there),
which does not apply to a browser where the account signed in before: a successful sign-in
leaves a signed cookie (``newsletter_desk_device``, 180 days) naming the account. A wrong name
and a wrong password get the same answer and take the same time.

An account enrolled in two-factor sign-in gives a code on a second step (``/login/code``): the
password step leaves only a pending mark in the session (``second``: the account, its stamp and
the time; ten minutes), and the session starts when a current code or a recovery code is given.
Wrong codes count against ``login_limit`` for the account, and after five in one attempt the
password must be given again. An account whose role is in ``[desk] require_2fa`` and which has
no second factor yet enrols on that step instead (``/login/enrol``: a QR code drawn here as SVG,
the desk allows no outside script), then sees its recovery codes once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, current_app, make_response, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from werkzeug.wrappers import Response

from newsletter.frontends.desk.access import newsletter, public, requires, safe_next, sign_in, sign_out
from newsletter.frontends.desk.words import gettext as _

if TYPE_CHECKING:
    from newsletter.library import Account

bp = Blueprint("auth", __name__)

DEVICE_COOKIE = "newsletter_desk_device"
DEVICE_DAYS = 180
SECOND_STEP_SECONDS = 600  # how long the password step stands while the code is awaited
SECOND_STEP_TRIES = 5  # wrong codes before the password must be given again


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


def code_key() -> str:
    """The rate-limit key of a code attempt: the account the password step named."""
    pending = session.get("second")
    return "code:" + (str(pending.get("user", "")) if isinstance(pending, dict) else "")


def failed(response: Response) -> bool:
    """Whether a sign-in attempt failed (only failures count towards the limit per account)."""
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> tuple[str, int] | Response:
    error = ""
    if request.method == "POST":
        nl = newsletter()
        account = nl.users.authenticate(request.form.get("name", ""), request.form.get("password", ""))
        if account is not None and (account.two_factor or account.role in nl.settings.desk.require_2fa):
            session.clear()
            session["second"] = {"user": account.name, "stamp": account.stamp, "tries": 0,
                                 "at": int(nl.clock().timestamp())}
            step = "auth.code" if account.two_factor else "auth.enrol"
            return redirect(url_for(step, next=request.args.get("next")))
        if account is not None:
            return _signed_in(account)
        error = _("Wrong name or password.")
    page = render_template("desk/login.html", error=error, name=request.form.get("name", ""))
    return page, 401 if error else 200


def _signed_in(account: "Account", page: str | None = None) -> Response:
    """Start the account's session and remember this browser; on to where the sign-in was asked for (or
    show ``page`` first)."""
    sign_in(account)
    response = redirect(safe_next(request.args.get("next"))) if page is None else make_response(page)
    response.set_cookie(DEVICE_COOKIE, _devices().dumps(account.name), max_age=DEVICE_DAYS * 86400,
                        httponly=True, samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def _pending() -> "Account | None":
    """The account whose password this session gave, while its code is awaited (None once stale)."""
    pending = session.get("second")
    if not isinstance(pending, dict) or not isinstance(pending.get("at"), int):
        return None
    nl = newsletter()
    age = nl.clock().timestamp() - pending["at"]
    account = nl.users.get(str(pending.get("user", "")))
    if (not 0 <= age <= SECOND_STEP_SECONDS or account is None or account.stamp != pending.get("stamp")
            or int(pending.get("tries", 0)) >= SECOND_STEP_TRIES):
        session.pop("second", None)
        return None
    return account


def _wrong_code() -> str:
    """Count a wrong code; past the limit the password step is undone."""
    pending = dict(session["second"])
    pending["tries"] = int(pending.get("tries", 0)) + 1
    session["second"] = pending
    return _("Wrong or already used code.")


@bp.route("/login/code", methods=["GET", "POST"])
@public
def code() -> tuple[str, int] | Response:
    account = _pending()
    if account is None or not account.two_factor:
        return redirect(url_for("auth.login", next=request.args.get("next")))
    error = ""
    if request.method == "POST":
        if newsletter().users.second_factor(account.name, request.form.get("code", "")):
            return _signed_in(account)
        error = _wrong_code()
    return render_template("desk/login_code.html", error=error), 401 if error else 200


@bp.route("/login/enrol", methods=["GET", "POST"])
@public
def enrol() -> tuple[str, int] | Response:
    account = _pending()
    if account is None or account.two_factor:
        return redirect(url_for("auth.login", next=request.args.get("next")))
    users = newsletter().users
    error = ""
    if request.method == "POST":
        done = users.confirm(account.name, request.form.get("code", ""))
        if done is not None:
            signed = users.get(account.name)  # confirming ended the sessions made before: a new stamp
            assert signed is not None
            page = render_template("desk/login_recovery.html", codes=done.recovery_codes,
                                   next=safe_next(request.args.get("next")))
            return _signed_in(signed, page)
        error = _wrong_code()
    enrolment = users.propose(account.name)
    import segno  # only at an enrolment

    # white light modules: the quiet zone shows on any page colour
    qr = Markup(segno.make(enrolment.uri, error="m").svg_inline(scale=4, light="#fff"))
    return (render_template("desk/login_enrol.html", error=error, qr=qr, secret=enrolment.secret),
            401 if error else 200)


@bp.route("/logout", methods=["POST"])
@requires("read")
def logout() -> Response:
    sign_out()
    return redirect(url_for("auth.login"))
