"""Addresses: one canonical form in the store, A-label domains on the wire, SMTPUTF8 only for non-ASCII local parts."""

from __future__ import annotations

import pytest

from newsletter.core.addresses import canonical, needs_smtputf8, wire
from newsletter.errors import AddressError


@pytest.mark.parametrize("written", ["bob@xn--bcher-kva.example", "bob@bücher.example", "BOB@BÜCHER.example",
                                     " Bob@Bu\u0308cher.example "])
def test_every_spelling_of_one_mailbox_has_one_canonical_form(written: str) -> None:
    assert canonical(written) == "bob@bücher.example"
    assert canonical(canonical(written)) == canonical(written)  # a stored address reads back as itself


@pytest.mark.parametrize(("stored", "on_the_wire", "smtputf8"), [
    ("jose@exämple.org", "jose@xn--exmple-cua.org", False),
    ("bob@bücher.example", "bob@xn--bcher-kva.example", False),
    ("paul.lefèvre@example.fr", "paul.lefèvre@example.fr", True),
    ("ascii@example.org", "ascii@example.org", False),
])
def test_the_wire_form_is_ascii_but_for_a_non_ascii_local_part(stored: str, on_the_wire: str, smtputf8: bool) -> None:
    assert wire(canonical(stored)) == on_the_wire
    assert needs_smtputf8(on_the_wire) is smtputf8


def test_an_invalid_address_is_named_in_the_error() -> None:
    with pytest.raises(AddressError, match="'pas-une-adresse' is not a valid address"):
        canonical("pas-une-adresse")


def test_a_domain_without_an_idna_form_is_an_address_error_not_a_crash() -> None:
    with pytest.raises(AddressError, match="has no IDNA"):
        wire("eve@exämple..org")
