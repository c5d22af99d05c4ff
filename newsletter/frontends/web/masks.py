"""Addresses as pages and logs show them: recognisable by their owner, not readable by others."""

from __future__ import annotations


def mask(address: str) -> str:
    """``c*****e@example.org``: enough for a person to recognise their address, not to read it."""
    local, _sep, domain = address.partition("@")
    shown = local[0] + "*" * max(1, len(local) - 2) + local[-1] if len(local) > 2 else local[:1] + "*"
    return f"{shown}@{domain}"
