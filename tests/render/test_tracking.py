"""Counted links in the masters of a send, and the nonce dropped into the encoded lines of each message."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.config import Settings, load_settings
from newsletter.content.load import load_issue
from newsletter.core.click_tokens import NONCE_CHARS, link_half, new_nonce, read_click_token, reader_nonce
from newsletter.core.merge import Context, MergeSlots
from newsletter.render.mime import CRLF, MessageFactory, Recipient, _FixedLine, _qp_line
from newsletter.render.pipeline import render_issue
from newsletter.render.tracking import track
from tests.conftest import DAY, SECRET
from tests.helpers.config import set_options

WHEN = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
BASE = "https://news.example.org"


def tracked(settings: Settings):  # type: ignore[no-untyped-def]
    issue = load_issue(settings.issues_dir, DAY, 5).issue
    return track(render_issue(issue, settings), BASE, SECRET)


def test_the_nonce_lands_in_the_encoded_line_as_a_per_recipient_encoding_would_write_it() -> None:
    """Every width of line and every place of the nonce, soft line breaks inside it included."""
    slots = MergeSlots()
    token = slots.token("click_nonce", Context.TEXT)
    nonce = new_nonce(SECRET, "2026-11-24")
    assert len(nonce) == NONCE_CHARS
    for before in range(0, 170, 7):
        for after in (0, 1, 30, 90):
            line = "é" * (before % 5) + "a" * before + f"{BASE}/c/x.{token}" + " suite" * (after // 6) + "." * (after % 2)
            fixed = _FixedLine.make(line, slots)
            assert fixed is not None
            assert fixed.render(nonce.encode()) == (_qp_line(line.replace(token, nonce)) + CRLF).encode(), line
    twice = f"{BASE}/c/a.{token} et {BASE}/c/b.{token} " + "z" * 60
    fixed = _FixedLine.make(twice, slots)
    assert fixed is not None and fixed.render(nonce.encode()) == (_qp_line(twice.replace(token, nonce)) + CRLF).encode()


def test_a_line_with_another_field_is_encoded_per_recipient() -> None:
    slots = MergeSlots()
    line = f"Bonjour {slots.token('first_name', Context.TEXT)} {BASE}/c/x.{slots.token('click_nonce', Context.TEXT)}"
    assert _FixedLine.make(line, slots) is None


def test_each_message_has_its_own_nonce_and_its_links_are_authentic(settings: Settings) -> None:
    rendered, links = tracked(settings)
    factory = MessageFactory(rendered, settings, secret_key=SECRET, date=WHEN)
    found = []
    for n in range(2):
        message = email.message_from_bytes(factory.build(Recipient(f"r{n}@example.org", "Léa", "", n + 1)).data,
                                           policy=email.policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        tokens = re.findall(rf"{re.escape(BASE)}/c/([A-Za-z0-9._-]+)", text)
        assert tokens and set(tokens) <= set(re.findall(rf"{re.escape(BASE)}/c/([A-Za-z0-9._-]+)", html))
        read = [read_click_token(SECRET, t) for t in tokens]
        assert all(read) and len({r.nonce for r in read if r}) == 1
        found.append(read[0])
        # The mail APIs personalize from the layout: the same links.
        values = dict(factory.personal(Recipient(f"r{n}@example.org", "Léa", "", n + 1)).values)
        assert "/c/" in factory.layout.personalize(values)[1]
    assert found[0] and found[1] and found[0].nonce != found[1].nonce
    assert {(link.position, link.link) for link in links} >= {(1, "0"), (3, "0"), (4, "0")}


def test_a_consenting_readers_nonce_is_derived_only_with_per_subscriber(project: Path) -> None:
    set_options(project, "analytics", per_subscriber=True)
    settings = load_settings(project)
    rendered, _ = tracked(settings)
    factory = MessageFactory(rendered, settings, secret_key=SECRET, date=WHEN)
    consenting = factory.personal(Recipient("a@example.org", subscriber_id=7, click_consent=True)).values
    other = factory.personal(Recipient("b@example.org", subscriber_id=8)).values
    assert consenting["click_nonce"] == reader_nonce(SECRET, DAY.isoformat(), 7)
    assert other["click_nonce"] != reader_nonce(SECRET, DAY.isoformat(), 8)


def test_an_untracked_render_gets_no_nonce(settings: Settings) -> None:
    issue = load_issue(settings.issues_dir, DAY, 5).issue
    factory = MessageFactory(render_issue(issue, settings), settings, secret_key=SECRET, date=WHEN)
    assert not factory.tracked and "click_nonce" not in factory.personal(Recipient("a@example.org")).values


@pytest.mark.parametrize("token", ["", "x", "2026-11-24.1.0", "2026-11-24.1.0.AAAAAAAA.AAAAAAAAAAAAAAAAAAAA",
                                   "../../etc/passwd"])
def test_a_made_up_token_reads_as_nothing(token: str) -> None:
    assert read_click_token(SECRET, token) is None
    assert read_click_token(SECRET, new_nonce(SECRET, "2026-11-24") + link_half(SECRET, "2026-11-24", 1, "0")) \
        is not None
