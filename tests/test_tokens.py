"""Tokens in public links: opaque, bound to their purpose, and links already mailed keep working."""

from __future__ import annotations


import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from newsletter.core.tokens import (CONFIRM, UNSUBSCRIBE, key_weakness, make_timed_token, make_token, read_timed_token,
                               read_token)
from tests.conftest import SECRET
from tests.helpers.tokens import readable_parts


@pytest.mark.parametrize("make", [
    lambda: make_token(SECRET, UNSUBSCRIBE, "camille.martin@example.org"),
    lambda: make_timed_token(SECRET, CONFIRM, "camille.martin@example.org"),
    lambda: make_timed_token(SECRET, CONFIRM, ["camille.martin@example.org", "Zoéline"]),
], ids=["unsubscribe", "confirm", "confirm-with-a-name"])
def test_a_token_shows_neither_the_address_nor_the_name(make) -> None:  # type: ignore[no-untyped-def]
    seen = readable_parts(make())
    for private in ("camille", "martin", "example", "Zoéline".encode().decode("latin-1")):
        assert private not in seen


def test_a_token_opens_only_for_its_purpose_and_key() -> None:
    token = make_token(SECRET, UNSUBSCRIBE, "lea@example.org")
    assert token == make_token(SECRET, UNSUBSCRIBE, "lea@example.org")  # same link in every copy of the issue
    assert read_token(SECRET, UNSUBSCRIBE, token) == "lea@example.org"
    assert read_token(SECRET, CONFIRM, token) is None
    assert read_token(SECRET + "x", UNSUBSCRIBE, token) is None
    for altered in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:20], token + "AAAA", "n", ""):
        assert read_token(SECRET, UNSUBSCRIBE, altered) is None
    timed = make_timed_token(SECRET, CONFIRM, "lea@example.org", now=1_000)
    assert read_timed_token(SECRET, CONFIRM, timed, max_age=60) == (None, "expired")
    assert read_timed_token(SECRET, UNSUBSCRIBE, timed, max_age=60) == (None, "invalid")


def test_links_in_issues_already_sent_still_work() -> None:
    old_unsubscribe = URLSafeSerializer(SECRET, salt="newsletter.unsubscribe").dumps("lea@example.org")
    old_confirm = URLSafeTimedSerializer(SECRET, salt="newsletter.confirm").dumps(["lea@example.org", "Léa"])
    assert read_token(SECRET, UNSUBSCRIBE, old_unsubscribe) == "lea@example.org"
    assert read_timed_token(SECRET, CONFIRM, old_confirm, max_age=60) == (["lea@example.org", "Léa"], "")
    assert read_token("another-key", UNSUBSCRIBE, old_unsubscribe) is None


@pytest.mark.parametrize("key, reason", [
    ("a", "1 character long"),
    ("change-me-to-64-random-characters", "published"),
    ("demo-only-not-secret", "published"),
    ("sample-only-not-a-secret", "published"),
    ("ab" * 30, "2 different characters"),
    # The published value lightly edited is still the published value to whoever tries it.
    ("change-me-to-64-random-characters ", "published"),
    ("CHANGE-ME-TO-64-RANDOM-CHARACTERS", "published"),
    ("change-me-to-64-random-characters-prod", "published"),
    ("demo-only-not-secret-demo-only-not-secret", "published"),
])
def test_weak_and_published_keys_are_named_as_such(key: str, reason: str) -> None:
    assert reason in key_weakness(key)


def test_a_generated_key_passes() -> None:
    import secrets

    assert key_weakness(secrets.token_urlsafe(32)) == "" and key_weakness(secrets.token_hex(32)) == ""
    assert key_weakness(SECRET) == ""
