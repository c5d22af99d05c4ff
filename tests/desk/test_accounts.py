"""Desk accounts: argon2 hashes, roles, removal, and the `newsletter users` commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter import Newsletter
from newsletter.errors import UsageError
from tests.helpers.cli import run

PASSWORD = "correct horse battery staple"


def test_a_password_is_stored_as_an_argon2id_hash_and_checked(project: Path) -> None:
    with Newsletter.open(project) as nl:
        nl.users.add("camille", "editor", PASSWORD)
        from newsletter.store.users import find_user

        record = find_user(nl.store, "camille")
        assert record is not None and record.password_hash.startswith("$argon2id$")
        assert PASSWORD not in record.password_hash
        assert nl.users.authenticate("Camille", PASSWORD) is not None
        assert nl.users.authenticate("camille", PASSWORD + "x") is None
        assert nl.users.authenticate("nobody", PASSWORD) is None


def test_a_removed_account_cannot_sign_in_and_comes_back_when_added_again(project: Path) -> None:
    with Newsletter.open(project) as nl:
        nl.users.add("dominique", "approver", PASSWORD)
        nl.users.remove("dominique")
        assert nl.users.authenticate("dominique", PASSWORD) is None
        assert nl.users.get("dominique") is None
        back = nl.users.add("dominique", "editor", PASSWORD + "!")
        assert back.role == "editor" and nl.users.authenticate("dominique", PASSWORD + "!") is not None


@pytest.mark.parametrize(("name", "role", "password", "expected"), [
    ("Camille Martin", "editor", PASSWORD, "not a usable account name"),
    ("camille", "boss", PASSWORD, "is not a role"),
    ("camille", "editor", "short", "too short"),
])
def test_bad_account_input_is_refused_with_a_clear_message(project: Path, name: str, role: str, password: str,
                                                           expected: str) -> None:
    with Newsletter.open(project) as nl, pytest.raises(UsageError, match=expected):
        nl.users.add(name, role, password)


def test_roles_grant_cumulative_abilities(project: Path) -> None:
    with Newsletter.open(project) as nl:
        editor = nl.users.add("ed", "editor", PASSWORD)
        approver = nl.users.add("ap", "approver", PASSWORD)
        operator = nl.users.add("op", "operator", PASSWORD)
    assert editor.can("write") and not editor.can("approve")
    assert approver.can("approve") and not approver.can("operate")
    assert operator.can("operate")


def test_users_commands_add_list_passwd_remove(project: Path) -> None:
    code, out = run(project, "users", "add", "camille", "--role", "editor", "--email", "Camille@Example.org",
                    "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0 and "camille (editor)" in out, out
    code, out = run(project, "users", "add", "camille", "--role", "editor", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 2 and "already exists" in out
    code, out = run(project, "users", "list")
    assert code == 0 and "camille" in out and "editor" in out and "camille@example.org" in out
    assert "$argon2" not in out
    code, out = run(project, "users", "passwd", "camille", "--password-stdin", stdin="another long password\n")
    assert code == 0
    with Newsletter.open(project) as nl:
        assert nl.users.authenticate("camille", "another long password") is not None
    code, out = run(project, "users", "remove", "camille")
    assert code == 0 and "removed" in out
    code, out = run(project, "users", "list")
    assert "removed" in out
    code, out = run(project, "users", "remove", "camille")
    assert code == 2 and "no account called" in out


def test_users_add_asks_for_the_password_twice(project: Path) -> None:
    from click.testing import CliRunner

    from newsletter.frontends.cli import cli

    result = CliRunner().invoke(cli, ["--project", str(project), "users", "add", "camille", "--role", "editor"],
                                input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("assword") >= 2 and PASSWORD not in result.output


def test_a_bad_address_is_refused_naming_the_option(project: Path) -> None:
    with Newsletter.open(project) as nl, pytest.raises(UsageError, match="--email"):
        nl.users.add("camille", "editor", PASSWORD, email="not an address")
