"""Values that outlive a release: links already in readers' inboxes and sessions already open.

Moving or renaming a module must not change them; each literal below was computed by the release
that first sent such links, so a change here voids every unsubscribe or proof link already sent."""

from __future__ import annotations

from datetime import date

from newsletter.content.publication import proof_key
from newsletter.core.tokens import UNSUBSCRIBE, make_token, read_token

KEY = "a-stable-test-key-0123456789"


def test_an_unsubscribe_link_sent_by_an_earlier_release_still_opens() -> None:
    sent = "nqwPNcRQoWLpBwOX8UEYpa5tBxdpuXk9BLzPVLlTPwsFKfMnWRDEtoiaBMArANVj6"
    assert make_token(KEY, UNSUBSCRIBE, "camille@example.org") == sent
    assert read_token(KEY, UNSUBSCRIBE, sent) == "camille@example.org"


def test_a_proofreaders_link_keeps_its_key() -> None:
    assert proof_key(KEY, date(2026, 11, 24)) == "407eea0ddf3cbc6ab4bf6f7b251a1d0c"
