"""API keys: made once, kept as a hash, listed without the key, revoked; the `api-keys` commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter import Newsletter
from newsletter.errors import UsageError
from newsletter.store.api_keys import list_keys
from tests.helpers.cli import run


def test_a_key_is_shown_once_stored_as_a_hash_and_works_until_revoked(project: Path) -> None:
    with Newsletter.open(project) as nl:
        key, secret = nl.api_keys.add("cms", ["subscribers:write", "subscribers:read"])
        assert key.scopes == ("subscribers:read", "subscribers:write") and secret.startswith("nlk_")
        with nl.store.engine.connect() as conn:
            dumped = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_keys"))
        assert secret not in dumped and secret[4:] not in dumped
        used = nl.api_keys.authenticate(secret)
        assert used is not None and used.name == "cms" and used.allows("subscribers:write")
        assert not used.allows("issues:read")
        assert list_keys(nl.store)[0].last_used_at is not None
        assert nl.api_keys.authenticate(secret + "x") is None and nl.api_keys.authenticate("") is None
        nl.api_keys.revoke("cms")
        assert nl.api_keys.authenticate(secret) is None
        with pytest.raises(UsageError, match="no active API key"):
            nl.api_keys.revoke("cms")
        again, other = nl.api_keys.add("cms", ["issues:read"])  # a revoked name can be used again
        assert other != secret and nl.api_keys.authenticate(other) is not None and again.active


@pytest.mark.parametrize(("name", "scopes", "expected"), [
    ("cms", ["subscribers:delete"], "is not a scope"),
    ("cms", [], "at least one scope"),
    ("C M S", ["issues:read"], "not a usable account name"),
])
def test_bad_key_input_is_refused(project: Path, name: str, scopes: list[str], expected: str) -> None:
    with Newsletter.open(project) as nl, pytest.raises(UsageError, match=expected):
        nl.api_keys.add(name, scopes)


def test_api_keys_commands_add_list_revoke(project: Path) -> None:
    code, out = run(project, "api-keys", "add", "paywall", "--scope", "subscribers:write")
    assert code == 0 and "not shown again" in out, out
    secret = out.split()[0]
    assert secret.startswith("nlk_")
    code, out = run(project, "api-keys", "add", "paywall", "--scope", "subscribers:write")
    assert code == 2 and "already exists" in out
    code, out = run(project, "api-keys", "list")
    assert code == 0 and "paywall" in out and "subscribers:write" in out and "last used never" in out
    assert secret not in out
    code, out = run(project, "api-keys", "revoke", "paywall")
    assert code == 0 and "revoked" in out
    code, out = run(project, "api-keys", "list")
    assert "revoked" in out
    code, out = run(project, "api-keys", "revoke", "paywall")
    assert code == 2 and "no active API key" in out
