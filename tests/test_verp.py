"""VERP and mailto tokens: short, lower-case-proof, sealed, and useless for any other purpose."""

from __future__ import annotations

from datetime import date

import pytest

from newsletter.core import verp
from newsletter.core.issue_id import IssueId

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


#: Tokens made by the code before editions had their own (mail already sent keeps bouncing for days).
SENT_BEFORE = {"hj6gi7aq76x3xyrur6wqusgmivggili3zmka": TAG,
               "avfecsr3bpgxv7r5qjrnapcqtrrbk4fmsevq": verp.Tag(7, date(2026, 12, 7))}


@pytest.mark.parametrize("token", sorted(SENT_BEFORE))
def test_a_token_of_mail_sent_before_still_reads_and_the_dailys_token_is_unchanged(token: str) -> None:
    assert verp.read_token(KEY, verp.BOUNCE, token, lambda day: ["speciale"]) == SENT_BEFORE[token]
    assert verp.make_token(KEY, verp.BOUNCE, SENT_BEFORE[token]) == token


def test_an_editions_token_names_the_edition_among_those_of_its_day() -> None:
    edition = IssueId(date(2026, 12, 7), slug="elections-2027-second-tour-resultats-par")
    tag = verp.Tag(7, edition)
    token = verp.make_token(KEY, verp.BOUNCE, tag)
    assert token is not None and len(token) == 40 and token == token.lower()
    assert len(verp.tagged("bounces@bounce.example.org", token).partition("@")[0]) <= 64
    asked: list[date] = []

    def editions(day: date) -> list[str]:
        asked.append(day)
        return ["speciale", edition.slug]

    found = verp.read_token(KEY, verp.BOUNCE, token.upper(), editions)
    assert found == tag and found is not None and isinstance(found.issue, IssueId)
    assert found.issue.slug == edition.slug and asked == [date(2026, 12, 7)]
    assert token != verp.make_token(KEY, verp.BOUNCE, verp.Tag(7, date(2026, 12, 7)))  # not the day's issue
    assert token != verp.make_token(KEY, verp.BOUNCE, verp.Tag(7, IssueId(date(2026, 12, 7), slug="speciale")))


def test_an_editions_token_whose_edition_is_unknown_names_the_subscriber_and_no_issue() -> None:
    token = verp.make_token(KEY, verp.BOUNCE, verp.Tag(7, IssueId(date(2026, 12, 7), slug="speciale")))
    assert token is not None
    assert verp.read_token(KEY, verp.BOUNCE, token) == verp.Tag(7, None)
    assert verp.read_token(KEY, verp.BOUNCE, token, lambda day: ["autre"]) == verp.Tag(7, None)
    assert verp.read_token(KEY, verp.UNSUBSCRIBE, token, lambda day: ["speciale"]) is None
