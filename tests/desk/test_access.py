"""Access control on every desk route: anonymous, wrong role, missing CSRF token; sessions and headers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.frontends.desk import access
from newsletter.frontends.desk.app import create_app
from tests.conftest import DAY, SECRET
from tests.helpers.desk import Clock, PASSWORD, ROLES, csrf_token, desk_config, sign_in

#: Sample values for the URL parts of every route.
ARGS = {"day": DAY.isoformat(), "name": "01-bots.md", "relative": "images/barres.png", "filename": "desk.css"}
PUBLIC = {"auth.login", "auth.code", "auth.enrol", "static"}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every route of the desk but the public ones."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint in PUBLIC:
                continue
            url = rule.build({k: v for k, v in ARGS.items() if k in rule.arguments}, append_unknown=False)[1]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((rule.endpoint, method, url))
    return found


def _app() -> Flask:
    """An app for listing the routes only (no request is served by it)."""
    from newsletter.config import load_settings
    from tests.conftest import REPO

    return create_app(Newsletter(load_settings(REPO)), SECRET)


ROUTES = routes(_app())


def ability(app: Flask, endpoint: str) -> str:
    with app.test_request_context():
        found = access.ability_of(endpoint)
    assert found, endpoint
    return found


def test_every_route_declares_what_it_needs(app: Flask) -> None:
    assert len(ROUTES) >= 10
    for endpoint, _, _ in ROUTES:
        assert ability(app, endpoint) in ("read", "write", "approve", "operate"), endpoint


@pytest.mark.parametrize(("endpoint", "method", "url"), ROUTES, ids=[f"{m} {e}" for e, m, _ in ROUTES])
def test_anonymous_is_sent_to_sign_in_or_refused(app: Flask, endpoint: str, method: str, url: str) -> None:
    client = app.test_client()
    token = csrf_token(client)  # a valid token: the refusal must come from the missing account
    response = client.open(url, method=method, data={"csrf_token": token} if method == "POST" else None)
    if method == "GET":
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    else:
        assert response.status_code == 401


@pytest.mark.parametrize(("endpoint", "method", "url"), ROUTES, ids=[f"{m} {e}" for e, m, _ in ROUTES])
def test_a_role_without_the_ability_gets_403(app: Flask, signed_in: Callable[[str], FlaskClient], endpoint: str,
                                              method: str, url: str) -> None:
    from newsletter.library.accounts import ABILITIES

    needed = ability(app, endpoint)
    lacking = [role for role in ROLES if needed not in ABILITIES[role]]
    if not lacking:
        assert needed in ("read", "write")  # every role reads and writes: nobody to refuse
        return
    for role in lacking:
        client = signed_in(role)
        token = csrf_token(client, "/")
        response = client.open(url, method=method, data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 403, (role, response.status_code)


POSTS = [route for route in ROUTES if route[1] not in ("GET", "HEAD", "OPTIONS")]  # every method that changes


def test_every_route_that_changes_something_is_a_post() -> None:
    """Forms post; a PUT or DELETE route would need its own CSRF test (the tests below send form posts)."""
    assert POSTS and all(method == "POST" for _, method, _ in POSTS)


@pytest.mark.parametrize(("endpoint", "method", "url"), POSTS, ids=[e for e, _, _ in POSTS])
def test_a_form_without_its_csrf_token_is_refused(app: Flask, signed_in: Callable[[str], FlaskClient],
                                                 endpoint: str, method: str, url: str) -> None:
    client = signed_in("operator")
    before = sorted(p.name for p in (app.extensions[access.EXTENSION].settings.issues_dir / DAY.isoformat()).iterdir())
    response = client.post(url, data={"day": DAY.isoformat()})
    assert response.status_code == 400
    after = sorted(p.name for p in (app.extensions[access.EXTENSION].settings.issues_dir / DAY.isoformat()).iterdir())
    assert after == before


def test_sign_in_with_a_wrong_password_is_refused_alike_for_unknown_names(app: Flask) -> None:
    client = app.test_client()
    for name in ("editor", "nobody"):
        token = csrf_token(client)
        response = client.post("/login", data={"name": name, "password": "wrong password!", "csrf_token": token})
        assert response.status_code == 401
        assert "Mauvais nom ou mot de passe." in response.get_data(as_text=True)


def test_sign_in_leads_back_to_the_page_asked_for_and_never_elsewhere(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login?next=/issues/2026-11-24",
                           data={"name": "editor", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/issues/2026-11-24"
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login?next=//evil.example/", data={"name": "editor", "password": PASSWORD,
                                                                "csrf_token": token})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", [
    "/%09/evil.example/", "/%0a/evil.example/", "/%0d/evil.example/", "%09//evil.example/", "/%00/evil.example/",
    "/%20/evil.example/", "/%5c/evil.example/", "/%5C%5Cevil.example/", "%2F%2Fevil.example/", "https://evil.example/",
    "javascript:alert(1)", "/%E2%80%83/evil.example/", "/%E2%80%AE/evil.example/", "//evil.example/", "evil.example",
    "/%0d%0aSet-Cookie:%20x=1",
])
def test_sign_in_never_sends_to_another_site(app: Flask, target: str) -> None:
    """After decoding, only a local path counts: no control character, space, backslash, scheme or host."""
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(f"/login?next={target}", data={"name": "editor", "password": PASSWORD,
                                                           "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/", response.headers.get("Location")


def attempt(app: Flask, name: str, address: str, password: str = "wrong password!",
            client: FlaskClient | None = None) -> int:
    """One sign-in from ``address`` (with ``client``'s cookies when given): its status code."""
    client = client or app.test_client()
    token = csrf_token(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address}).status_code


@pytest.mark.parametrize("key", ["account and client", "client"])
def test_sign_in_attempts_are_limited_per_account_and_client_and_per_client(app: Flask, key: str) -> None:
    """Five attempts a minute (the default login_limit): the sixth is refused with 429, even with the right
    password; per account from one address, per address across several names."""
    names = ["editor"] * 6 if key == "account and client" else [f"someone{n}" for n in range(5)] + ["editor"]
    assert [attempt(app, name, "192.0.2.1") for name in names[:5]] == [401] * 5
    assert attempt(app, names[5], "192.0.2.1", PASSWORD) == 429


def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(app: Flask) -> None:
    """Five wrong passwords for an account name, from one address or from five: its owner still signs in."""
    assert [attempt(app, "editor", "192.0.2.1") for _ in range(5)] == [401] * 5
    assert [attempt(app, "editor", f"192.0.2.{n}") for n in range(2, 7)] == [401] * 5
    assert attempt(app, "editor", "198.51.100.7", PASSWORD) == 302


def test_the_slower_limit_per_account_spares_a_browser_that_signed_in_before(project: Path, clock: Clock) -> None:
    """Failures from many addresses stop at [desk] login_account_limit, for everyone but the browsers
    where the account signed in before (they hold a signed cookie saying so)."""
    desk_config(project, '[desk]\nlogin_account_limit = "4 per hour"\n')
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as nl:
        nl.users.add("editor", "editor", PASSWORD)
        app = create_app(nl, SECRET)
        known = app.test_client()
        assert attempt(app, "editor", "198.51.100.7", PASSWORD, known) == 302
        known.post("/logout", data={"csrf_token": csrf_token(known, "/")})
        assert [attempt(app, "editor", f"192.0.2.{n}") for n in range(4)] == [401] * 4
        assert attempt(app, "editor", "192.0.2.50", PASSWORD) == 429  # a new browser waits
        assert attempt(app, "editor", "198.51.100.7", PASSWORD, known) == 302  # the owner's does not
        stranger = app.test_client()
        stranger.set_cookie("newsletter_desk_device", "editor")  # not signed: counts for nothing
        assert attempt(app, "editor", "192.0.2.51", PASSWORD, stranger) == 429


def test_a_session_expires_after_session_hours(app: Flask, nl: Newsletter, clock: Clock) -> None:
    client = app.test_client()
    sign_in(client, "editor")
    assert client.get("/").status_code == 200
    clock.now += timedelta(hours=nl.settings.desk.session_hours, minutes=1)
    assert client.get("/").status_code == 302


def test_a_removed_account_loses_its_session(app: Flask, nl: Newsletter) -> None:
    client = app.test_client()
    sign_in(client, "editor")
    nl.users.remove("editor")
    assert client.get("/").status_code == 302


def test_a_password_change_ends_the_sessions_started_before_it(app: Flask, nl: Newsletter) -> None:
    client = app.test_client()
    sign_in(client, "editor")
    nl.users.set_password("editor", "a brand new long password")
    assert client.get("/").status_code == 302


def test_sign_out_ends_the_session(app: Flask) -> None:
    client = app.test_client()
    sign_in(client, "editor")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/").status_code == 302


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(app: Flask, nl: Newsletter) -> None:
    """Sign-out ends the session on the server: a copy of the cookie (a shared computer, a stolen
    cookie) is refused, and so are the account's other sessions; a new sign-in works."""
    client, other = app.test_client(), app.test_client()
    sign_in(client, "editor")
    sign_in(other, "editor")
    copied = client.get_cookie("newsletter_desk")
    assert copied is not None
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    thief = app.test_client()
    thief.set_cookie("newsletter_desk", copied.value)
    assert thief.get("/").status_code == 302
    assert other.get("/").status_code == 302
    sign_in(client, "editor")
    assert client.get("/").status_code == 200


def test_the_session_cookie_is_httponly_samesite_and_secure_behind_https(project: pytest.TempPathFactory,
                                                                         clock: Clock) -> None:
    from pathlib import Path

    root = Path(str(project))
    desk_config(root, '[desk]\nbase_url = "https://desk.example.org"\n')
    with Newsletter.open(root, clock=clock) as nl:
        nl.users.add("editor", "editor", PASSWORD)
        client = create_app(nl, SECRET).test_client()
        token = csrf_token(client)
        response = client.post("/login", data={"name": "editor", "password": PASSWORD, "csrf_token": token})
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("newsletter_desk="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie and "Expires=" in cookie


def test_pages_carry_security_headers_and_no_inline_script(signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("editor")
    for url in ("/", f"/issues/{DAY.isoformat()}", "/login"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
        page = response.get_data(as_text=True)
        assert "<script>" not in page and "onclick" not in page


def test_an_unmarked_view_is_refused_by_default(app: Flask, signed_in: Callable[[str], FlaskClient]) -> None:
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    assert signed_in("operator").get("/forgotten").status_code == 403


def test_listening_off_loopback_needs_the_proxy_settings(nl: Newsletter) -> None:
    from newsletter.frontends.desk.server import check_listen
    from newsletter.errors import ConfigError

    check_listen(nl, "127.0.0.1")
    check_listen(nl, "::1")
    with pytest.raises(ConfigError, match=r"\[desk\] base_url"):
        check_listen(nl, "0.0.0.0")


def test_newsletter_desk_refuses_to_listen_off_loopback_without_base_url(project: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import io

    from newsletter.frontends.cli import main

    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = main(["--project", str(project), "desk", "--host", "0.0.0.0", "--port", "0"])
    assert code == 2 and "[desk] base_url" in printed.getvalue() and "Traceback" not in printed.getvalue()


def test_sign_in_without_its_csrf_token_is_refused(app: Flask) -> None:
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"name": "editor", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # not signed in


@pytest.mark.parametrize(("locale", "words", "absent"), [
    ("fr_FR", ["Connexion", "Nom du compte", "Numéros récents et à venir", "Numéro du mardi 24 novembre"], ["Sign in", "Recent and coming"]),
    ("en_GB", ["Sign in", "Account name", "Recent and coming issues", "Issue of Tuesday 24 November"], ["Connexion", "récents"]),
])
def test_the_desk_speaks_the_newsletters_language(project: Path, clock: Clock, locale: str, words: list[str],
                                                  absent: list[str]) -> None:
    from tests.helpers.locales import set_locale

    set_locale(project, locale)
    with Newsletter.open(project, clock=clock) as nl:
        nl.users.add("editor", "editor", PASSWORD)
        client = create_app(nl, SECRET).test_client()
        text = client.get("/login").get_data(as_text=True)
        sign_in(client, "editor")
        text += client.get("/").get_data(as_text=True) + client.get(f"/issues/{DAY.isoformat()}").get_data(as_text=True)
    assert all(word in text for word in words), [w for w in words if w not in text]
    assert not any(word in text for word in absent)
