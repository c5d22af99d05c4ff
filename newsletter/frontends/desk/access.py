"""Who may see what: every desk view declares the ability it needs, and one check enforces it.

A view is marked with :func:`requires` (``"read"``, ``"write"``, ``"approve"``, ``"operate"``)
or :func:`public` (the sign-in page and the static files). :func:`enforce` runs before every
request, before the CSRF check: a view with no mark is refused (deny by default); an anonymous
request is sent to the sign-in page (a GET) or refused with 401 (anything else); an account
whose role lacks the ability gets 403. Sessions expire ``[desk] session_hours`` after sign-in,
and end on the server when their account signs out, is removed or is given a new password: the
cookie names the account's session generation, which each of these raises (every browser of the
account is signed out; a copied cookie opens nothing).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from newsletter.library import Account, Newsletter

View = TypeVar("View", bound=Callable[..., object])
_MARK = "_desk_ability"
PUBLIC = "public"
EXTENSION = "newsletter.frontends.desk"


def requires(ability: str) -> Callable[[View], View]:
    """Mark a view as open to accounts whose role allows ``ability``."""
    def mark(view: View) -> View:
        setattr(view, _MARK, ability)
        return view
    return mark


def public(view: View) -> View:
    """Mark a view as open to anyone (the sign-in page only)."""
    setattr(view, _MARK, PUBLIC)
    return view


def newsletter() -> "Newsletter":
    """The project the running desk works on."""
    found: Newsletter = current_app.extensions[EXTENSION]
    return found


def ability_of(endpoint: str | None) -> str | None:
    """The ability the view of ``endpoint`` needs (``"public"``), or None for an unmarked view."""
    if endpoint is None:
        return None
    if endpoint == "static":
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, _MARK, None)


def sign_in(account: "Account") -> None:
    """Start a fresh session for ``account`` (a new cookie: no fixation)."""
    session.clear()
    session.permanent = True
    session["user"] = account.name
    session["stamp"] = account.stamp
    session["at"] = int(newsletter().clock().timestamp())


def sign_out() -> None:
    """End the account's sessions on the server (a copy of the cookie opens nothing), then this cookie."""
    account = current_account()
    if account is not None:
        newsletter().users.end_sessions(account.name)
    session.clear()


def current_account() -> "Account | None":
    """The signed-in account of this request (None when anonymous or expired)."""
    return getattr(g, "account", None)


def _session_account() -> "Account | None":
    name, at = session.get("user"), session.get("at")
    if not isinstance(name, str) or not isinstance(at, int):
        return None
    nl = newsletter()
    hours = nl.settings.desk.session_hours
    started = datetime.fromtimestamp(at, timezone.utc)
    age = (nl.clock() - started).total_seconds()
    if age < 0 or age > hours * 3600:
        session.clear()
        return None
    account = nl.users.get(name)
    if account is None or account.stamp != session.get("stamp"):
        session.clear()  # removed, signed out or its password changed since this sign-in
        return None
    return account


def enforce() -> Response | None:
    """The before-request check described in the module docstring."""
    ability = ability_of(request.endpoint)
    if request.endpoint is None:
        return None  # a 404 or 405 follows; it shows nothing
    if ability == PUBLIC:
        g.account = _session_account() if request.endpoint != "static" else None
        return None
    if ability is None:
        abort(403)
    account = _session_account()
    g.account = account
    if account is None:
        if request.method in ("GET", "HEAD"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    if not account.can(ability):
        abort(403)
    return None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this desk, never another site.

    ``target`` is the decoded ``next`` parameter. Browsers drop tabs and line breaks from a
    Location and read a backslash as a slash (``/\t/evil.example`` becomes ``//evil.example``), so
    only a plain local path passes: no control, format or space character, no backslash, no
    scheme or host, and not ``//``.
    """
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not any(unicodedata.category(c)[0] in "CZ" for c in target)):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("home.index")
