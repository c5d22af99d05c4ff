"""The desk's accounts page: an operator removes another account's second factor (a confirmation step,
CSRF, its sessions ended, no code asked afterwards), their own only with their password; others cannot."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter import Newsletter
from tests.helpers.desk import PASSWORD, Clock, csrf_token, sign_in


def signed_in_with_code(app: Flask, name: str, secret: str, clock: Clock) -> FlaskClient:
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"].startswith("/login/code")
    token = csrf_token(client, "/login/code")
    assert client.post("/login/code", data={"code": pyotp.TOTP(secret).at(clock.now),
                                            "csrf_token": token}).status_code == 302
    clock.now += timedelta(seconds=30)  # the next code is a new one
    return client


def test_an_operator_resets_another_accounts_second_factor_after_a_confirmation(app: Flask, nl: Newsletter,
                                                                                clock: Clock) -> None:
    secret = nl.users.enrol("approver").secret
    approver = signed_in_with_code(app, "approver", secret, clock)
    operator = app.test_client()
    sign_in(operator, "operator")
    listing = operator.get("/users/").get_data(as_text=True)
    assert "/users/approver/reset-2fa" in listing and "/users/editor/reset-2fa" not in listing
    confirm = operator.get("/users/approver/reset-2fa")
    assert confirm.status_code == 200 and 'name="password"' not in confirm.get_data(as_text=True)
    assert nl.users.get("approver").two_factor  # type: ignore[union-attr]  # asking is not doing
    assert operator.post("/users/approver/reset-2fa", data={}).status_code == 400  # no CSRF token
    assert nl.users.get("approver").two_factor  # type: ignore[union-attr]
    token = csrf_token(operator, "/users/approver/reset-2fa")
    done = operator.post("/users/approver/reset-2fa", data={"csrf_token": token}, follow_redirects=True)
    assert done.status_code == 200 and "approver" in done.get_data(as_text=True)
    assert not nl.users.get("approver").two_factor  # type: ignore[union-attr]
    assert approver.get("/").status_code == 302  # its sessions ended
    again = app.test_client()
    token = csrf_token(again)
    response = again.post("/login", data={"name": "approver", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and not response.headers["Location"].startswith("/login")  # no code asked
    assert operator.get("/").status_code == 200  # the operator's own session goes on


def test_an_operator_resets_their_own_second_factor_only_with_their_password(app: Flask, nl: Newsletter,
                                                                             clock: Clock) -> None:
    secret = nl.users.enrol("operator").secret
    operator = signed_in_with_code(app, "operator", secret, clock)
    assert 'name="password"' in operator.get("/users/operator/reset-2fa").get_data(as_text=True)
    token = csrf_token(operator, "/users/operator/reset-2fa")
    refused = operator.post("/users/operator/reset-2fa", data={"csrf_token": token, "password": "not the password"})
    assert refused.status_code == 401 and nl.users.get("operator").two_factor  # type: ignore[union-attr]
    done = operator.post("/users/operator/reset-2fa", data={"csrf_token": token, "password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].startswith("/login")
    assert not nl.users.get("operator").two_factor  # type: ignore[union-attr]
    assert operator.get("/").status_code == 302  # signed out with the rest of its sessions


@pytest.mark.parametrize("role", ["editor", "approver"])
def test_only_an_operator_resets_a_second_factor(app: Flask, nl: Newsletter, role: str) -> None:
    nl.users.enrol("operator")
    client = app.test_client()
    sign_in(client, role)
    assert client.get("/users/").status_code == 403
    assert client.get("/users/operator/reset-2fa").status_code == 403
    token = csrf_token(client, "/")
    assert client.post("/users/operator/reset-2fa", data={"csrf_token": token}).status_code == 403
    assert nl.users.get("operator").two_factor  # type: ignore[union-attr]


def test_resetting_an_account_without_a_factor_or_unknown_is_a_clear_answer(app: Flask, nl: Newsletter) -> None:
    client = app.test_client()
    sign_in(client, "operator")
    assert client.get("/users/nobody/reset-2fa").status_code == 404
    page = client.get("/users/editor/reset-2fa", follow_redirects=True).get_data(as_text=True)
    assert "editor" in page
