"""The operators' accounts page: who may sign in, with which role and whether with a code, and the
removal of an account's second factor (a lost phone), as ``users totp NAME --reset`` does.

The removal is asked on a page of its own (a confirmation step), posted with the CSRF token; it
ends the account's sessions. An operator removing their own factor gives their password again,
so that an unattended browser cannot do it.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Reply

from newsletter.frontends.desk.access import current_account, newsletter, requires, sign_out
from newsletter.frontends.desk.words import gettext as _

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.route("/")
@requires("operate")
def index() -> str:
    return render_template("desk/users.html", accounts=[a for a in newsletter().users.list() if a.active])


@bp.route("/<name>/reset-2fa", methods=["GET", "POST"])
@requires("operate")
def reset(name: str) -> str | Reply | tuple[str, int]:
    nl = newsletter()
    account, me = nl.users.get(name), current_account()
    if account is None or me is None:
        abort(404)
    if not account.two_factor:
        flash(_("%(name)s signs in without a code.", name=account.name), "error")
        return redirect(url_for("users.index"))
    own = account.name == me.name
    if request.method == "GET":
        return render_template("desk/users_reset.html", target=account, own=own)
    if own and nl.users.authenticate(me.name, request.form.get("password", "")) is None:
        return render_template("desk/users_reset.html", target=account, own=own,
                               error=_("Wrong name or password.")), 401
    nl.users.reset_second_factor(account.name, by=me.name)
    if own:
        sign_out()
        return redirect(url_for("auth.login"))
    flash(_("The second factor of %(name)s is removed and their sessions are ended; they enrol again at their "
            "next sign-in.", name=account.name), "ok")
    return redirect(url_for("users.index"))
