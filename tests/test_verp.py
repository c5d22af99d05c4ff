"""VERP and mailto tokens: short, lower-case-proof, sealed, and useless for any other purpose."""

from __future__ import annotations

from datetime import date

import pytest

from newsletter.core import verp

KEY = "k9!Vq2#mZr7@xL4$wT8%pN3^bH6&cJ1*"
TAG = verp.Tag(4_000_000_001, date(2026, 11, 26))


def test_a_token_reads_back_after_an_mta_changes_its_case() -> None:
    token = verp.make_token(KEY, verp.BOUNCE, TAG)
    assert token is not None and len(token) == 36 and token == token.lower()
    assert verp.read_token(KEY, verp.BOUNCE, token.upper()) == TAG
    address = verp.tagged("bounces@bounce.example.org", token)
    assert len(address.partition("@")[0]) <= 64
    assert verp.token_in(address.upper(), "bounces@bounce.example.org") == token


@pytest.mark.parametrize("change", ["other purpose", "other key", "one character", "truncated", "not base32"])
def test_a_forged_or_altered_token_names_nobody(change: str) -> None:
    token = verp.make_token(KEY, verp.BOUNCE, TAG)
    assert token is not None
    purpose, key = verp.BOUNCE, KEY
    if change == "other purpose":
        purpose = verp.UNSUBSCRIBE
    elif change == "other key":
        key = KEY[::-1]
    elif change == "one character":
        token = token[:10] + ("a" if token[10] != "a" else "b") + token[11:]
    elif change == "truncated":
        token = token[:-1]
    else:
        token = token[:-1] + "1"
    assert verp.read_token(key, purpose, token) is None


def test_tokens_of_other_subscribers_and_issues_differ() -> None:
    tokens = {verp.make_token(KEY, verp.BOUNCE, verp.Tag(s, d)) for s in (1, 2) for d in (date(2026, 1, 1), date(2026, 1, 2))}
    assert len(tokens) == 4


@pytest.mark.parametrize(("address", "found"), [
    ("bounces+abc@bounce.example.org", "abc"),
    ("<Bounces+ABC@Bounce.Example.org.>", "abc"),
    ("bounces@bounce.example.org", None),
    ("other+abc@bounce.example.org", None),
    ("bounces+abc@example.org", None),
])
def test_token_in_takes_only_our_tagged_address(address: str, found: str | None) -> None:
    assert verp.token_in(address, "bounces@bounce.example.org") == found


def test_an_id_too_large_keeps_the_plain_address() -> None:
    assert verp.return_path("bounces@bounce.example.org", KEY, verp.Tag(2**32, date(2026, 1, 1))) == \
        "bounces@bounce.example.org"
