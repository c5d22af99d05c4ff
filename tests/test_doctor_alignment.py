"""DMARC alignment decided on organizational domains from the Public Suffix List (shipped offline)."""

from __future__ import annotations

import pytest

from newsletter.doctor.dmarc import aligned

RELAXED = [
    ("news.example.co.uk", "example.co.uk", True),
    ("example.co.uk", "news.example.co.uk", True),
    ("news.example.co.uk", "mail.example.co.uk", True),  # siblings share example.co.uk
    ("a.b.example.com", "example.com", True),
    ("a.example.com", "b.example.com", True),
    ("example.co.uk", "other.co.uk", False),  # co.uk is a public suffix: two organizations
    ("co.uk", "example.co.uk", False),
    ("alice.github.io", "bob.github.io", False),  # github.io is a suffix in the PSL's private section
    ("bounce.example.com.au", "example.com.au", True),
    ("example.com", "example.org", False),
    ("Example.COM", "example.com", True),
]


@pytest.mark.parametrize(("domain", "from_domain", "expected"), RELAXED)
def test_relaxed_alignment_follows_the_public_suffix_list(domain: str, from_domain: str, expected: bool) -> None:
    assert aligned(domain, from_domain, "r") is expected


@pytest.mark.parametrize(("domain", "from_domain", "expected"), [
    ("example.co.uk", "example.co.uk", True),
    ("news.example.co.uk", "example.co.uk", False),
    ("a.b.example.com", "example.com", False),
])
def test_strict_alignment_needs_the_same_name(domain: str, from_domain: str, expected: bool) -> None:
    assert aligned(domain, from_domain, "s") is expected
