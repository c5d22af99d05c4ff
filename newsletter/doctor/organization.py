"""Organizational domains (RFC 7489 3.2) from the Public Suffix List that publicsuffixlist ships.

The list is read from the installed package, never fetched: ``news.example.co.uk`` and
``mail.example.co.uk`` share ``example.co.uk``, while ``alice.github.io`` and ``bob.github.io``
(a suffix of the list's private section) are two organizations.
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the bundled list, parsed once per process (it is read-only)


def organizational_domain(domain: str) -> str:
    """The registered domain ``domain`` belongs to (itself when it is one, or a public suffix)."""
    name = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(name) or name
