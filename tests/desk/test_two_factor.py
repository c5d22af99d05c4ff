"""Two-factor sign-in on the desk: `users totp`, the code step, a code used once, wrong codes limited,
[desk] require_2fa enrolling at the desk, a new password keeping the factor, `--reset`."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.errors import ConfigError, UsageError
from newsletter.frontends.desk.app import create_app
from newsletter.store.users import find_user
from tests.conftest import SECRET
from tests.helpers.cli import run
from tests.helpers.desk import Clock, PASSWORD, csrf_token, desk_config


def password_step(client: FlaskClient, name: str, password: str = PASSWORD, next: str = "",
                  address: str = "127.0.0.1") -> str:
    """Give the name and password; where the desk sends the browser next."""
    token = csrf_token(client)
    response = client.post("/login" + (f"?next={next}" if next else ""),
                           data={"name": name, "password": password, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def code_step(client: FlaskClient, code: str, path: str = "/login/code") -> int:
    token = csrf_token(client, path)
    return client.post(path, data={"code": code, "csrf_token": token}).status_code


def signed_in(client: FlaskClient) -> bool:
    return client.get("/").status_code == 200


def sign_out(client: FlaskClient) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def test_users_totp_prints_the_uri_and_recovery_codes_once_and_stores_only_hashes(project: Path) -> None:
    with Newsletter.open(project) as nl:
        nl.users.add("camille", "approver", PASSWORD)
    code, printed = run(project, "users", "totp", "camille")
    assert code == 0, printed
    uri = re.search(r"otpauth://totp/\S+", printed)
    assert uri and "secret=" in uri.group(0) and "camille" in uri.group(0)
    codes = re.findall(r"^  ([a-z0-9]{5}-[a-z0-9]{5})$", printed, re.M)
    assert len(codes) == 10 and len(set(codes)) == 10
    with Newsletter.open(project) as nl:
        record = find_user(nl.store, "camille")
        assert record is not None and record.two_factor and len(record.recovery_hashes) == 10
        assert not any(c in " ".join(record.recovery_hashes) for c in codes)
        assert nl.users.get("camille").two_factor  # type: ignore[union-attr]
    assert "with a code" in run(project, "users", "list")[1]
    again, printed = run(project, "users", "totp", "camille")  # enrolled already: the old app keeps working
    assert again != 0 and "--reset" in printed
    assert run(project, "users", "totp", "nobody")[0] != 0


def test_an_enrolled_account_signs_in_with_its_password_then_a_current_code(app: Flask, nl: Newsletter,
                                                                             clock: Clock) -> None:
    secret = nl.users.enrol("approver").secret
    client = app.test_client()
    assert password_step(client, "approver", next="/subscribers").startswith("/login/code")
    assert not signed_in(client)  # the password alone opens nothing
    assert client.post("/subscribers/add", data={}).status_code in (400, 401)
    assert code_step(client, pyotp.TOTP(secret).at(clock.now)) == 302
    assert signed_in(client)
    # a browser without the password step gets no code step
    assert app.test_client().get("/login/code").headers["Location"].startswith("/login")


def test_a_code_is_accepted_once(app: Flask, nl: Newsletter, clock: Clock) -> None:
    secret = nl.users.enrol("approver").secret
    totp = pyotp.TOTP(secret)
    first = app.test_client()
    password_step(first, "approver")
    assert code_step(first, totp.at(clock.now)) == 302
    thief = app.test_client()  # the same code, seen over a shoulder, within its 30 seconds
    password_step(thief, "approver")
    assert code_step(thief, totp.at(clock.now)) == 401
    assert code_step(thief, totp.at(clock.now - timedelta(seconds=30))) == 401  # nor an older one
    assert not signed_in(thief)
    clock.now += timedelta(seconds=30)
    assert code_step(thief, totp.at(clock.now)) == 302  # the next code is a new one


def test_wrong_codes_end_the_attempt_after_five(project: Path, clock: Clock) -> None:
    desk_config(project, '[desk]\nlogin_limit = "100 per minute"\n')
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as nl:
        nl.users.add("approver", "approver", PASSWORD)
        secret = nl.users.enrol("approver").secret
        client = create_app(nl, SECRET).test_client()
        password_step(client, "approver")
        assert [code_step(client, f"{n:06d}") for n in range(5)] == [401] * 5
        token = csrf_token(client, "/login")
        response = client.post("/login/code", data={"code": pyotp.TOTP(secret).at(clock.now), "csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
        assert not signed_in(client)  # the password must be given again


def test_wrong_codes_for_an_account_are_limited_across_attempts(app: Flask, nl: Newsletter, clock: Clock) -> None:
    """login_limit (five a minute by default) counts the wrong codes for the account, whichever browser."""
    secret = nl.users.enrol("approver").secret
    statuses = []
    for n in range(5):
        client = app.test_client()
        password_step(client, "approver", address=f"192.0.2.{n}")  # from five addresses
        statuses.append(code_step(client, f"{n:06d}"))
    assert statuses == [401] * 5
    client = app.test_client()
    password_step(client, "approver", address="198.51.100.7")
    assert code_step(client, pyotp.TOTP(secret).at(clock.now)) == 429


def test_a_recovery_code_signs_in_once(app: Flask, nl: Newsletter) -> None:
    codes = nl.users.enrol("operator").recovery_codes
    client = app.test_client()
    password_step(client, "operator")
    assert code_step(client, codes[0].upper()) == 302
    sign_out(client)
    password_step(client, "operator")
    assert code_step(client, codes[0]) == 401
    assert code_step(client, codes[1]) == 302


def test_a_new_password_keeps_the_second_factor(project: Path, app: Flask, nl: Newsletter, clock: Clock) -> None:
    secret = nl.users.enrol("approver").secret
    new = "another long pass phrase"
    assert run(project, "users", "passwd", "approver", "--password-stdin", stdin=new + "\n")[0] == 0
    client = app.test_client()
    assert password_step(client, "approver", new).startswith("/login/code")
    assert not signed_in(client)
    nl.users.remove("approver")
    nl.users.add("approver", "approver", PASSWORD)  # enabled again: still the same factor
    assert password_step(client, "approver").startswith("/login/code")
    assert code_step(client, pyotp.TOTP(secret).at(clock.now)) == 302


def test_users_totp_reset_removes_the_factor_and_ends_the_sessions(project: Path, app: Flask, nl: Newsletter,
                                                                   clock: Clock) -> None:
    secret = nl.users.enrol("editor").secret
    client = app.test_client()
    password_step(client, "editor")
    assert code_step(client, pyotp.TOTP(secret).at(clock.now)) == 302
    code, printed = run(project, "users", "totp", "editor", "--reset")
    assert code == 0, printed
    assert not signed_in(client)
    assert password_step(client, "editor") == "/"
    assert signed_in(client)
    with pytest.raises(UsageError, match="no account"):
        nl.users.reset_second_factor("nobody")


@pytest.fixture
def required(project: Path, clock: Clock) -> Iterator[tuple[Newsletter, Flask]]:
    desk_config(project, '[desk]\nrequire_2fa = ["approver", "operator"]\n')
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as opened:
        for role in ("editor", "approver"):
            opened.users.add(role, role, PASSWORD)
        yield opened, create_app(opened, SECRET)


def test_a_role_in_require_2fa_enrols_at_the_desk_with_a_qr_code(required: tuple[Newsletter, Flask],
                                                                  clock: Clock) -> None:
    nl, app = required
    editor = app.test_client()
    assert password_step(editor, "editor") == "/"  # not a role that must
    client = app.test_client()
    assert password_step(client, "approver", next="/subscribers").startswith("/login/enrol")
    assert not signed_in(client)
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "<svg" in page and "<script" not in page.split("</header>")[-1]
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page).group(1)  # type: ignore[union-attr]
    assert secret in client.get("/login/enrol").get_data(as_text=True)  # the same secret until confirmed
    assert code_step(client, "000000", "/login/enrol") == 401
    token = csrf_token(client, "/login/enrol")
    response = client.post("/login/enrol?next=/subscribers",
                           data={"code": pyotp.TOTP(secret).at(clock.now), "csrf_token": token})
    assert response.status_code == 200
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", response.get_data(as_text=True))
    assert len(codes) == 10 and 'href="/subscribers"' in response.get_data(as_text=True)
    assert signed_in(client) and nl.users.get("approver").two_factor  # type: ignore[union-attr]
    sign_out(client)
    assert password_step(client, "approver").startswith("/login/code")  # from now on, a code every time
    assert code_step(client, codes[3]) == 302


def test_require_2fa_names_roles(project: Path) -> None:
    desk_config(project, '[desk]\nrequire_2fa = ["approver", "boss"]\n')
    with pytest.raises(ConfigError, match=r"\[desk\] require_2fa must be a list of"):
        Newsletter.open(project).settings


@pytest.mark.browser
def test_in_chromium_an_approver_enrols_then_signs_in_in_two_steps(project: Path, tmp_path: Path,
                                                                   clock: Clock) -> None:
    """The desk under waitress, a real headless Chromium: the QR code shows (drawn without any script of
    another site), the code confirms the enrolment, and the next sign-in asks for a code after the password."""
    from playwright.sync_api import expect, sync_playwright

    from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.helpers.desk_server import Desk

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (run `make test`, which installs it)")
    wait = 15_000
    desk_config(project, '[desk]\nrequire_2fa = ["approver"]\n')
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as nl, Desk(nl) as desk, \
            sync_playwright() as p:
        nl.users.add("dominique", "approver", PASSWORD)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(wait)
            refused: list[str] = []
            page.on("console", lambda message: refused.append(message.text) if message.type == "error" else None)

            def password() -> None:
                page.goto(desk.url + "/")
                page.get_by_label("Nom du compte").fill("dominique")
                page.get_by_label("Mot de passe").fill(PASSWORD)
                page.get_by_role("button", name="Connexion").click()

            password()
            page.wait_for_url(re.compile(r".*/login/enrol.*"), timeout=wait)
            expect(page.locator("figure.qr svg")).to_be_visible()
            page.screenshot(path=str(tmp_path / "enrol.png"))
            totp = pyotp.TOTP(page.locator("#secret").inner_text())
            page.get_by_label("Le code affiché par votre application d’authentification").fill(totp.at(clock.now))
            page.get_by_role("button", name="Connexion").click()
            expect(page.get_by_role("heading", name="Codes de secours")).to_be_visible()
            assert page.locator("ul.recovery li").count() == 10
            page.get_by_role("link", name="Continuer").click()
            page.wait_for_url(desk.url + "/", timeout=wait)
            page.context.clear_cookies()

            password()
            page.wait_for_url(re.compile(r".*/login/code.*"), timeout=wait)
            page.get_by_label(re.compile("Le code affiché")).fill("000000")
            page.get_by_role("button", name="Connexion").click()
            expect(page.get_by_role("alert")).to_have_text("Code erroné ou déjà utilisé.")
            page.get_by_label(re.compile("Le code affiché")).fill(totp.at(clock.now))  # used at the enrolment
            page.get_by_role("button", name="Connexion").click()
            expect(page.get_by_role("alert")).to_have_text("Code erroné ou déjà utilisé.")
            clock.now += timedelta(seconds=30)
            page.get_by_label(re.compile("Le code affiché")).fill(totp.at(clock.now))
            page.get_by_role("button", name="Connexion").click()
            page.wait_for_url(desk.url + "/", timeout=wait)
            assert not [text for text in refused if "Content Security Policy" in text], refused
        finally:
            browser.close()
